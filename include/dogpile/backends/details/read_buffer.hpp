#pragma once
// A shard's lossy buffer of read hits (Caffeine's read buffer): readers under
// the shared lock only append a node pointer, and the policy replays the
// hits under the exclusive lock (tiny_lfu_eviction.hpp). Reordering lists on
// every hit would make readers serialize; losing a few hits under contention
// only blurs the frequency estimate a little.
//
// The cursor is advanced with a plain load and store, not an atomic
// increment: two readers that race may write the same slot and one hit is
// lost, which the policy tolerates, while a hit costs no locked instruction.
// The owner must drain before a buffered node leaves the shard, so the buffer
// never holds a pointer to a destroyed node.

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace dogpile::details {

template <class Node>
class ReadBuffer {
public:
    static constexpr std::size_t slots = 16;

    ReadBuffer() {
        for (auto& slot : slots_) slot.store(nullptr, std::memory_order_relaxed);
    }
    ReadBuffer(const ReadBuffer&) = delete;
    ReadBuffer& operator=(const ReadBuffer&) = delete;

    // Safe under the shared lock. Returns true once per `slots` records: the
    // buffer has wrapped, and a drain now keeps hits from being overwritten.
    bool record(Node* node) noexcept {
        const std::uint32_t at = cursor_.load(std::memory_order_relaxed);
        cursor_.store(at + 1, std::memory_order_relaxed);
        slots_[at % slots].store(node, std::memory_order_relaxed);
        return at % slots == slots - 1;
    }

    // Exclusive lock held: calls announce(node) for every buffered hit, then
    // replay(node) for each, oldest slot first, and empties the buffer. The
    // first pass lets the policy start its memory loads for the whole batch.
    template <class Announce, class Replay>
    void drain(Announce announce, Replay replay) noexcept {
        Node* batch[slots];
        std::size_t count = 0;
        const std::uint32_t end = cursor_.load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < slots; ++i) {
            // Slots from the cursor on are the oldest (from the previous lap).
            auto& slot = slots_[(end + i) % slots];
            Node* node = slot.load(std::memory_order_relaxed);
            if (node == nullptr) continue;
            slot.store(nullptr, std::memory_order_relaxed);
            announce(node);
            batch[count++] = node;
        }
        for (std::size_t i = 0; i < count; ++i) replay(batch[i]);
    }

    // Exclusive lock held: forgets every buffered hit.
    void clear() noexcept {
        for (auto& slot : slots_) slot.store(nullptr, std::memory_order_relaxed);
    }

private:
    std::atomic<std::uint32_t> cursor_{0};
    std::atomic<Node*> slots_[slots];
};

}  // namespace dogpile::details
