#pragma once
// ShardedTable: the in-process table behind MemoryBackend and the near store
// (near_store.hpp). Keys spread over shards by hash; each shard has its own
// reader-writer lock (striped_shared_mutex.hpp: a reader writes only its own
// thread's cache line, so hits on two cores scale), share of the capacity (or
// of the weight bound), eviction policy (eviction.hpp; W-TinyLFU's frequency
// sketch and window size are shared by the shards) and, with a max age, expiry heap. A hit costs one
// hash, one lock of one shard, one lookup and one copy of the CachedValue
// (and, for W-TinyLFU, an append to the shard's read buffer). Thread-safe.
// Removed nodes go to a NodeGraveyard (table_node.hpp), destroyed after the
// locks are released.
// (Over 400 lines: one class, whose operations share the shard, ttl and
// weight rules; the policies and their parts live in their own headers.)

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <utility>
#include <vector>

#include "../../cached_value.hpp"
#include "../../clock.hpp"
#include "../../errors.hpp"
#include "eviction.hpp"
#include "shard_batch.hpp"
#include "sharded_table_options.hpp"
#include "table_node.hpp"
#include "table_shard.hpp"

namespace dogpile::details {

template <class Value, class Key, class Hash = std::hash<Key>>
class ShardedTable {
public:
    using entry_type = CachedValue<Value>;
    using Node = TableNode<Value, Key>;
    using Graveyard = NodeGraveyard<Node>;

    // What put() did with a write.
    enum class Placed : std::uint8_t {
        added,      // the key was new to the table
        replaced,   // the key's entry was overwritten in place
        too_old,    // the entry was already past ttl: not stored, the key's previous entry removed
        too_heavy,  // heavier than a shard's weight bound: not stored, the key's previous entry removed
    };

    // A write prepared outside any lock: the copies of key and entry are made
    // here. Refers to the key it was prepared from until put() applies it.
    class Write {
    public:
        Write() = default;

    private:
        friend class ShardedTable;
        Write(std::uint64_t hash, const Key& key, TimePoint now, std::size_t weight)
            : hash_(hash), key_(&key), now_(now), weight_(weight) {}

        std::uint64_t hash_ = 0;
        const Key* key_ = nullptr;
        TimePoint now_{};
        std::size_t weight_ = 1;
        std::unique_ptr<Node> node_;  // empty: too old to store
    };

    ShardedTable(ShardedTableOptions options, Hash hash) : options_(std::move(options)), hash_(std::move(hash)) {
        shard_count_ = shards_in_use(options_);
        shard_mask_ = shard_count_ - 1;
        shards_.reset(new Shard[shard_count_]);
        const ExpiryOrder expiry = options_.ttl ? ExpiryOrder::oldest_first : ExpiryOrder::untracked;
        const std::optional<std::size_t> bound = options_.max_weight ? options_.max_weight : options_.capacity;
        if (bound && options_.eviction == EvictionPolicy::tiny_lfu)
            tiny_lfu_ = std::make_unique<TinyLfuShared>(*bound, shard_count_);
        EvictionSetup setup;
        setup.shared = tiny_lfu_.get();
        // Fewer, larger shards see more hits between two writes to each.
        setup.read_slots = std::max<std::size_t>(16, 256 / shard_count_);
        for (std::size_t i = 0; i < shard_count_; ++i) {
            shards_[i].configure(capacity_of_shard(options_.capacity, shard_count_, i),
                                 capacity_of_shard(options_.max_weight, shard_count_, i), options_.eviction, expiry,
                                 setup);
        }
        has_ttl_ = options_.ttl.has_value();
        if (has_ttl_) ttl_ = *options_.ttl;
        hit_recording_ = bound ? Eviction<Node>::hit_recording(options_.eviction) : HitRecording::none;
    }

    ShardedTable(const ShardedTable&) = delete;
    ShardedTable& operator=(const ShardedTable&) = delete;

