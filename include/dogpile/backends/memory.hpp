#pragma once
// MemoryBackend: an in-process backend. Values are kept as CachedValue<Value>
// objects (never serialized) and copied out on a hit, so a hit costs one hash,
// one shared lock on one shard, one lookup and one copy of the value.
//
// Unlike dogpile.cache's memory backend, it can be bounded: by a capacity
// (CLOCK or exact-LRU eviction per shard) and by a store-side ttl, so a
// long-running process does not grow without limit.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../cached_value.hpp"
#include "../errors.hpp"

namespace dogpile {

// How a full shard picks the entry to drop.
enum class EvictionPolicy : std::uint8_t {
    // Second chance: a hit only sets an atomic reference bit under the shared
    // lock, so concurrent readers never serialize. Approximates LRU.
    clock,
    // Exact least-recently-used: every hit moves the entry to the front, which
    // needs the shard's exclusive lock. Use when the exact order matters more
    // than read scaling.
    lru,
};

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

struct MemoryBackendStats {
    std::uint64_t evictions = 0;    // live entries dropped to respect the capacity
    std::uint64_t expirations = 0;  // entries removed because they outlived the ttl
};

namespace details {

// Spreads weak hashes (std::hash<int> is the identity) over all 64 bits: the
// high half picks the shard, the low bits pick the bucket within it.
inline std::uint64_t mix_hash(std::uint64_t x) noexcept {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

template <class Value, class Key>
struct MemoryNode {
    MemoryNode(std::uint64_t h, const Key& k, const CachedValue<Value>& e) : hash(h), key(k), entry(e) {}

    // Lookup fields first: a hit touches only this node's first cache lines.
    const std::uint64_t hash;
    MemoryNode* bucket_next = nullptr;
    std::atomic<bool> referenced{false};  // CLOCK bit, set by readers under the shared lock
    const Key key;
    CachedValue<Value> entry;
    TimePoint stamp{};  // age basis for the ttl
    MemoryNode* prev = nullptr;  // recency (LRU) / ring (CLOCK) order
    MemoryNode* next = nullptr;
    std::size_t heap_index = 0;  // position in the shard's expiry heap
};

// Nodes unlinked under a shard's lock and destroyed after it is released, so
// value destructors never run while other threads wait for the lock.
template <class Node>
class NodeGraveyard {
public:
    NodeGraveyard() = default;
    NodeGraveyard(const NodeGraveyard&) = delete;
    NodeGraveyard& operator=(const NodeGraveyard&) = delete;
    ~NodeGraveyard() {
        while (head_ != nullptr) {
            Node* next = head_->bucket_next;
            delete head_;
            head_ = next;
        }
    }
    void bury(Node* node) noexcept {
        node->bucket_next = head_;
        head_ = node;
    }

private:
    Node* head_ = nullptr;
};

// One shard: a chained hash table of nodes that also sit on an intrusive list
// (recency order for LRU, the ring for CLOCK) and, with a ttl, on a min-heap
// by age stamp. Every member except `mutex` requires the caller to hold it:
// shared for find/size/touch, exclusive for everything else.
template <class Value, class Key>
class alignas(64) MemoryShard {
public:
    using Node = MemoryNode<Value, Key>;

    MemoryShard() = default;
    MemoryShard(const MemoryShard&) = delete;
    MemoryShard& operator=(const MemoryShard&) = delete;
    ~MemoryShard() {
        NodeGraveyard<Node> dead;
        detach_all(dead);
    }

    void configure(std::optional<std::size_t> capacity, EvictionPolicy policy, bool expiry_heap) {
        capacity_ = capacity;
        policy_ = policy;
        expiry_heap_ = expiry_heap;
        // Small bounded shards are sized once and never rehash; a large
        // capacity is a limit rather than an expected size, so it grows lazily.
        constexpr std::size_t presized_limit = 1024;
        std::size_t buckets = 16;
        if (capacity_) {
            while (buckets < *capacity_ && buckets < presized_limit) buckets *= 2;
            if (expiry_heap_) heap_.reserve(std::min(*capacity_, presized_limit));
        }
        buckets_.assign(buckets, nullptr);
    }

    mutable std::shared_mutex mutex;

    std::optional<std::size_t> capacity() const noexcept { return capacity_; }
    std::size_t size() const noexcept { return size_; }
    bool full() const noexcept { return capacity_ && size_ >= *capacity_; }

    Node* find(std::uint64_t hash, const Key& key) const {
        for (Node* n = buckets_[hash & (buckets_.size() - 1)]; n != nullptr; n = n->bucket_next) {
            if (n->hash == hash && n->key == key) return n;
        }
        return nullptr;
    }

    // Links a node whose key is absent. Strong guarantee: on throw nothing changed.
    void insert(Node* node) {
        if (size_ >= buckets_.size()) rehash(buckets_.size() * 2);
        if (expiry_heap_ && heap_.size() == heap_.capacity()) heap_.reserve(std::max<std::size_t>(16, heap_.size() * 2));
        // Nothing below allocates.
        Node*& bucket = buckets_[node->hash & (buckets_.size() - 1)];
        node->bucket_next = bucket;
        bucket = node;
        if (policy_ == EvictionPolicy::lru) {
            push_front(node);
        } else {
            // Just behind the hand: a newcomer gets a full revolution before
            // it is considered for eviction.
            insert_before(hand_, node);
        }
        if (expiry_heap_) heap_push(node);
        ++size_;
    }

    void remove(Node* node) noexcept {
        Node** link = &buckets_[node->hash & (buckets_.size() - 1)];
        while (*link != node) link = &(*link)->bucket_next;
        *link = node->bucket_next;
        node->bucket_next = nullptr;
        if (hand_ == node) hand_ = node->next;
        unlink_list(node);
        if (expiry_heap_) heap_erase(node);
        --size_;
    }

    // A read hit; safe under the shared lock. Only writes when the bit is
    // clear, so hot entries do not bounce their cache line between readers.
    static void touch(Node* node) noexcept {
        if (!node->referenced.load(std::memory_order_relaxed)) node->referenced.store(true, std::memory_order_relaxed);
    }

    void promote(Node* node) noexcept {
        if (head_ == node) return;
        unlink_list(node);
        push_front(node);
    }

    void restamp(Node* node, TimePoint stamp) noexcept {
        node->stamp = stamp;
        if (expiry_heap_) {
            sift_up(node->heap_index);
            sift_down(node->heap_index);
        }
    }

    // The entry with the oldest age stamp (only with an expiry heap).
    Node* oldest() const noexcept { return heap_.empty() ? nullptr : heap_.front(); }

    // The entry the eviction policy gives up. Precondition: size() > 0.
    Node* victim() noexcept {
        if (policy_ == EvictionPolicy::lru) return tail_;
        // Ends within one revolution: every referenced node passed is cleared.
        Node* n = hand_ != nullptr ? hand_ : head_;
        while (n->referenced.load(std::memory_order_relaxed)) {
            n->referenced.store(false, std::memory_order_relaxed);
            n = n->next != nullptr ? n->next : head_;
        }
        hand_ = n;
        return n;
    }

    void detach_all(NodeGraveyard<Node>& dead) noexcept {
        Node* n = head_;
        while (n != nullptr) {
            Node* next = n->next;
            dead.bury(n);
            n = next;
        }
        std::fill(buckets_.begin(), buckets_.end(), nullptr);
        heap_.clear();
        head_ = tail_ = hand_ = nullptr;
        size_ = 0;
    }

    // Guarded by the exclusive lock like everything else.
    std::uint64_t evictions = 0;
    std::uint64_t expirations = 0;

private:
    void rehash(std::size_t bucket_count) {
        std::vector<Node*> fresh(bucket_count, nullptr);
        for (Node* n = head_; n != nullptr; n = n->next) {
            Node*& bucket = fresh[n->hash & (bucket_count - 1)];
            n->bucket_next = bucket;
            bucket = n;
        }
        buckets_.swap(fresh);
    }

    void push_front(Node* node) noexcept {
        node->prev = nullptr;
        node->next = head_;
        if (head_ != nullptr) head_->prev = node;
        head_ = node;
        if (tail_ == nullptr) tail_ = node;
    }

    // `pos` == nullptr appends (the CLOCK hand at "wrap to head").
    void insert_before(Node* pos, Node* node) noexcept {
        if (pos == nullptr) {
            node->next = nullptr;
            node->prev = tail_;
            if (tail_ != nullptr) tail_->next = node;
            tail_ = node;
            if (head_ == nullptr) head_ = node;
            return;
        }
        node->next = pos;
        node->prev = pos->prev;
        if (pos->prev != nullptr) {
            pos->prev->next = node;
        } else {
            head_ = node;
        }
        pos->prev = node;
    }

    void unlink_list(Node* node) noexcept {
        if (node->prev != nullptr) {
            node->prev->next = node->next;
        } else {
            head_ = node->next;
        }
        if (node->next != nullptr) {
            node->next->prev = node->prev;
        } else {
            tail_ = node->prev;
        }
        node->prev = node->next = nullptr;
    }

    void heap_push(Node* node) noexcept {
        node->heap_index = heap_.size();
        heap_.push_back(node);  // capacity reserved by insert()
        sift_up(node->heap_index);
    }

    void heap_erase(Node* node) noexcept {
        const std::size_t i = node->heap_index;
        Node* last = heap_.back();
        heap_.pop_back();
        if (last == node) return;
        heap_[i] = last;
        last->heap_index = i;
        sift_up(i);
        sift_down(last->heap_index);
    }

    void place(std::size_t i, Node* node) noexcept {
        heap_[i] = node;
        node->heap_index = i;
    }

    void sift_up(std::size_t i) noexcept {
        Node* node = heap_[i];
        while (i > 0) {
            const std::size_t parent = (i - 1) / 2;
            if (!(node->stamp < heap_[parent]->stamp)) break;
            place(i, heap_[parent]);
            i = parent;
        }
        place(i, node);
    }

    void sift_down(std::size_t i) noexcept {
        Node* node = heap_[i];
        const std::size_t n = heap_.size();
        for (;;) {
            std::size_t child = 2 * i + 1;
            if (child >= n) break;
            if (child + 1 < n && heap_[child + 1]->stamp < heap_[child]->stamp) ++child;
            if (!(heap_[child]->stamp < node->stamp)) break;
            place(i, heap_[child]);
            i = child;
        }
        place(i, node);
    }

    std::vector<Node*> buckets_;
    std::vector<Node*> heap_;
    Node* head_ = nullptr;
    Node* tail_ = nullptr;
    Node* hand_ = nullptr;  // CLOCK: next node to examine; nullptr = head
    std::size_t size_ = 0;
    std::optional<std::size_t> capacity_;
    EvictionPolicy policy_ = EvictionPolicy::clock;
    bool expiry_heap_ = false;
};

}  // namespace details

// Thread-safe. A hit takes one shard's shared lock (exclusive only for a
// bounded `lru` backend); writes take that shard's exclusive lock, and the
// *_multi calls lock each shard they touch once. Value must be copyable.
template <class Value, class Key = std::string, class Hash = std::hash<Key>>
class MemoryBackend final : public Backend<Value, Key> {
public:
    using entry_type = CachedValue<Value>;

