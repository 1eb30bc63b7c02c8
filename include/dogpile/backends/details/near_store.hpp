#pragma once
// NearStore: the in-process tier of NearCacheBackend (backends/near_cache.hpp).
// It is MemoryBackend's sharded table (details::MemoryShard: the same hit
// path, CLOCK or LRU eviction, an optional age limit) plus what client-side
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
// Locking: data shards (by cache key hash) carry the hit path, exactly as in
// MemoryBackend. Index shards (by Redis key hash) each own a mutex and an
// invalidation generation. The order is always index shard, then data shard,
// and no thread holds two index shards. Invariant: every key in a data shard
// is listed in the index under its Redis key (insert lists it, under the
// index lock, in the same critical section as it stores it), so dropping the
// listed keys drops everything. Value destructors run after the locks.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../../cached_value.hpp"
#include "../../errors.hpp"
#include "../memory.hpp"

namespace dogpile::details {

struct NearStoreOptions {
    std::size_t capacity = 10000;  // entries, split evenly across the data shards
    EvictionPolicy eviction = EvictionPolicy::clock;
    std::size_t shards = 16;         // data shards, a power of two
    std::optional<Duration> max_age{};  // counted from when an entry entered the store
    std::function<TimePoint()> clock{};  // empty: WallClock::now
};

struct NearStoreStats {
    std::uint64_t evictions = 0;    // entries dropped to respect the capacity
    std::uint64_t expirations = 0;  // entries dropped because they were older than max_age
};

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
        : options_(std::move(options)), redis_key_of_(std::move(redis_key_of)), hash_(std::move(hash)) {
        if (options_.capacity == 0) throw ConfigurationError("near cache: capacity must be at least 1");
        if (options_.shards == 0 || (options_.shards & (options_.shards - 1)) != 0 || options_.shards > (1u << 16)) {
            throw ConfigurationError("near cache: shards must be a power of two up to 65536, got " +
                                     std::to_string(options_.shards));
        }
        if (options_.max_age && *options_.max_age <= Duration::zero()) {
            throw ConfigurationError("near cache: max_age must be positive (std::nullopt for none)");
        }
        if (!redis_key_of_) throw ConfigurationError("near cache: the Key -> Redis key mapping is empty");
        std::size_t count = options_.shards;
        while (count > options_.capacity) count /= 2;
        shard_count_ = count;
        shard_mask_ = count - 1;
        shards_.reset(new Shard[count]);
        for (std::size_t i = 0; i < count; ++i) {
            const std::size_t capacity = options_.capacity / count + (i < options_.capacity % count ? 1 : 0);
            shards_[i].configure(capacity, options_.eviction, options_.max_age.has_value());
        }
        has_max_age_ = options_.max_age.has_value();
        if (has_max_age_) max_age_ = *options_.max_age;
        exclusive_hits_ = options_.eviction == EvictionPolicy::lru;
        index_.reset(new IndexShard[index_shard_count]);
    }

    NearStore(const NearStore&) = delete;
    NearStore& operator=(const NearStore&) = delete;

    // The hit path: MemoryBackend::get's, no index involved.
    std::optional<entry_type> get(const Key& key) {
        const std::uint64_t h = hash_of(key);
        Shard& shard = shard_for(h);
        const TimePoint now = has_max_age_ ? current_time() : TimePoint{};
        if (exclusive_hits_) {
            Removed removed;
            {
                std::unique_lock<std::shared_mutex> lock(shard.mutex);
                Node* node = shard.find(h, key);
                if (node == nullptr) return std::nullopt;
                if (!has_max_age_ || !expired(*node, now)) {
                    shard.promote(node);
                    return node->entry;
                }
                expire(shard, node, removed);
            }
            forget_removed(removed);
            return std::nullopt;
        }
        {
            std::shared_lock<std::shared_mutex> lock(shard.mutex);
            Node* node = shard.find(h, key);
            if (node == nullptr) return std::nullopt;
            if (!has_max_age_ || !expired(*node, now)) {
                Shard::touch(node);
                return node->entry;
            }
        }
        // Too old: removed now unless another thread holds the shard (then a
        // later write reaps it). A reader never waits for this.
        Removed removed;
        {
            std::unique_lock<std::shared_mutex> lock(shard.mutex, std::try_to_lock);
            if (!lock.owns_lock()) return std::nullopt;
            Node* node = shard.find(h, key);
            if (node != nullptr && expired(*node, now)) expire(shard, node, removed);
        }
        forget_removed(removed);
        return std::nullopt;
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
        const std::uint64_t h = hash_of(key);
        Shard& shard = shard_for(h);
        const TimePoint now = has_max_age_ ? current_time() : TimePoint{};
        auto fresh = std::make_unique<Node>(h, key, entry);  // copies outside the locks
        fresh->stamp = now;
        Removed removed;
        bool stored = false;
        try {
            IndexShard& is = index_[ticket.index_shard];
            std::lock_guard<std::mutex> index_lock(is.mutex);
            if (is.generation != ticket.generation) return false;
            std::vector<Key>& listed = is.groups[ticket.redis_key];
            listed.reserve(listed.size() + 1);  // the push_back below cannot fail after the table changed
            bool added = false;
            {
                std::unique_lock<std::shared_mutex> lock(shard.mutex);
                if (has_max_age_) reap(shard, now, removed);
                added = store(shard, std::move(fresh), now, removed);
            }
            if (added) listed.push_back(key);
            if (listed.empty()) is.groups.erase(ticket.redis_key);
            stored = true;
        } catch (...) {
            forget_removed(removed);
            throw;
        }
        forget_removed(removed);
        return stored;
    }

