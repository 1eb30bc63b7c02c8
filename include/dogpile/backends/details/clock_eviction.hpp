#pragma once
// CLOCK (second chance), one of the eviction policies of eviction.hpp.
// A hit only sets the node's atomic reference bit, so readers record hits
// under the shared lock and never serialize. Approximates LRU.

#include <atomic>

#include "hit_recording.hpp"
#include "node_list.hpp"

namespace dogpile::details {

template <class Node>
class ClockEviction {
public:
    static constexpr HitRecording hit_recording = HitRecording::under_shared_lock;

    // Just behind the hand: a newcomer gets a full revolution before it is
    // considered for eviction.
    void admit(Node* node) noexcept { ring_.insert_before(hand_, node); }

    void forget(Node* node) noexcept {
        if (hand_ == node) hand_ = node->next;
        ring_.unlink(node);
    }

    // Safe under the shared lock. Only writes when the bit is clear, so hot
    // entries do not bounce their cache line between readers.
    void record_hit(Node* node) noexcept {
        if (!node->referenced.load(std::memory_order_relaxed)) node->referenced.store(true, std::memory_order_relaxed);
    }

    // Precondition: not empty.
    Node* victim() noexcept {
        // Ends within one revolution: every referenced node passed is cleared.
        Node* n = hand_ != nullptr ? hand_ : ring_.front();
        while (n->referenced.load(std::memory_order_relaxed)) {
            n->referenced.store(false, std::memory_order_relaxed);
            n = n->next != nullptr ? n->next : ring_.front();
        }
        hand_ = n;
        return n;
    }

    template <class Fn>
    void for_each(Fn fn) const {
        ring_.for_each(fn);
    }

    void reset() noexcept {
        ring_.reset();
        hand_ = nullptr;
    }

private:
    NodeList<Node> ring_;
    Node* hand_ = nullptr;  // next node to examine; nullptr = the front
};

}  // namespace dogpile::details