    explicit MemoryBackend(MemoryBackendOptions options = {}, Hash hash = Hash{})
        : options_(std::move(options)), hash_(std::move(hash)) {
        validate(options_);
        std::size_t shard_count = options_.shards;
        if (options_.capacity) {
            while (shard_count > *options_.capacity) shard_count /= 2;
        }
        shard_count_ = shard_count;
        shard_mask_ = shard_count - 1;
        shards_.reset(new Shard[shard_count]);
        for (std::size_t i = 0; i < shard_count; ++i) {
            std::optional<std::size_t> shard_capacity;
            if (options_.capacity) {
                // The remainder goes to the first shards, so the sum is exact.
                shard_capacity = *options_.capacity / shard_count + (i < *options_.capacity % shard_count ? 1 : 0);
            }
            shards_[i].configure(shard_capacity, options_.eviction, options_.ttl.has_value());
        }
        has_ttl_ = options_.ttl.has_value();
        if (has_ttl_) ttl_ = *options_.ttl;
        exclusive_hits_ = options_.capacity && options_.eviction == EvictionPolicy::lru;
        track_references_ = options_.capacity && options_.eviction == EvictionPolicy::clock;
    }

    MemoryBackend(const MemoryBackend&) = delete;
    MemoryBackend& operator=(const MemoryBackend&) = delete;

