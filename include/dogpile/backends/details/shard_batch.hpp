#pragma once
// The *_multi calls of the sharded table (sharded_table.hpp): positions of a
// batch grouped by shard, so each shard is locked once per call.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace dogpile::details {

// The high half of a mixed hash picks the shard; the low bits are left to the
// shard's buckets.
inline std::size_t shard_index(std::uint64_t hash, std::uint64_t shard_mask) noexcept {
    return static_cast<std::size_t>((hash >> 32) & shard_mask);
}

struct ShardSlot {
    std::size_t shard;
    std::size_t index;  // position in the caller's batch
    std::uint64_t hash;
};

// Hashes each position once and orders them by shard, then by position, so a
// later duplicate in a batch of writes is applied last.
template <class HashAt>
std::vector<ShardSlot> group_by_shard(std::size_t count, HashAt hash_at, std::uint64_t shard_mask) {
    std::vector<ShardSlot> slots;
    slots.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint64_t h = hash_at(i);
        slots.push_back(ShardSlot{shard_index(h, shard_mask), i, h});
    }
    std::sort(slots.begin(), slots.end(), [](const ShardSlot& a, const ShardSlot& b) {
        return a.shard != b.shard ? a.shard < b.shard : a.index < b.index;
    });
    return slots;
}

// Calls fn(shards[s], first, last) once for each run of slots of shard s.
template <class Shard, class Fn>
void for_each_shard_run(const std::vector<ShardSlot>& slots, Shard* shards, Fn fn) {
    const ShardSlot* first = slots.data();
    const ShardSlot* end = first + slots.size();
    while (first != end) {
        const ShardSlot* last = first;
        while (last != end && last->shard == first->shard) ++last;
        fn(shards[first->shard], first, last);
        first = last;
    }
}

}  // namespace dogpile::details
