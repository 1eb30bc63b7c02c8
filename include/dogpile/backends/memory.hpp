#pragma once
// MemoryBackend: an in-process backend. Values are kept as CachedValue<Value>
// objects (never serialized) and copied out on a hit, so a hit costs one hash,
// one shared lock on one shard, one lookup and one copy of the value (for a
// std::shared_ptr<const V> value, one reference-count increment: docs/getting-started.md,
// "Large values").
//
// Unlike dogpile.cache's memory backend, it can be bounded: by a capacity in
// entries or a total weight (W-TinyLFU by default, CLOCK or exact LRU on
// request) and by a store-side ttl, so a long-running process does not grow
// without limit.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../cached_value.hpp"
#include "../clock.hpp"
#include "../errors.hpp"
#include "details/eviction.hpp"
#include "details/sharded_table.hpp"

namespace dogpile {

/// How a MemoryBackend is bounded, sharded and expires entries; the defaults make an unbounded
/// backend without ttl.
struct MemoryBackendOptions {
    /// Total number of entries, split evenly across the shards; std::nullopt =
    /// unbounded. Each shard evicts on its own, so with unevenly spread keys
    /// eviction can start before the total is reached. A small capacity (or
    /// max_weight) uses fewer shards, so each holds at least 128 (or all of it):
    /// small shards fill unevenly and lose hits.
    /// Eviction is per shard: `lru` is exact within a shard (shards = 1 for a
    /// global order); `tiny_lfu` shares its frequency history and window size
    /// across the shards.
    std::optional<std::size_t> capacity{};
    /// Which entry a full shard drops: W-TinyLFU (the default) keeps the frequently read ones,
    /// `lru` the recently read ones.
    EvictionPolicy eviction = EvictionPolicy::tiny_lfu;
    /// Entries whose metadata.created_at is more than `ttl` in the past are
    /// treated as absent and removed. Entries with ExpiryOwner::store carry no
    /// timestamp; their age counts from when they were stored here.
    std::optional<Duration> ttl{};
    /// A power of two. More shards = less lock contention between threads.
    std::size_t shards = 16;
    /// Time source for ttl checks (tests inject a manual clock); when set,
    /// clock_policy is ignored. Called from many threads at once. Never called
    /// without a ttl.
    std::function<TimePoint()> clock{};
    // Last, so positional initialisation of the fields above still works.
    /// Instead of `capacity` (setting both is an error, as in Caffeine): a
    /// bound on the total weight of the entries, each weighing what the
    /// backend's weigher says (a constructor argument, for example its bytes),
    /// split evenly across the shards. An entry heavier than a shard's share
    /// is not stored (the key's previous entry is removed) and is counted in
    /// stats().rejected_too_heavy. Requires a weigher, and a weigher requires it.
    std::optional<std::size_t> max_weight{};
    /// The clock ttl checks read (clock.hpp), only with a ttl. With `coarse`,
    /// an entry may be served up to one tick (coarse_clock_granularity())
    /// longer than the ttl.
    ClockPolicy clock_policy = default_clock_policy;
};

/// The counters MemoryBackend::stats() returns. evictions: live entries
/// dropped to respect the capacity; expirations: entries removed because they
/// outlived the ttl; rejected_too_heavy: writes heavier than a shard's share
/// of max_weight.
using MemoryBackendStats = details::ShardedTableStats;

/// An in-process backend: a sharded hash table, optionally bounded (capacity or
/// max_weight) and with a ttl. Thread-safe. A hit takes one shard's shared lock
/// (exclusive only for a bounded `lru` backend); writes take that shard's
/// exclusive lock, and the *_multi calls lock each shard they touch once.
/// Value must be copyable.
template <class Value, class Key = std::string, class Hash = std::hash<Key>>
class MemoryBackend final : public Backend<Value, Key> {
public:
    using entry_type = CachedValue<Value>;  ///< a value with its metadata
    /// An entry's cost against options.max_weight. Called outside any lock,
    /// from many threads at once; must not throw.
    using Weigher = std::function<std::size_t(const Key&, const entry_type&)>;

    /// Bounded by count (options.capacity) or not at all. Throws ConfigurationError for invalid
    /// options, max_weight among them (it needs a weigher).
    explicit MemoryBackend(MemoryBackendOptions options = {}, Hash hash = Hash{})
        : MemoryBackend(std::move(options), Weigher{}, std::move(hash)) {}

    /// Bounded by weight: options.max_weight set, `weigher` not empty.
    MemoryBackend(MemoryBackendOptions options, Weigher weigher, Hash hash = Hash{})
        : options_(validated(std::move(options), weigher)),
          weigher_(std::move(weigher)),
          table_(table_options(options_), std::move(hash)) {}