    std::optional<entry_type> get(const Key& key) override {
        const std::uint64_t h = hash_of(key);
        Shard& shard = shard_for(h);
        const TimePoint now = has_ttl_ ? current_time() : TimePoint{};
        if (exclusive_hits_) {
            NodeGraveyard dead;
            std::unique_lock<std::shared_mutex> lock(shard.mutex);
            return get_exclusive(shard, h, key, now, dead);
        }
        {
            std::shared_lock<std::shared_mutex> lock(shard.mutex);
            Node* node = shard.find(h, key);
            if (node == nullptr) return std::nullopt;
            if (!has_ttl_ || !expired(*node, now)) {
                if (track_references_) Shard::touch(node);
                return node->entry;
            }
        }
        // Expired: remove it now if nobody else holds the shard; otherwise the
        // next writer or purge_expired() will. A reader never waits for this.
        NodeGraveyard dead;
        std::unique_lock<std::shared_mutex> lock(shard.mutex, std::try_to_lock);
        if (lock.owns_lock()) remove_if_expired(shard, h, key, now, dead);
        return std::nullopt;
    }

    // Replaces any previous entry. An entry already older than the ttl is not
    // stored (but still removes the previous one).
    void set(const Key& key, const entry_type& entry) override {
        const std::uint64_t h = hash_of(key);
        Shard& shard = shard_for(h);
        const TimePoint now = has_ttl_ ? current_time() : TimePoint{};
        NodeGraveyard dead;
        std::unique_ptr<Node> fresh = make_node(h, key, entry, now);  // copies outside the lock
        std::unique_lock<std::shared_mutex> lock(shard.mutex);
        if (has_ttl_) reap(shard, now, dead);
        if (fresh) {
            store(shard, std::move(fresh), now, dead);
        } else {
            erase_locked(shard, h, key, dead);
        }
    }

