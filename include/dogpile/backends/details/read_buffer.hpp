#pragma once
// A shard's lossy buffer of read hits (Caffeine's read buffer): readers under
// the shared lock only append a node pointer, and the policy replays the
// hits under the exclusive lock it takes for the next write
// (tiny_lfu_eviction.hpp). Reordering lists on every hit would make readers
// serialize, and replaying every hit on the read path cost a third of a
// hit's time: a full buffer drops further hits instead. What is lost are the
// hits beyond the buffer's size between two writes to a shard (a table has
// 256 slots in all, at least 16 per shard): a write-light workload keeps
// most, a read-only one keeps the first ones, where no eviction needs them
// (bench/hit_ratio.sh measures what the policy makes of it).
//
// The cursor is advanced with a plain load and store, not an atomic
// increment: two readers that race may write the same slot and one hit is
// lost, which the policy tolerates, while a hit costs no locked instruction,
// and once the buffer is full readers only read its cache line.
// The owner must drain before a buffered node leaves the shard, so the buffer
// never holds a pointer to a destroyed node.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace dogpile::details {

template <class Node>
class ReadBuffer {
public:
    ReadBuffer() = default;
    ReadBuffer(const ReadBuffer&) = delete;
    ReadBuffer& operator=(const ReadBuffer&) = delete;

    // Before any record(): how many hits to keep between two drains.
    void resize(std::size_t slots) {
        slots_.reset(new std::atomic<Node*>[slots]);
        for (std::size_t i = 0; i < slots; ++i) slots_[i].store(nullptr, std::memory_order_relaxed);
        size_ = slots;
        cursor_.store(0, std::memory_order_relaxed);
    }

    // Safe under the shared lock. Drops the hit when the buffer is full.
    void record(Node* node) noexcept {
        const std::uint32_t at = cursor_.load(std::memory_order_relaxed);
        if (at >= size_) return;
        cursor_.store(at + 1, std::memory_order_relaxed);
        slots_[at].store(node, std::memory_order_relaxed);
    }

    // Exclusive lock held: replays the buffered hits, oldest first, and
    // empties the buffer. Every slot below the cursor was written since the
    // last drain: a reader stores cursor k + 1 only after reading k, and fills
    // slot k before releasing its shared lock. Batches of 16 are announced
    // (announce(node)) before they are replayed (replay(node)), so the policy
    // can start the memory loads of a whole batch at once.
    template <class Announce, class Replay>
    void drain(Announce announce, Replay replay) noexcept {
        const std::size_t count = std::min<std::size_t>(cursor_.load(std::memory_order_relaxed), size_);
        cursor_.store(0, std::memory_order_relaxed);
        constexpr std::size_t batch = 16;
        for (std::size_t first = 0; first < count; first += batch) {
            const std::size_t last = std::min(count, first + batch);
            for (std::size_t i = first; i < last; ++i) announce(slots_[i].load(std::memory_order_relaxed));
            for (std::size_t i = first; i < last; ++i) replay(slots_[i].load(std::memory_order_relaxed));
        }
    }

    // Exclusive lock held: forgets every buffered hit.
    void clear() noexcept { cursor_.store(0, std::memory_order_relaxed); }

private:
    std::atomic<std::uint32_t> cursor_{0};
    std::size_t size_ = 0;
    std::unique_ptr<std::atomic<Node*>[]> slots_;
};

}  // namespace dogpile::details
