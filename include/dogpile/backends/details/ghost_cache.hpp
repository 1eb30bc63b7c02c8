#pragma once
// A W-TinyLFU cache of key hashes only, with a fixed window share: one of the
// mini-simulations by which the window climber (window_climber.hpp) finds the
// window that suits the workload (Einziger, Eytan, Friedman and Manes,
// "Adaptive Software Cache Management", Middleware 2018). It mirrors
// tiny_lfu_eviction.hpp (window LRU, segmented LRU main space, admission by
// the table's frequency sketch) on one unsharded list, and it allocates
// nothing after construction: it runs inside the policy's noexcept replay.
//
// Memory: 24 bytes per entry of its capacity (a node of 16 and two 4-byte
// index slots).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "frequency_sketch.hpp"

namespace dogpile::details {

class GhostCache {
public:
    // `capacity`: entries, at least one; `window_fraction`: 0..1 of them for
    // the window (at least one entry; all of them makes it an LRU).
    GhostCache(std::size_t capacity, double window_fraction)
        : capacity_(static_cast<std::uint32_t>(std::max<std::size_t>(capacity, 1))) {
        const auto share = static_cast<std::uint32_t>(std::llround(window_fraction * capacity_));
        window_max_ = std::clamp<std::uint32_t>(share, 1, capacity_);
        protected_max_ = static_cast<std::uint32_t>(0.8 * (capacity_ - window_max_));
        nodes_.resize(capacity_);
        segment_.resize(capacity_);
        std::uint32_t slots = 16;
        while (slots < 2 * capacity_) slots *= 2;
        index_.assign(slots, empty);
    }

    // One access to `hash`, after the sketch counted it. True on a hit.
    bool access(std::uint64_t hash, const FrequencySketch& sketch) noexcept {
        const std::uint32_t slot = find(hash);
        if (index_[slot] != empty) {
            on_hit(index_[slot]);
            return true;
        }
        std::uint32_t at = used_;
        if (used_ == capacity_) {
            at = evict(sketch);
        } else {
            ++used_;
        }
        nodes_[at].hash = hash;
        index_[find(hash)] = at;
        push_front(window, at);
        shrink_window(at);
        return false;
    }

    std::uint32_t window_max() const noexcept { return window_max_; }
    std::size_t bytes() const noexcept {
        return nodes_.size() * (sizeof(Node) + sizeof(std::uint8_t)) + index_.size() * sizeof(std::uint32_t);
    }

private:
    static constexpr std::uint32_t none = 0xFFFFFFFFu;
    static constexpr std::uint32_t empty = 0xFFFFFFFFu;
    enum Segment : std::uint8_t { window, probation, protected_segment };

    struct Node {
        std::uint64_t hash = 0;
        std::uint32_t prev = none;
        std::uint32_t next = none;
    };
    struct List {
        std::uint32_t head = none;  // most recent
        std::uint32_t tail = none;  // oldest
        std::uint32_t size = 0;
    };

    // Not the bits that picked the table's shard: a ghost shard's keys share them.
    static std::uint32_t home_of(std::uint64_t hash) noexcept {
        return static_cast<std::uint32_t>((hash * 0x9E3779B97F4A7C15ULL) >> 40);
    }

    // Linear probing; the slot holding `hash`, or the empty slot where it goes.
    std::uint32_t find(std::uint64_t hash) const noexcept {
        const auto mask = static_cast<std::uint32_t>(index_.size() - 1);
        std::uint32_t slot = home_of(hash) & mask;
        while (index_[slot] != empty && nodes_[index_[slot]].hash != hash) slot = (slot + 1) & mask;
        return slot;
    }

    // Deletion with backward shift, so probing needs no tombstones.
    void erase_from_index(std::uint64_t hash) noexcept {
        const auto mask = static_cast<std::uint32_t>(index_.size() - 1);
        std::uint32_t hole = find(hash);
        std::uint32_t next = (hole + 1) & mask;
        while (index_[next] != empty) {
            const std::uint32_t home = home_of(nodes_[index_[next]].hash) & mask;
            // Move the entry back when the hole lies on its probe path.
            if (((next - home) & mask) >= ((next - hole) & mask)) {
                index_[hole] = index_[next];
                hole = next;
            }
            next = (next + 1) & mask;
        }
        index_[hole] = empty;
    }

    void push_front(Segment segment, std::uint32_t at) noexcept {
        List& list = lists_[segment];
        segment_[at] = segment;
        nodes_[at].prev = none;
        nodes_[at].next = list.head;
        if (list.head != none) nodes_[list.head].prev = at;
        list.head = at;
        if (list.tail == none) list.tail = at;
        ++list.size;
    }

    void unlink(std::uint32_t at) noexcept {
        List& list = lists_[segment_[at]];
        const Node& n = nodes_[at];
        (n.prev != none ? nodes_[n.prev].next : list.head) = n.next;
        (n.next != none ? nodes_[n.next].prev : list.tail) = n.prev;
        --list.size;
    }

    void on_hit(std::uint32_t at) noexcept {
        const auto segment = static_cast<Segment>(segment_[at]);
        unlink(at);
        if (segment == window) {
            push_front(window, at);
            return;
        }
        push_front(protected_segment, at);
        while (lists_[protected_segment].size > protected_max_) {
            const std::uint32_t oldest = lists_[protected_segment].tail;
            unlink(oldest);
            push_front(probation, oldest);
        }
    }

    void shrink_window(std::uint32_t keep) noexcept {
        while (lists_[window].size > window_max_ && lists_[window].tail != keep) {
            const std::uint32_t oldest = lists_[window].tail;
            unlink(oldest);
            push_front(probation, oldest);
        }
    }

    // As TinyLfuEviction::victim: the window's oldest contests the main
    // space's oldest. Returns the freed node.
    std::uint32_t evict(const FrequencySketch& sketch) noexcept {
        const std::uint32_t candidate = lists_[window].size >= window_max_ ? lists_[window].tail : none;
        std::uint32_t incumbent = lists_[probation].tail;
        if (incumbent == none) incumbent = lists_[protected_segment].tail;
        std::uint32_t loser = incumbent;
        if (candidate == none) {
            if (loser == none) loser = lists_[window].tail;
        } else if (incumbent == none ||
                   sketch.frequency(nodes_[candidate].hash) <= sketch.frequency(nodes_[incumbent].hash)) {
            loser = candidate;
        } else {
            unlink(candidate);
            push_front(probation, candidate);
        }
        unlink(loser);
        erase_from_index(nodes_[loser].hash);
        return loser;
    }

    std::uint32_t capacity_;
    std::uint32_t window_max_ = 1;
    std::uint32_t protected_max_ = 0;
    std::uint32_t used_ = 0;
    std::vector<Node> nodes_;
    std::vector<std::uint8_t> segment_;  // each node's Segment
    std::vector<std::uint32_t> index_;   // node of each slot, or empty
    List lists_[3];
};

}  // namespace dogpile::details
