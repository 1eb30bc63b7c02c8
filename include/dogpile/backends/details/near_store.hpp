#pragma once
// NearStore: the in-process tier of NearCacheBackend (backends/near_cache.hpp).
// It is the sharded table MemoryBackend uses (sharded_table.hpp: the same hit
// path, W-TinyLFU, CLOCK or LRU eviction, an optional age limit) plus what client-side
// caching needs on top:
//
// * An index from Redis key to the cache keys stored under it, because Redis
//   invalidates Redis keys: one message about hash "calculated-a|7" must drop
//   every field of it that is held here. The index is exact: entries leaving
//   the table by eviction or age are removed from it too, so it stays bounded
//   by the capacity.
// * Tickets, which close the race every client-side cache has: a read that
//   was in flight while its key was invalidated must not store the value it
//   got (possibly older than the write that caused the invalidation) after
//   the invalidation has been applied. A ticket is taken before the remote
//   read; insert() refuses the result when the generation of the key's index
//   shard moved since (an invalidation of a key in that shard, or clear()).
//
// Locking: data shards (by cache key hash, in the table) carry the hit path,
// exactly as in MemoryBackend. Index shards (by Redis key hash) each own a
// mutex and an invalidation generation. The order is always index shard, then
// data shard, and no thread holds two index shards. Invariant: every key in a
// data shard is listed in the index under its Redis key (insert lists it,
// under the index lock, in the same critical section as it stores it), so
// dropping the listed keys drops everything. Value destructors run after the locks.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../../cached_value.hpp"
#include "../../clock.hpp"
#include "../../errors.hpp"
#include "eviction.hpp"
#include "sharded_table.hpp"
#include "table_node.hpp"

namespace dogpile::details {

struct NearStoreOptions {
    std::size_t capacity = 10000;  // entries, split evenly across the data shards
    EvictionPolicy eviction = EvictionPolicy::tiny_lfu;
    std::size_t shards = 16;                          // data shards, a power of two
    std::optional<Duration> ttl{};                    // counted from when an entry entered the store
    std::function<TimePoint()> clock{};               // wins over clock_policy
    ClockPolicy clock_policy = default_clock_policy;  // read only with a ttl
};

// evictions: entries dropped to respect the capacity; expirations: entries
// dropped because they were older than ttl.
using NearStoreStats = ShardedTableStats;

template <class Value, class Key, class Hash = std::hash<Key>>
class NearStore {
public:
    using entry_type = CachedValue<Value>;
    using RedisKeyOf = std::function<std::string(const Key&)>;

    // Taken before a remote read; see insert().
    struct Ticket {
        std::string redis_key;
        std::size_t index_shard = 0;
        std::uint64_t generation = 0;
    };

    NearStore(NearStoreOptions options, RedisKeyOf redis_key_of, Hash hash = Hash{})
        : options_(validated(std::move(options))),
          redis_key_of_(checked(std::move(redis_key_of))),
          table_(table_options(options_), std::move(hash)),
          index_(new IndexShard[index_shard_count]) {}

    NearStore(const NearStore&) = delete;
    NearStore& operator=(const NearStore&) = delete;

    // The hit path: MemoryBackend::get's, no index involved.
    std::optional<entry_type> get(const Key& key) {
        return table_.get(key, [this](const Graveyard& dead) { forget_departed(dead); });
    }

    std::string redis_key_of(const Key& key) const { return redis_key_of_(key); }

    Ticket ticket(std::string redis_key) const {
        Ticket t;
        t.index_shard = index_shard_of(redis_key);
        t.redis_key = std::move(redis_key);
        const IndexShard& is = index_[t.index_shard];
        std::lock_guard<std::mutex> lock(is.mutex);
        t.generation = is.generation;
        return t;
    }

    // Stores `entry` unless `ticket` is outdated: its Redis key (or, rarely,
    // another one sharing its index shard) was invalidated, or the store was
    // cleared, since the ticket was taken. Returns whether it was stored.
    // The check and the store happen under the index shard's lock, which
    // invalidate() and clear() hold to bump the generation and drop entries:
    // an outdated result is either refused or stored before, and dropped by,
    // the invalidation.
    bool insert(const Key& key, const entry_type& entry, const Ticket& ticket) {
        typename Table::Write write = table_.prepare(key, entry);  // copies outside the locks
        Graveyard dead;
        bool stored = false;
        try {
            IndexShard& is = index_[ticket.index_shard];
            std::lock_guard<std::mutex> index_lock(is.mutex);
            if (is.generation != ticket.generation) return false;
            std::vector<Key>& listed = is.groups[ticket.redis_key];
            listed.reserve(listed.size() + 1);  // the push_back below cannot fail after the table changed
            const bool added = table_.put(std::move(write), dead) == Table::Placed::added;
            if (added) listed.push_back(key);
            if (listed.empty()) is.groups.erase(ticket.redis_key);
            stored = true;
        } catch (...) {
            forget_departed(dead);
            throw;
        }
        forget_departed(dead);
        return stored;
    }