    void erase(const Key& key) override {
        const std::uint64_t h = hash_of(key);
        Shard& shard = shard_for(h);
        const TimePoint now = has_ttl_ ? current_time() : TimePoint{};
        NodeGraveyard dead;
        std::unique_lock<std::shared_mutex> lock(shard.mutex);
        if (has_ttl_) reap(shard, now, dead);
        erase_locked(shard, h, key, dead);
    }

    // Locks each shard once, whatever the number of keys.
    std::vector<std::optional<entry_type>> get_multi(const std::vector<Key>& keys) override {
        std::vector<std::optional<entry_type>> out(keys.size());
        const std::vector<Slot> slots = group_by_shard(keys.size(), [&](std::size_t i) { return hash_of(keys[i]); });
        const TimePoint now = has_ttl_ ? current_time() : TimePoint{};
        for_each_run(slots, [&](Shard& shard, const Slot* first, const Slot* last) {
            NodeGraveyard dead;
            if (exclusive_hits_) {
                std::unique_lock<std::shared_mutex> lock(shard.mutex);
                for (const Slot* s = first; s != last; ++s) {
                    out[s->index] = get_exclusive(shard, s->hash, keys[s->index], now, dead);
                }
                return;
            }
            bool saw_expired = false;
            {
                std::shared_lock<std::shared_mutex> lock(shard.mutex);
                for (const Slot* s = first; s != last; ++s) {
                    Node* node = shard.find(s->hash, keys[s->index]);
                    if (node == nullptr) continue;
                    if (has_ttl_ && expired(*node, now)) {
                        saw_expired = true;
                        continue;
                    }
                    if (track_references_) Shard::touch(node);
                    out[s->index] = node->entry;
                }
            }
            if (!saw_expired) return;
            std::unique_lock<std::shared_mutex> lock(shard.mutex, std::try_to_lock);
            if (!lock.owns_lock()) return;
            for (const Slot* s = first; s != last; ++s) remove_if_expired(shard, s->hash, keys[s->index], now, dead);
        });
        return out;
    }