    // An entry past ttl is a miss, removed now unless another thread
    // holds the shard (a later write or purge_expired() then does it): a
    // reader never waits for that. `on_departed(const Graveyard&)`, which must
    // not throw, sees what a read removed once its lock is released; the hit
    // path under the shared lock builds no graveyard.
    template <class OnDeparted>
    std::optional<entry_type> get(const Key& key, OnDeparted on_departed) {
        const std::uint64_t h = hash_of(key);
        Shard& shard = shard_for(h);
        const TimePoint now = current_time();
        if (hit_recording_ == HitRecording::under_exclusive_lock) {
            GraveyardNotice<Node, OnDeparted> departed(on_departed);
            std::unique_lock<StripedSharedMutex> lock(shard.mutex);
            return get_exclusive(shard, h, key, now, departed.dead);
        }
        {
            std::shared_lock<StripedSharedMutex> lock(shard.mutex);
            Node* node = shard.find(h, key);
            if (node == nullptr) return std::nullopt;
            if (!too_old(*node, now)) {
                if (hit_recording_ == HitRecording::under_shared_lock) shard.record_hit(node);
                if (hit_recording_ == HitRecording::buffered) shard.buffer_hit(node);
                return node->entry;
            }
        }
        GraveyardNotice<Node, OnDeparted> departed(on_departed);
        std::unique_lock<StripedSharedMutex> lock(shard.mutex, std::try_to_lock);
        if (lock.owns_lock()) remove_if_too_old(shard, h, key, now, departed.dead);
        return std::nullopt;
    }

    // Locks each shard once, whatever the number of keys.
    std::vector<std::optional<entry_type>> get_multi(const std::vector<Key>& keys) {
        std::vector<std::optional<entry_type>> out(keys.size());
        const auto slots = group_by_shard(
            keys.size(), [&](std::size_t i) { return hash_of(keys[i]); }, shard_mask_);
        const TimePoint now = current_time();
        for_each_shard_run(slots, shards_.get(), [&](Shard& shard, const ShardSlot* first, const ShardSlot* last) {
            Graveyard dead;
            if (hit_recording_ == HitRecording::under_exclusive_lock) {
                std::unique_lock<StripedSharedMutex> lock(shard.mutex);
                for (const ShardSlot* s = first; s != last; ++s) {
                    out[s->index] = get_exclusive(shard, s->hash, keys[s->index], now, dead);
                }
                return;
            }
            bool saw_too_old = false;
            {
                std::shared_lock<StripedSharedMutex> lock(shard.mutex);
                for (const ShardSlot* s = first; s != last; ++s) {
                    Node* node = shard.find(s->hash, keys[s->index]);
                    if (node == nullptr) continue;
                    if (too_old(*node, now)) {
                        saw_too_old = true;
                        continue;
                    }
                    if (hit_recording_ == HitRecording::under_shared_lock) shard.record_hit(node);
                    if (hit_recording_ == HitRecording::buffered) shard.buffer_hit(node);
                    out[s->index] = node->entry;
                }
            }
            if (!saw_too_old) return;
            std::unique_lock<StripedSharedMutex> lock(shard.mutex, std::try_to_lock);
            if (!lock.owns_lock()) return;
            for (const ShardSlot* s = first; s != last; ++s) {
                remove_if_too_old(shard, s->hash, keys[s->index], now, dead);
            }
        });
        return out;
    }

    // `entry` is copied, or moved when it is an rvalue. `weight` counts
    // against options.max_weight (ignored without one).
    template <class Entry>
    Write prepare(const Key& key, Entry&& entry, std::size_t weight = 1) const {
        return prepare_hashed(hash_of(key), key, std::forward<Entry>(entry), current_time(), weight);
    }

    // Stores a prepared write, replacing the key's entry; removes up to
    // reap_per_write entries past ttl first, and makes room in a full
    // shard (an entry past ttl goes before the policy's victim).
    Placed put(Write&& write, Graveyard& dead) {
        Shard& shard = shard_for(write.hash_);
        std::unique_lock<StripedSharedMutex> lock(shard.mutex);
        if (has_ttl_) reap(shard, write.now_, dead);
        return apply(shard, write, dead);
    }

