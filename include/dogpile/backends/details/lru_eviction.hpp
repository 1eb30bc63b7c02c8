#pragma once
// Exact least-recently-used, one of the eviction policies of eviction.hpp.
// Every hit moves the node to the front, which needs the shard's exclusive lock.

#include "hit_recording.hpp"
#include "node_list.hpp"

namespace dogpile::details {

template <class Node>
class LruEviction {
public:
    static constexpr HitRecording hit_recording = HitRecording::under_exclusive_lock;

    void admit(Node* node) noexcept { recency_.push_front(node); }
    void forget(Node* node) noexcept { recency_.unlink(node); }

    void record_hit(Node* node) noexcept {
        if (recency_.front() == node) return;
        recency_.unlink(node);
        recency_.push_front(node);
    }

    // Precondition: not empty.
    Node* victim() noexcept { return recency_.back(); }

    template <class Fn>
    void for_each(Fn fn) const {
        recency_.for_each(fn);
    }

    void reset() noexcept { recency_.reset(); }

private:
    NodeList<Node> recency_;  // most recently used first
};

}  // namespace dogpile::details