    // Locks each shard once. When a key appears twice, the later entry wins.
    void set_multi(const std::vector<std::pair<Key, entry_type>>& entries) override {
        const std::vector<Slot> slots =
            group_by_shard(entries.size(), [&](std::size_t i) { return hash_of(entries[i].first); });
        const TimePoint now = has_ttl_ ? current_time() : TimePoint{};
        // Copies happen before any lock is taken.
        std::vector<std::unique_ptr<Node>> fresh(entries.size());
        for (const Slot& s : slots) fresh[s.index] = make_node(s.hash, entries[s.index].first, entries[s.index].second, now);
        for_each_run(slots, [&](Shard& shard, const Slot* first, const Slot* last) {
            NodeGraveyard dead;
            std::unique_lock<std::shared_mutex> lock(shard.mutex);
            if (has_ttl_) reap(shard, now, dead);
            for (const Slot* s = first; s != last; ++s) {
                if (fresh[s->index]) {
                    store(shard, std::move(fresh[s->index]), now, dead);
                } else {
                    erase_locked(shard, s->hash, entries[s->index].first, dead);
                }
            }
        });
    }

    void erase_multi(const std::vector<Key>& keys) override {
        const std::vector<Slot> slots = group_by_shard(keys.size(), [&](std::size_t i) { return hash_of(keys[i]); });
        const TimePoint now = has_ttl_ ? current_time() : TimePoint{};
        for_each_run(slots, [&](Shard& shard, const Slot* first, const Slot* last) {
            NodeGraveyard dead;
            std::unique_lock<std::shared_mutex> lock(shard.mutex);
            if (has_ttl_) reap(shard, now, dead);
            for (const Slot* s = first; s != last; ++s) erase_locked(shard, s->hash, keys[s->index], dead);
        });
    }

    // Removes every expired entry now; returns how many. 0 without a ttl.
    std::size_t purge_expired() {
        if (!has_ttl_) return 0;
        const TimePoint now = current_time();
        std::size_t removed = 0;
        for (std::size_t i = 0; i < shard_count_; ++i) {
            NodeGraveyard dead;
            std::unique_lock<std::shared_mutex> lock(shards_[i].mutex);
            removed += reap(shards_[i], now, dead, std::numeric_limits<std::size_t>::max());
        }
        return removed;
    }

    // Entries held, including expired ones not yet removed. Never above
    // capacity(). Summed shard by shard, so not a snapshot under concurrent writes.
    std::size_t size() const {
        std::size_t total = 0;
        for (std::size_t i = 0; i < shard_count_; ++i) {
            std::shared_lock<std::shared_mutex> lock(shards_[i].mutex);
            total += shards_[i].size();
        }
        return total;
    }

