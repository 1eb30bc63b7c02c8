#pragma once
// The options and stats of the sharded table (sharded_table.hpp), and the
// shard-count rule its owners validate.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "../../cached_value.hpp"
#include "../../clock.hpp"
#include "../../errors.hpp"
#include "eviction.hpp"

namespace dogpile::details {

// Where an entry's age counts from.
enum class AgeFrom : std::uint8_t {
    insertion,  // when it entered the table
    // metadata.created_at; entries with ExpiryOwner::store carry no timestamp
    // and count from insertion.
    creation,
};

// Validated by the owner (validate_shard_count and its own checks).
struct ShardedTableOptions {
    std::optional<std::size_t> capacity{};  // at least 1; std::nullopt: unbounded
    // Instead of capacity: a bound on the total weight (entries weigh what
    // the owner passes to prepare()); at least 1.
    std::optional<std::size_t> max_weight{};
    EvictionPolicy eviction = EvictionPolicy::tiny_lfu;
    std::optional<Duration> ttl{};  // positive; std::nullopt: entries never age out
    AgeFrom age_from = AgeFrom::insertion;
    std::size_t shards = 16;                          // a power of two, at most max_table_shards
    std::function<TimePoint()> clock{};               // wins over clock_policy; never called without ttl
    ClockPolicy clock_policy = default_clock_policy;  // read only with a ttl
};

struct ShardedTableStats {
    std::uint64_t evictions = 0;           // live entries dropped to respect the capacity
    std::uint64_t expirations = 0;         // entries removed because they were older than the max age
    std::uint64_t rejected_too_heavy = 0;  // writes heavier than a shard's share of max_weight, not stored
};

inline constexpr std::size_t max_table_shards = std::size_t{1} << 16;

// `field` names the option in the message, e.g. "MemoryBackendOptions::shards".
inline void validate_shard_count(std::size_t shards, std::string_view field) {
    if (shards == 0 || (shards & (shards - 1)) != 0) {
        throw ConfigurationError(std::string(field) + " must be a power of two (1, 2, 4, ...), got " +
                                 std::to_string(shards));
    }
    if (shards > max_table_shards) {
        throw ConfigurationError(std::string(field) + " must be at most " + std::to_string(max_table_shards) +
                                 ", got " + std::to_string(shards));
    }
}

// A bounded table uses no more shards than give each at least this much of
// the bound. Small shards fill unevenly (one evicts while another has room),
// which costs hit ratio: with 16 shards of 16-62 entries even an LRU per shard
// was up to 1.9 points below one global LRU on the traces of
// bench/hit_ratio.sh, W-TinyLFU 2.5 points of the LRU->OPT gap on average.
inline constexpr std::size_t min_shard_share = 128;

// options.shards, or fewer for a small bound (capacity, or max weight), so
// each shard's share is at least min_shard_share (or the whole bound).
inline std::size_t shards_in_use(const ShardedTableOptions& options) noexcept {
    std::size_t count = options.shards;
    const std::optional<std::size_t> bound = options.max_weight ? options.max_weight : options.capacity;
    if (bound) {
        while (count > 1 && count * min_shard_share > *bound) count /= 2;
    }
    return count;
}

// Shard `i`'s share of the capacity. The remainder goes to the first shards,
// so the shares add up to the capacity exactly.
inline std::optional<std::size_t> capacity_of_shard(std::optional<std::size_t> capacity, std::size_t shard_count,
                                                    std::size_t i) noexcept {
    if (!capacity) return std::nullopt;
    return *capacity / shard_count + (i < *capacity % shard_count ? 1 : 0);
}

}  // namespace dogpile::details