    // put() for each entry; locks each shard once. When a key appears twice,
    // the later entry wins. `weigh(key, entry)` gives each entry's weight.
    template <class Weigh>
    void put_multi(const std::vector<std::pair<Key, entry_type>>& entries, Weigh weigh) {
        const auto slots = group_by_shard(
            entries.size(), [&](std::size_t i) { return hash_of(entries[i].first); }, shard_mask_);
        const TimePoint now = current_time();
        // Copies happen before any lock is taken.
        std::vector<Write> writes(entries.size());
        for (const ShardSlot& s : slots) {
            const auto& [key, entry] = entries[s.index];
            writes[s.index] = prepare_hashed(s.hash, key, entry, now, weigh(key, entry));
        }
        for_each_shard_run(slots, shards_.get(), [&](Shard& shard, const ShardSlot* first, const ShardSlot* last) {
            Graveyard dead;
            std::unique_lock<StripedSharedMutex> lock(shard.mutex);
            if (has_ttl_) reap(shard, now, dead);
            for (const ShardSlot* s = first; s != last; ++s) apply(shard, writes[s->index], dead);
        });
    }

    // Removes the key, and up to reap_per_write entries past ttl in passing.
    void erase(const Key& key, Graveyard& dead) {
        const std::uint64_t h = hash_of(key);
        Shard& shard = shard_for(h);
        const TimePoint now = current_time();
        std::unique_lock<StripedSharedMutex> lock(shard.mutex);
        if (has_ttl_) reap(shard, now, dead);
        remove_key(shard, h, key, dead);
    }

    void erase_multi(const std::vector<Key>& keys) {
        const auto slots = group_by_shard(
            keys.size(), [&](std::size_t i) { return hash_of(keys[i]); }, shard_mask_);
        const TimePoint now = current_time();
        for_each_shard_run(slots, shards_.get(), [&](Shard& shard, const ShardSlot* first, const ShardSlot* last) {
            Graveyard dead;
            std::unique_lock<StripedSharedMutex> lock(shard.mutex);
            if (has_ttl_) reap(shard, now, dead);
            for (const ShardSlot* s = first; s != last; ++s) remove_key(shard, s->hash, keys[s->index], dead);
        });
    }

    // Removes the key and nothing else (no reaping, no clock). Returns whether it was held.
    bool drop(const Key& key, Graveyard& dead) {
        const std::uint64_t h = hash_of(key);
        Shard& shard = shard_for(h);
        std::unique_lock<StripedSharedMutex> lock(shard.mutex);
        return remove_key(shard, h, key, dead);
    }

    // Whether `key` is held (even past ttl), without recording a hit.
    bool contains(const Key& key) const { return holds(hash_of(key), key); }

    // Whether the key of `node` (a node that left the table) is held again.
    bool holds_key_of(const Node& node) const { return holds(node.hash, node.key); }

    // Removes every entry past ttl now; returns how many. 0 without a max age.
    std::size_t purge_expired() {
        if (!has_ttl_) return 0;
        const TimePoint now = current_time();
        std::size_t removed = 0;
        for (std::size_t i = 0; i < shard_count_; ++i) {
            Graveyard dead;
            std::unique_lock<StripedSharedMutex> lock(shards_[i].mutex);
            removed += reap(shards_[i], now, dead, std::numeric_limits<std::size_t>::max());
        }
        return removed;
    }

    // Entries held, including those past ttl not yet removed. Summed
    // shard by shard, so not a snapshot under concurrent writes.
    std::size_t size() const {
        std::size_t total = 0;
        for (std::size_t i = 0; i < shard_count_; ++i) {
            std::shared_lock<StripedSharedMutex> lock(shards_[i].mutex);
            total += shards_[i].size();
        }
        return total;
    }

    // The entries' total weight (their count when nothing is weighed);
    // summed like size().
    std::size_t weight() const {
        std::size_t total = 0;
        for (std::size_t i = 0; i < shard_count_; ++i) {
            std::shared_lock<StripedSharedMutex> lock(shards_[i].mutex);
            total += shards_[i].weight();
        }
        return total;
    }