    // Drops every entry stored under `redis_key` and outdates the tickets of
    // reads of it still in flight. Returns how many entries were dropped.
    std::size_t invalidate(std::string_view redis_key) {
        const std::size_t i = index_shard_of(redis_key);
        IndexShard& is = index_[i];
        Removed removed;
        std::lock_guard<std::mutex> index_lock(is.mutex);
        ++is.generation;
        const auto it = is.groups.find(std::string(redis_key));
        if (it == is.groups.end()) return 0;
        const std::vector<Key> listed = std::move(it->second);
        is.groups.erase(it);
        removed.nodes.reserve(listed.size());  // nothing below throws
        for (const Key& key : listed) {
            const std::uint64_t h = hash_of(key);
            Shard& shard = shard_for(h);
            std::unique_lock<std::shared_mutex> lock(shard.mutex);
            if (Node* node = shard.find(h, key)) {
                shard.remove(node);
                removed.nodes.emplace_back(node);
            }
        }
        return removed.nodes.size();  // `removed`, declared first, dies after the lock
    }

    // Drops everything and outdates every ticket taken so far: invalidate()
    // for every index shard, one shard at a time.
    void clear() {
        for (std::size_t i = 0; i < index_shard_count; ++i) {
            IndexShard& is = index_[i];
            Removed removed;
            std::lock_guard<std::mutex> index_lock(is.mutex);
            ++is.generation;
            std::size_t listed = 0;
            for (const auto& group : is.groups) listed += group.second.size();
            removed.nodes.reserve(listed);  // nothing below throws
            for (const auto& group : is.groups) {
                for (const Key& key : group.second) {
                    const std::uint64_t h = hash_of(key);
                    Shard& shard = shard_for(h);
                    std::unique_lock<std::shared_mutex> lock(shard.mutex);
                    if (Node* node = shard.find(h, key)) {
                        shard.remove(node);
                        removed.nodes.emplace_back(node);
                    }
                }
            }
            is.groups.clear();
        }
    }

    // Entries held (summed shard by shard: not a snapshot under writes).
    std::size_t size() const {
        std::size_t total = 0;
        for (std::size_t i = 0; i < shard_count_; ++i) {
            std::shared_lock<std::shared_mutex> lock(shards_[i].mutex);
            total += shards_[i].size();
        }
        return total;
    }

    // Cache keys listed in the Redis key index; equal to size() when quiet.
    std::size_t index_size() const {
        std::size_t total = 0;
        for (std::size_t i = 0; i < index_shard_count; ++i) {
            std::lock_guard<std::mutex> lock(index_[i].mutex);
            for (const auto& group : index_[i].groups) total += group.second.size();
        }
        return total;
    }

    // Whether `key` is held (even past max_age), without touching its recency.
    bool contains(const Key& key) const {
        const std::uint64_t h = hash_of(key);
        const Shard& shard = shard_for(h);
        std::shared_lock<std::shared_mutex> lock(shard.mutex);
        return shard.find(h, key) != nullptr;
    }

    NearStoreStats stats() const {
        NearStoreStats s;
        for (std::size_t i = 0; i < shard_count_; ++i) {
            std::shared_lock<std::shared_mutex> lock(shards_[i].mutex);
            s.evictions += shards_[i].evictions;
            s.expirations += shards_[i].expirations;
        }
        return s;
    }

    std::size_t capacity() const noexcept { return options_.capacity; }
    std::size_t shard_count() const noexcept { return shard_count_; }

private:
    using Node = MemoryNode<Value, Key>;
    using Shard = MemoryShard<Value, Key>;
    using NodeGraveyard = details::NodeGraveyard<Node>;

    // Fine enough that an invalidation rarely outdates a ticket of another
    // Redis key (which only costs that read its insert).
    static constexpr std::size_t index_shard_count = 256;
    static constexpr std::size_t reap_per_write = 4;

