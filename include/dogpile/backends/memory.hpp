#pragma once
// MemoryBackend: an in-process backend. Values are kept as CachedValue<Value>
// objects (never serialized) and copied out on a hit, so a hit costs one hash,
// one shared lock on one shard, one lookup and one copy of the value.
//
// Unlike dogpile.cache's memory backend, it can be bounded: by a capacity
// (CLOCK or exact-LRU eviction per shard) and by a store-side ttl, so a
// long-running process does not grow without limit.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../cached_value.hpp"
#include "../errors.hpp"
#include "details/eviction.hpp"
#include "details/sharded_table.hpp"

namespace dogpile {

struct MemoryBackendOptions {
    // Total number of entries, split evenly across the shards; std::nullopt =
    // unbounded. Each shard evicts on its own, so with unevenly spread keys
    // eviction can start before the total is reached. When the capacity is
    // smaller than `shards`, fewer shards are used so each holds at least one.
    // Eviction is per shard: `lru` is exact within a shard (shards = 1 for a
    // global order).
    std::optional<std::size_t> capacity{};
    EvictionPolicy eviction = EvictionPolicy::clock;
    // Entries whose metadata.created_at is more than `ttl` in the past are
    // treated as absent and removed. Entries with ExpiryOwner::store carry no
    // timestamp; their age counts from when they were stored here.
    std::optional<Duration> ttl{};
    // A power of two. More shards = less lock contention between threads.
    std::size_t shards = 16;
    // Time source for ttl checks (tests inject a manual clock); empty means
    // WallClock::now. Called from many threads at once. Never called without a ttl.
    std::function<TimePoint()> clock{};
};

// evictions: live entries dropped to respect the capacity; expirations:
// entries removed because they outlived the ttl.
using MemoryBackendStats = details::ShardedTableStats;

// Thread-safe. A hit takes one shard's shared lock (exclusive only for a
// bounded `lru` backend); writes take that shard's exclusive lock, and the
// *_multi calls lock each shard they touch once. Value must be copyable.
template <class Value, class Key = std::string, class Hash = std::hash<Key>>
class MemoryBackend final : public Backend<Value, Key> {
public:
    using entry_type = CachedValue<Value>;

    explicit MemoryBackend(MemoryBackendOptions options = {}, Hash hash = Hash{})
        : options_(validated(std::move(options))), table_(table_options(options_), std::move(hash)) {}

    MemoryBackend(const MemoryBackend&) = delete;
    MemoryBackend& operator=(const MemoryBackend&) = delete;

    std::optional<entry_type> get(const Key& key) override {
        return table_.get(key, [](const Graveyard&) {});
    }

    // Replaces any previous entry. An entry already older than the ttl is not
    // stored (but still removes the previous one).
    void set(const Key& key, const entry_type& entry) override {
        Graveyard dead;
        table_.put(table_.prepare(key, entry), dead);
    }

    // The region's set(key, Value&&): the entry is moved into the table.
    void set(const Key& key, entry_type&& entry) override {
        Graveyard dead;
        table_.put(table_.prepare(key, std::move(entry)), dead);
    }

    void erase(const Key& key) override {
        Graveyard dead;
        table_.erase(key, dead);
    }

    // Locks each shard once, whatever the number of keys.
    std::vector<std::optional<entry_type>> get_multi(const std::vector<Key>& keys) override {
        return table_.get_multi(keys);
    }

    // Locks each shard once. When a key appears twice, the later entry wins.
    void set_multi(const std::vector<std::pair<Key, entry_type>>& entries) override { table_.put_multi(entries); }

    void erase_multi(const std::vector<Key>& keys) override { table_.erase_multi(keys); }

    // Removes every expired entry now; returns how many. 0 without a ttl.
    std::size_t purge_expired() { return table_.purge_expired(); }

    // Entries held, including expired ones not yet removed. Never above
    // capacity(). Summed shard by shard, so not a snapshot under concurrent writes.
    std::size_t size() const { return table_.size(); }

    // Drops every entry; not counted as evictions.
    void clear() { table_.clear(); }

    MemoryBackendStats stats() const { return table_.stats(); }

    std::optional<std::size_t> capacity() const noexcept { return options_.capacity; }

    // The shards in use: options.shards, or fewer when the capacity is smaller.
    std::size_t shard_count() const noexcept { return table_.shard_count(); }

    const MemoryBackendOptions& options() const noexcept { return options_; }

private:
    using Table = details::ShardedTable<Value, Key, Hash>;
    using Graveyard = typename Table::Graveyard;

    static MemoryBackendOptions validated(MemoryBackendOptions options) {
        if (options.capacity && *options.capacity == 0) {
            throw ConfigurationError(
                "MemoryBackendOptions::capacity must be at least 1 (use std::nullopt for unbounded)");
        }
        details::validate_shard_count(options.shards, "MemoryBackendOptions::shards");
        if (options.ttl && *options.ttl <= Duration::zero()) {
            throw ConfigurationError("MemoryBackendOptions::ttl must be positive (use std::nullopt for no ttl)");
        }
        return options;
    }

    static details::ShardedTableOptions table_options(const MemoryBackendOptions& o) {
        details::ShardedTableOptions t;
        t.capacity = o.capacity;
        t.eviction = o.eviction;
        t.ttl = o.ttl;
        t.age_from = details::AgeFrom::creation;
        t.shards = o.shards;
        t.clock = o.clock;
        return t;
    }

    MemoryBackendOptions options_;
    Table table_;
};

}  // namespace dogpile