    // Drops every entry; not counted as evictions.
    void clear() {
        for (std::size_t i = 0; i < shard_count_; ++i) {
            Graveyard dead;
            std::unique_lock<StripedSharedMutex> lock(shards_[i].mutex);
            shards_[i].detach_all(dead);
        }
    }

    ShardedTableStats stats() const {
        ShardedTableStats total;
        for (std::size_t i = 0; i < shard_count_; ++i) {
            std::shared_lock<StripedSharedMutex> lock(shards_[i].mutex);
            total.evictions += shards_[i].evictions;
            total.expirations += shards_[i].expirations;
            total.rejected_too_heavy += shards_[i].rejected_too_heavy;
        }
        return total;
    }

    // options.shards, or fewer when the capacity is smaller.
    std::size_t shard_count() const noexcept { return shard_count_; }

    // The W-TinyLFU window bound of the shard holding `key`, for tests;
    // std::nullopt under another policy.
    std::optional<std::size_t> window_max_of(const Key& key) const {
        const Shard& shard = shard_for(hash_of(key));
        std::shared_lock<StripedSharedMutex> lock(shard.mutex);
        return shard.window_max();
    }

private:
    using Shard = TableShard<Node>;

    // Entries past ttl a writer removes in passing: bounded, so one write
    // never stalls the shard's readers for a long sweep.
    static constexpr std::size_t reap_per_write = 4;

    // A node keeps its weight in 32 bits, as Caffeine's int weights.
    static constexpr std::size_t max_entry_weight = std::numeric_limits<std::uint32_t>::max();

    std::uint64_t hash_of(const Key& key) const { return mix_hash(static_cast<std::uint64_t>(hash_(key))); }

    Shard& shard_for(std::uint64_t h) const noexcept { return shards_[shard_index(h, shard_mask_)]; }

    TimePoint current_time() const {
        if (!has_ttl_) return TimePoint{};
        return dogpile::now(options_.clock, options_.clock_policy);
    }

    bool too_old_stamp(TimePoint stamp, TimePoint now) const noexcept { return now - stamp > ttl_; }
    bool too_old(const Node& node, TimePoint now) const noexcept { return has_ttl_ && too_old_stamp(node.stamp, now); }

    template <class Entry>
    Write prepare_hashed(std::uint64_t h, const Key& key, Entry&& entry, TimePoint now, std::size_t weight) const {
        Write write(h, key, now, weight);
        TimePoint stamp{};
        if (has_ttl_) {
            const bool from_creation =
                options_.age_from == AgeFrom::creation && entry.metadata.expiry_owner != ExpiryOwner::store;
            stamp = from_creation ? entry.metadata.created_at : now;
            if (too_old_stamp(stamp, now)) return write;
        }
        write.node_ = std::make_unique<Node>(h, key, std::forward<Entry>(entry));
        write.node_->stamp = stamp;
        write.node_->weight = static_cast<std::uint32_t>(std::min<std::size_t>(weight, max_entry_weight));
        return write;
    }

    bool holds(std::uint64_t h, const Key& key) const {
        const Shard& shard = shard_for(h);
        std::shared_lock<StripedSharedMutex> lock(shard.mutex);
        return shard.find(h, key) != nullptr;
    }

    // Exclusive lock held.
    std::optional<entry_type> get_exclusive(Shard& shard, std::uint64_t h, const Key& key, TimePoint now,
                                            Graveyard& dead) {
        Node* node = shard.find(h, key);
        if (node == nullptr) return std::nullopt;
        if (too_old(*node, now)) {
            expire(shard, node, dead);
            return std::nullopt;
        }
        shard.record_hit(node);
        return node->entry;
    }