    struct alignas(64) IndexShard {
        mutable std::mutex mutex;
        std::uint64_t generation = 0;
        std::unordered_map<std::string, std::vector<Key>> groups;
    };

    // Destroyed after the locks are released. `nodes` left the table by
    // eviction or age (their keys must also leave the index); `replaced`
    // hold values overwritten in place (their keys stay).
    struct Removed {
        std::vector<std::unique_ptr<Node>> nodes;
        std::vector<std::unique_ptr<Node>> replaced;
    };

    std::uint64_t hash_of(const Key& key) const { return mix_hash(static_cast<std::uint64_t>(hash_(key))); }
    std::size_t shard_index(std::uint64_t h) const noexcept { return static_cast<std::size_t>((h >> 32) & shard_mask_); }
    Shard& shard_for(std::uint64_t h) const noexcept { return shards_[shard_index(h)]; }

    static std::size_t index_shard_of(std::string_view redis_key) noexcept {
        return static_cast<std::size_t>(mix_hash(std::hash<std::string_view>{}(redis_key)) % index_shard_count);
    }

    TimePoint current_time() const { return options_.clock ? options_.clock() : WallClock::now(); }
    bool expired(const Node& node, TimePoint now) const noexcept { return now - node.stamp > max_age_; }

    void expire(Shard& shard, Node* node, Removed& removed) {
        shard.remove(node);
        removed.nodes.emplace_back(node);
        ++shard.expirations;
    }

    // Exclusive lock held. True when the key was new to the table.
    bool store(Shard& shard, std::unique_ptr<Node> fresh, TimePoint now, Removed& removed) {
        if (Node* existing = shard.find(fresh->hash, fresh->key)) {
            removed.replaced.reserve(removed.replaced.size() + 1);
            using std::swap;
            swap(existing->entry, fresh->entry);
            shard.restamp(existing, fresh->stamp);
            if (exclusive_hits_) {
                shard.promote(existing);
            } else {
                Shard::touch(existing);
            }
            removed.replaced.push_back(std::move(fresh));
            return false;
        }
        removed.nodes.reserve(removed.nodes.size() + 1);
        if (shard.full()) {
            Node* victim = nullptr;
            if (has_max_age_) {
                Node* oldest = shard.oldest();
                if (oldest != nullptr && expired(*oldest, now)) victim = oldest;
            }
            if (victim != nullptr) {
                expire(shard, victim, removed);
            } else {
                victim = shard.victim();
                shard.remove(victim);
                removed.nodes.emplace_back(victim);
                ++shard.evictions;
            }
        }
        shard.insert(fresh.get());
        fresh.release();
        return true;
    }

    // Removes up to reap_per_write entries older than max_age. Exclusive lock held.
    void reap(Shard& shard, TimePoint now, Removed& removed) {
        for (std::size_t n = 0; n < reap_per_write; ++n) {
            Node* oldest = shard.oldest();
            if (oldest == nullptr || !expired(*oldest, now)) break;
            removed.nodes.reserve(removed.nodes.size() + 1);
            expire(shard, oldest, removed);
        }
    }

    // Takes the keys of removed nodes out of the index, unless they are back
    // in the table (inserted again meanwhile), in which case exactly one
    // listing is kept. No lock held on entry.
    void forget_removed(Removed& removed) noexcept {
        for (const auto& node : removed.nodes) {
            try {
                const std::string redis_key = redis_key_of_(node->key);
                IndexShard& is = index_[index_shard_of(redis_key)];
                std::lock_guard<std::mutex> index_lock(is.mutex);
                const auto it = is.groups.find(redis_key);
                if (it == is.groups.end()) continue;
                bool present = false;
                {
                    const std::uint64_t h = node->hash;
                    Shard& shard = shard_for(h);
                    std::shared_lock<std::shared_mutex> lock(shard.mutex);
                    present = shard.find(h, node->key) != nullptr;
                }
                std::vector<Key>& listed = it->second;
                const auto first = std::find(listed.begin(), listed.end(), node->key);
                if (first == listed.end()) continue;
                const auto keep = present ? std::next(first) : first;
                listed.erase(std::remove(keep, listed.end(), node->key), listed.end());
                if (listed.empty()) is.groups.erase(it);
            } catch (...) {
                // Only the mapping or a string allocation can throw: the key
                // then stays listed, which costs memory, never correctness.
            }
        }
        removed.nodes.clear();
    }

    NearStoreOptions options_;
    RedisKeyOf redis_key_of_;
    Hash hash_;
    std::unique_ptr<Shard[]> shards_;
    std::size_t shard_count_ = 0;
    std::uint64_t shard_mask_ = 0;
    std::unique_ptr<IndexShard[]> index_;
    Duration max_age_{};
    bool has_max_age_ = false;
    bool exclusive_hits_ = false;
};

}  // namespace dogpile::details