    // Drops every entry stored under `redis_key` and outdates the tickets of
    // reads of it still in flight. Returns how many entries were dropped.
    std::size_t invalidate(std::string_view redis_key) {
        IndexShard& is = index_[index_shard_of(redis_key)];
        Graveyard dead;
        std::lock_guard<std::mutex> index_lock(is.mutex);
        ++is.generation;
        const auto it = is.groups.find(std::string(redis_key));
        if (it == is.groups.end()) return 0;
        const std::vector<Key> listed = std::move(it->second);
        is.groups.erase(it);
        return drop_listed(listed, dead);  // `dead`, declared first, dies after the lock
    }

    // Drops everything and outdates every ticket taken so far: invalidate()
    // for every index shard, one shard at a time.
    void clear() {
        for (std::size_t i = 0; i < index_shard_count; ++i) {
            IndexShard& is = index_[i];
            Graveyard dead;
            std::lock_guard<std::mutex> index_lock(is.mutex);
            ++is.generation;
            for (const auto& group : is.groups) drop_listed(group.second, dead);
            is.groups.clear();
        }
    }

    // Entries held (summed shard by shard: not a snapshot under writes).
    std::size_t size() const { return table_.size(); }

    // Cache keys listed in the Redis key index; equal to size() when quiet.
    std::size_t index_size() const {
        std::size_t total = 0;
        for (std::size_t i = 0; i < index_shard_count; ++i) {
            std::lock_guard<std::mutex> lock(index_[i].mutex);
            for (const auto& group : index_[i].groups) total += group.second.size();
        }
        return total;
    }

    // Whether `key` is held (even past ttl), without touching its recency.
    bool contains(const Key& key) const { return table_.contains(key); }

    NearStoreStats stats() const { return table_.stats(); }

    std::size_t capacity() const noexcept { return options_.capacity; }
    std::size_t shard_count() const noexcept { return table_.shard_count(); }

private:
    using Table = ShardedTable<Value, Key, Hash>;
    using Graveyard = typename Table::Graveyard;

    // Fine enough that an invalidation rarely outdates a ticket of another
    // Redis key (which only costs that read its insert).
    static constexpr std::size_t index_shard_count = 256;

    struct alignas(64) IndexShard {
        mutable std::mutex mutex;
        std::uint64_t generation = 0;
        std::unordered_map<std::string, std::vector<Key>> groups;
    };

    static NearStoreOptions validated(NearStoreOptions options) {
        if (options.capacity == 0) throw ConfigurationError("near cache: capacity must be at least 1");
        validate_shard_count(options.shards, "near cache: shards");
        if (options.ttl && *options.ttl <= Duration::zero()) {
            throw ConfigurationError("near cache: ttl must be positive (std::nullopt for none)");
        }
        return options;
    }

    static RedisKeyOf checked(RedisKeyOf redis_key_of) {
        if (!redis_key_of) throw ConfigurationError("near cache: the Key -> Redis key mapping is empty");
        return redis_key_of;
    }

    static ShardedTableOptions table_options(const NearStoreOptions& o) {
        ShardedTableOptions t;
        t.capacity = o.capacity;
        t.eviction = o.eviction;
        t.ttl = o.ttl;
        t.age_from = AgeFrom::insertion;
        t.shards = o.shards;
        t.clock = o.clock;
        t.clock_policy = o.clock_policy;
        return t;
    }

    static std::size_t index_shard_of(std::string_view redis_key) noexcept {
        return static_cast<std::size_t>(mix_hash(std::hash<std::string_view>{}(redis_key)) % index_shard_count);
    }

    // Index shard lock held; the keys are no longer listed. Returns how many were held.
    std::size_t drop_listed(const std::vector<Key>& listed, Graveyard& dead) {
        std::size_t dropped = 0;
        for (const Key& key : listed) {
            if (table_.drop(key, dead)) ++dropped;
        }
        return dropped;
    }

    // Takes the keys of departed nodes out of the index, unless they are back
    // in the table (inserted again meanwhile), in which case exactly one
    // listing is kept. No lock held on entry.
    void forget_departed(const Graveyard& dead) noexcept {
        dead.for_each_departed([this](const auto& node) {
            try {
                const std::string redis_key = redis_key_of_(node.key);
                IndexShard& is = index_[index_shard_of(redis_key)];
                std::lock_guard<std::mutex> index_lock(is.mutex);
                const auto it = is.groups.find(redis_key);
                if (it == is.groups.end()) return;
                const bool present = table_.holds_key_of(node);
                std::vector<Key>& listed = it->second;
                const auto first = std::find(listed.begin(), listed.end(), node.key);
                if (first == listed.end()) return;
                const auto keep = present ? std::next(first) : first;
                listed.erase(std::remove(keep, listed.end(), node.key), listed.end());
                if (listed.empty()) is.groups.erase(it);
            } catch (...) {
                // Only the mapping or a string allocation can throw: the key
                // then stays listed, which costs memory, never correctness.
            }
        });
    }

    NearStoreOptions options_;
    RedisKeyOf redis_key_of_;
    Table table_;
    std::unique_ptr<IndexShard[]> index_;
};

}  // namespace dogpile::details