    // Exclusive lock held. Takes the write's node.
    Placed apply(Shard& shard, Write& write, Graveyard& dead) {
        if (!write.node_) {
            remove_key(shard, write.hash_, *write.key_, dead);
            return Placed::too_old;
        }
        std::unique_ptr<Node> fresh = std::move(write.node_);
        if (too_heavy(shard, write.weight_)) {
            remove_key(shard, write.hash_, *write.key_, dead);
            ++shard.rejected_too_heavy;
            dead.bury_replaced(fresh.release());
            return Placed::too_heavy;
        }
        Node* existing = shard.find(fresh->hash, fresh->key);
        if (existing != nullptr && existing->weight != fresh->weight) {
            // A new weight re-enters like a new entry, so the bound is
            // enforced by the same path; the key itself stays.
            shard.remove(existing);
            dead.bury_replaced(existing);
            insert_with_room(shard, std::move(fresh), write.now_, dead);
            return Placed::replaced;
        }
        if (existing != nullptr) {
            // Swapping keeps the node's place in the table; the old value is
            // destroyed with the graveyard after the lock is released.
            using std::swap;
            swap(existing->entry, fresh->entry);
            shard.restamp(existing, fresh->stamp);
            if (hit_recording_ != HitRecording::none) shard.record_hit(existing);
            dead.bury_replaced(fresh.release());
            return Placed::replaced;
        }
        insert_with_room(shard, std::move(fresh), write.now_, dead);
        return Placed::added;
    }

    static bool too_heavy(const Shard& shard, std::size_t weight) noexcept {
        const std::optional<std::size_t> bound = shard.weight_bound();
        return bound && (weight > *bound || weight > max_entry_weight);
    }

    // Exclusive lock held; the key is absent. Evicts until the node fits,
    // before linking it, so the new entry itself is never the one evicted.
    void insert_with_room(Shard& shard, std::unique_ptr<Node> fresh, TimePoint now, Graveyard& dead) {
        while (shard.needs_room(fresh->weight)) make_room(shard, now, dead);
        shard.insert(fresh.get());
        fresh.release();
    }

    // Exclusive lock held; the shard needs room. An entry past ttl goes first.
    void make_room(Shard& shard, TimePoint now, Graveyard& dead) noexcept {
        if (has_ttl_) {
            Node* oldest = shard.oldest();
            if (oldest != nullptr && too_old(*oldest, now)) {
                expire(shard, oldest, dead);
                return;
            }
        }
        Node* victim = shard.victim();
        shard.remove(victim);
        dead.bury_departed(victim);
        ++shard.evictions;
    }

    bool remove_key(Shard& shard, std::uint64_t h, const Key& key, Graveyard& dead) {
        Node* node = shard.find(h, key);
        if (node == nullptr) return false;
        shard.remove(node);
        dead.bury_departed(node);
        return true;
    }

    void remove_if_too_old(Shard& shard, std::uint64_t h, const Key& key, TimePoint now, Graveyard& dead) {
        Node* node = shard.find(h, key);
        if (node != nullptr && too_old(*node, now)) expire(shard, node, dead);
    }

    void expire(Shard& shard, Node* node, Graveyard& dead) noexcept {
        shard.remove(node);
        dead.bury_departed(node);
        ++shard.expirations;
    }

    // Removes up to `limit` entries past ttl, oldest first. Exclusive lock held.
    std::size_t reap(Shard& shard, TimePoint now, Graveyard& dead, std::size_t limit = reap_per_write) {
        std::size_t removed = 0;
        while (removed < limit) {
            Node* oldest = shard.oldest();
            if (oldest == nullptr || !too_old(*oldest, now)) break;
            expire(shard, oldest, dead);
            ++removed;
        }
        return removed;
    }

    ShardedTableOptions options_;
    Hash hash_;
    std::unique_ptr<TinyLfuShared> tiny_lfu_;  // before the shards, whose policies refer to it
    std::unique_ptr<Shard[]> shards_;
    std::size_t shard_count_ = 0;
    std::uint64_t shard_mask_ = 0;
    Duration ttl_{};
    bool has_ttl_ = false;
    HitRecording hit_recording_ = HitRecording::none;
};

}  // namespace dogpile::details