    // Drops every entry; not counted as evictions.
    void clear() {
        for (std::size_t i = 0; i < shard_count_; ++i) {
            NodeGraveyard dead;
            std::unique_lock<std::shared_mutex> lock(shards_[i].mutex);
            shards_[i].detach_all(dead);
        }
    }

    MemoryBackendStats stats() const {
        MemoryBackendStats total;
        for (std::size_t i = 0; i < shard_count_; ++i) {
            std::shared_lock<std::shared_mutex> lock(shards_[i].mutex);
            total.evictions += shards_[i].evictions;
            total.expirations += shards_[i].expirations;
        }
        return total;
    }

    std::optional<std::size_t> capacity() const noexcept { return options_.capacity; }

    // The shards in use: options.shards, or fewer when the capacity is smaller.
    std::size_t shard_count() const noexcept { return shard_count_; }

    const MemoryBackendOptions& options() const noexcept { return options_; }

private:
    using Node = details::MemoryNode<Value, Key>;
    using Shard = details::MemoryShard<Value, Key>;
    using NodeGraveyard = details::NodeGraveyard<Node>;

    // Expired entries a writer removes in passing: bounded, so one write never
    // stalls the shard's readers for a long sweep.
    static constexpr std::size_t reap_per_write = 4;
    static constexpr std::size_t max_shards = std::size_t{1} << 16;

    struct Slot {
        std::size_t shard;
        std::size_t index;  // position in the caller's vector
        std::uint64_t hash;
    };

    static void validate(const MemoryBackendOptions& options) {
        if (options.capacity && *options.capacity == 0) {
            throw ConfigurationError("MemoryBackendOptions::capacity must be at least 1 (use std::nullopt for unbounded)");
        }
        if (options.shards == 0 || (options.shards & (options.shards - 1)) != 0) {
            throw ConfigurationError("MemoryBackendOptions::shards must be a power of two (1, 2, 4, ...), got " +
                                     std::to_string(options.shards));
        }
        if (options.shards > max_shards) {
            throw ConfigurationError("MemoryBackendOptions::shards must be at most " + std::to_string(max_shards) +
                                     ", got " + std::to_string(options.shards));
        }
        if (options.ttl && *options.ttl <= Duration::zero()) {
            throw ConfigurationError("MemoryBackendOptions::ttl must be positive (use std::nullopt for no ttl)");
        }
    }

    std::uint64_t hash_of(const Key& key) { return details::mix_hash(static_cast<std::uint64_t>(hash_(key))); }

    // The high half picks the shard; the low bits are left to the shard's buckets.
    std::size_t shard_index(std::uint64_t h) const noexcept { return static_cast<std::size_t>((h >> 32) & shard_mask_); }
    Shard& shard_for(std::uint64_t h) const noexcept { return shards_[shard_index(h)]; }

    TimePoint current_time() const { return options_.clock ? options_.clock() : WallClock::now(); }

    bool expired_stamp(TimePoint stamp, TimePoint now) const noexcept { return now - stamp > ttl_; }
    bool expired(const Node& node, TimePoint now) const noexcept { return expired_stamp(node.stamp, now); }

    // nullptr when the entry is already past the ttl and must not be stored.
    std::unique_ptr<Node> make_node(std::uint64_t h, const Key& key, const entry_type& entry, TimePoint now) const {
        TimePoint stamp{};
        if (has_ttl_) {
            stamp = entry.metadata.expiry_owner == ExpiryOwner::store ? now : entry.metadata.created_at;
            if (expired_stamp(stamp, now)) return nullptr;
        }
        auto node = std::make_unique<Node>(h, key, entry);
        node->stamp = stamp;
        return node;
    }

    std::optional<entry_type> get_exclusive(Shard& shard, std::uint64_t h, const Key& key, TimePoint now,
                                            NodeGraveyard& dead) {
        Node* node = shard.find(h, key);
        if (node == nullptr) return std::nullopt;
        if (has_ttl_ && expired(*node, now)) {
            expire(shard, node, dead);
            return std::nullopt;
        }
        shard.promote(node);
        return node->entry;
    }

