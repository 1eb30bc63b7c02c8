#pragma once
// When each recently seen key was last accessed, including keys no longer in
// the shard: W-TinyLFU's admission tie-break (tiny_lfu_eviction.hpp) asks a
// key coming back how long it stayed away, its previous reuse distance, as
// LIRS's non-resident history does (Jiang and Zhang, SIGMETRICS 2002).
//
// One per shard, under the shard's exclusive lock. A direct-mapped table of
// 4-byte slots: a 16-bit tag of the key's hash and the 16 low bits of a coarse
// clock. A collision overwrites (the table is a hint: a lost or false entry
// costs one tie-break), so the size is bounded: at most slots_per_entry slots
// per entry the shard has held, rounded up to a power of two, and never more
// than max_slots. Distances are exact while the 16-bit clock spans sixteen
// table sizes, coarser (by a power of two) beyond 16,384 slots.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace dogpile::details {

class AccessHistory {
public:
    // A key with no entry (never seen, or overwritten): farther than any.
    static constexpr std::uint32_t unknown = 0xFFFFFFFFu;
    // Four slots per entry: a key evicted now is usually found again after
    // the shard has admitted about three times its size (2 slots closed 0.4
    // points less of the LRU->OPT gap on bench/hit_ratio.sh, 8 no more).
    static constexpr std::size_t slots_per_entry = 4;
    // 4 MB per shard: a weight-bounded shard's budget is not its entry count.
    static constexpr std::size_t max_slots = std::size_t{1} << 20;

    // Makes room for `entries` resident entries (grows only; a growth forgets
    // the history, which is a hint). An allocation failure keeps the table.
    void reserve(std::size_t entries) noexcept {
        if (slots_per_entry * entries <= slots_.size() || slots_.size() >= max_slots) return;
        std::size_t wanted = min_slots;
        while (wanted < slots_per_entry * entries && wanted < max_slots) wanted *= 2;
        if (wanted <= slots_.size()) return;
        try {
            std::vector<std::uint32_t> fresh(wanted, 0);
            slots_.swap(fresh);
        } catch (const std::bad_alloc&) {
            return;
        }
        mask_ = wanted - 1;
        shift_ = 0;
        while ((std::size_t{clock_span} << shift_) < 16 * wanted) ++shift_;
    }

    // How many accesses ago (by the caller's clock `now`) `hash` was last
    // recorded, or `unknown`.
    std::uint32_t distance(std::uint64_t hash, std::uint32_t now) const noexcept {
        if (slots_.empty()) return unknown;
        const std::uint64_t mixed = hash * 0x9E3779B97F4A7C15ULL;
        const std::uint32_t slot = slots_[index(mixed)];
        if (slot == 0 || (slot >> 16) != tag(mixed)) return unknown;
        const std::uint32_t coarse = ((now >> shift_) - slot) & (clock_span - 1);
        return coarse << shift_;
    }

    void record(std::uint64_t hash, std::uint32_t now) noexcept {
        if (slots_.empty()) return;
        const std::uint64_t mixed = hash * 0x9E3779B97F4A7C15ULL;
        slots_[index(mixed)] = (tag(mixed) << 16) | ((now >> shift_) & (clock_span - 1));
    }

    void clear() noexcept { std::fill(slots_.begin(), slots_.end(), 0); }

    std::size_t slot_count() const noexcept { return slots_.size(); }
    std::size_t bytes() const noexcept { return slots_.size() * sizeof(std::uint32_t); }

private:
    static constexpr std::size_t min_slots = 16;
    static constexpr std::uint32_t clock_span = 1u << 16;

    std::size_t index(std::uint64_t mixed) const noexcept { return static_cast<std::size_t>(mixed >> 40) & mask_; }
    // Bits the index does not use; never 0, which marks an empty slot.
    static std::uint32_t tag(std::uint64_t mixed) noexcept {
        return static_cast<std::uint32_t>((mixed >> 16) & 0xFFFF) | 1u;
    }

    std::vector<std::uint32_t> slots_;
    std::size_t mask_ = 0;
    unsigned shift_ = 0;  // the coarse clock is now >> shift_
};

}  // namespace dogpile::details