    MemoryBackend(const MemoryBackend&) = delete;
    MemoryBackend& operator=(const MemoryBackend&) = delete;

    /// The entry, or std::nullopt when it is absent or older than the ttl (then removed).
    std::optional<entry_type> get(const Key& key) override {
        return table_.get(key, [](const Graveyard&) {});
    }

    /// Replaces any previous entry. An entry already older than the ttl is not
    /// stored (but still removes the previous one).
    void set(const Key& key, const entry_type& entry) override {
        Graveyard dead;
        table_.put(table_.prepare(key, entry, weigh(key, entry)), dead);
    }

    /// The region's set(key, Value&&): the entry is moved into the table.
    void set(const Key& key, entry_type&& entry) override {
        Graveyard dead;
        const std::size_t weight = weigh(key, entry);
        table_.put(table_.prepare(key, std::move(entry), weight), dead);
    }

    /// Removes the entry, if any.
    void erase(const Key& key) override {
        Graveyard dead;
        table_.erase(key, dead);
    }

    /// Locks each shard once, whatever the number of keys.
    std::vector<std::optional<entry_type>> get_multi(const std::vector<Key>& keys) override {
        return table_.get_multi(keys);
    }

    /// Locks each shard once. When a key appears twice, the later entry wins.
    void set_multi(const std::vector<std::pair<Key, entry_type>>& entries) override {
        table_.put_multi(entries, [this](const Key& key, const entry_type& entry) { return weigh(key, entry); });
    }

    /// Locks each shard once.
    void erase_multi(const std::vector<Key>& keys) override { table_.erase_multi(keys); }

    /// Removes every expired entry now; returns how many. 0 without a ttl.
    std::size_t purge_expired() { return table_.purge_expired(); }

    /// Entries held, including expired ones not yet removed. Never above
    /// capacity(). Summed shard by shard, so not a snapshot under concurrent writes.
    std::size_t size() const { return table_.size(); }

    /// Whether `key` is held (even past the ttl), without counting as a read:
    /// the eviction policy does not see it.
    bool contains(const Key& key) const { return table_.contains(key); }

    /// The total weight of the entries held: never above max_weight(). The
    /// entry count when the backend has no weigher.
    std::size_t weighted_size() const { return table_.weight(); }

    /// Drops every entry; not counted as evictions.
    void clear() { table_.clear(); }

    /// Evictions, expirations and rejected writes so far, summed over the shards.
    MemoryBackendStats stats() const { return table_.stats(); }

    /// Options.capacity.
    std::optional<std::size_t> capacity() const noexcept { return options_.capacity; }
    /// options.max_weight.
    std::optional<std::size_t> max_weight() const noexcept { return options_.max_weight; }

    /// The W-TinyLFU window bound of the shard holding `key` (it adapts);
    /// std::nullopt under another policy or when unbounded.
    std::optional<std::size_t> window_max_of(const Key& key) const { return table_.window_max_of(key); }

    /// The shards in use: options.shards, or fewer for a capacity under 128 per shard.
    std::size_t shard_count() const noexcept { return table_.shard_count(); }

    /// The options, as validated at construction.
    const MemoryBackendOptions& options() const noexcept { return options_; }

private:
    using Table = details::ShardedTable<Value, Key, Hash>;
    using Graveyard = typename Table::Graveyard;

    std::size_t weigh(const Key& key, const entry_type& entry) const { return weigher_ ? weigher_(key, entry) : 1; }

    static MemoryBackendOptions validated(MemoryBackendOptions options, const Weigher& weigher) {
        if (options.capacity && *options.capacity == 0) {
            throw ConfigurationError(
                "MemoryBackendOptions::capacity must be at least 1 (use std::nullopt for unbounded)");
        }
        if (options.max_weight && options.capacity) {
            throw ConfigurationError(
                "MemoryBackendOptions: set capacity (entries) or max_weight (with a weigher), not both");
        }
        if (options.max_weight && *options.max_weight == 0) {
            throw ConfigurationError("MemoryBackendOptions::max_weight must be at least 1");
        }
        if (options.max_weight && !weigher) {
            throw ConfigurationError("MemoryBackendOptions::max_weight needs a weigher (the constructor's argument)");
        }
        if (weigher && !options.max_weight) {
            throw ConfigurationError("a MemoryBackend weigher needs MemoryBackendOptions::max_weight to weigh against");
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
        t.max_weight = o.max_weight;
        t.eviction = o.eviction;
        t.ttl = o.ttl;
        t.age_from = details::AgeFrom::creation;
        t.shards = o.shards;
        t.clock = o.clock;
        t.clock_policy = o.clock_policy;
        return t;
    }

    MemoryBackendOptions options_;
    Weigher weigher_;
    Table table_;
};

}  // namespace dogpile