    // Exclusive lock held.
    void store(Shard& shard, std::unique_ptr<Node> fresh, TimePoint now, NodeGraveyard& dead) {
        if (Node* existing = shard.find(fresh->hash, fresh->key)) {
            // Swapping keeps the node's place in the table; the old value is
            // destroyed with `fresh` after the lock is released.
            using std::swap;
            swap(existing->entry, fresh->entry);
            shard.restamp(existing, fresh->stamp);
            if (exclusive_hits_) {
                shard.promote(existing);
            } else if (track_references_) {
                Shard::touch(existing);
            }
            dead.bury(fresh.release());
            return;
        }
        if (shard.full()) make_room(shard, now, dead);
        shard.insert(fresh.get());
        fresh.release();
    }

    // Exclusive lock held; the shard is full. An expired entry goes first.
    void make_room(Shard& shard, TimePoint now, NodeGraveyard& dead) {
        if (has_ttl_) {
            Node* oldest = shard.oldest();
            if (oldest != nullptr && expired(*oldest, now)) {
                expire(shard, oldest, dead);
                return;
            }
        }
        Node* victim = shard.victim();
        shard.remove(victim);
        dead.bury(victim);
        ++shard.evictions;
    }

    void erase_locked(Shard& shard, std::uint64_t h, const Key& key, NodeGraveyard& dead) {
        if (Node* node = shard.find(h, key)) {
            shard.remove(node);
            dead.bury(node);
        }
    }

    void remove_if_expired(Shard& shard, std::uint64_t h, const Key& key, TimePoint now, NodeGraveyard& dead) {
        Node* node = shard.find(h, key);
        if (node != nullptr && expired(*node, now)) expire(shard, node, dead);
    }

    void expire(Shard& shard, Node* node, NodeGraveyard& dead) noexcept {
        shard.remove(node);
        dead.bury(node);
        ++shard.expirations;
    }

    // Removes up to `limit` expired entries, oldest first. Exclusive lock held.
    std::size_t reap(Shard& shard, TimePoint now, NodeGraveyard& dead, std::size_t limit = reap_per_write) {
        std::size_t removed = 0;
        while (removed < limit) {
            Node* oldest = shard.oldest();
            if (oldest == nullptr || !expired(*oldest, now)) break;
            expire(shard, oldest, dead);
            ++removed;
        }
        return removed;
    }

    // Hashes each key once and orders positions by shard (then by position, so
    // a later duplicate in set_multi is applied last).
    template <class HashAt>
    std::vector<Slot> group_by_shard(std::size_t count, HashAt hash_at) const {
        std::vector<Slot> slots;
        slots.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
            const std::uint64_t h = hash_at(i);
            slots.push_back(Slot{shard_index(h), i, h});
        }
        std::sort(slots.begin(), slots.end(), [](const Slot& a, const Slot& b) {
            return a.shard != b.shard ? a.shard < b.shard : a.index < b.index;
        });
        return slots;
    }

    template <class Fn>
    void for_each_run(const std::vector<Slot>& slots, Fn fn) const {
        const Slot* first = slots.data();
        const Slot* end = first + slots.size();
        while (first != end) {
            const Slot* last = first;
            while (last != end && last->shard == first->shard) ++last;
            fn(shards_[first->shard], first, last);
            first = last;
        }
    }

    MemoryBackendOptions options_;
    Hash hash_;
    std::unique_ptr<Shard[]> shards_;
    std::size_t shard_count_ = 0;
    std::uint64_t shard_mask_ = 0;
    Duration ttl_{};
    bool has_ttl_ = false;
    bool exclusive_hits_ = false;     // bounded LRU: a hit reorders, so it needs the exclusive lock
    bool track_references_ = false;  // bounded CLOCK: a hit sets the reference bit
};

}  // namespace dogpile
