#pragma once
// One shard of the sharded table (sharded_table.hpp): a chained hash table of
// nodes that its eviction policy also keeps in order (eviction.hpp) and, with
// a max age, a min-heap by age stamp (expiry_heap.hpp).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "eviction.hpp"
#include "expiry_heap.hpp"
#include "striped_shared_mutex.hpp"
#include "table_node.hpp"

namespace dogpile::details {

enum class ExpiryOrder : std::uint8_t { untracked, oldest_first };

// Every member except `mutex` requires the caller to hold it: shared for
// find/size/record_hit (when the policy allows it), exclusive for the rest.
template <class Node>
class alignas(64) TableShard {
public:
    TableShard() = default;
    TableShard(const TableShard&) = delete;
    TableShard& operator=(const TableShard&) = delete;
    ~TableShard() {
        NodeGraveyard<Node> dead;
        detach_all(dead);
    }

    // `capacity` bounds the entries, `weight_bound` their total weight (the
    // owner sets at most one); setup.budget is derived from them here.
    void configure(std::optional<std::size_t> capacity, std::optional<std::size_t> weight_bound, EvictionPolicy policy,
                   ExpiryOrder expiry, EvictionSetup setup) {
        capacity_ = capacity;
        weight_bound_ = weight_bound;
        setup.budget = weight_bound ? *weight_bound : capacity.value_or(0);
        eviction_.choose(policy, setup);
        expiry_ = expiry;
        // Small bounded shards are sized once and never rehash; a large
        // capacity is a limit rather than an expected size, so it grows lazily.
        constexpr std::size_t presized_limit = 1024;
        std::size_t buckets = 16;
        if (capacity_) {
            while (buckets < *capacity_ && buckets < presized_limit) buckets *= 2;
            if (tracks_expiry()) heap_.reserve(std::min(*capacity_, presized_limit));
        }
        buckets_.assign(buckets, nullptr);
    }

    mutable StripedSharedMutex mutex;

    std::size_t size() const noexcept { return size_; }
    std::size_t weight() const noexcept { return weight_; }
    std::optional<std::size_t> weight_bound() const noexcept { return weight_bound_; }

    // Whether an entry of `incoming` weight fits only once another leaves.
    bool needs_room(std::uint32_t incoming) const noexcept {
        if (size_ == 0) return false;
        if (capacity_ && size_ >= *capacity_) return true;
        return weight_bound_ && weight_ + incoming > *weight_bound_;
    }

    Node* find(std::uint64_t hash, const typename Node::key_type& key) const {
        for (Node* n = buckets_[hash & (buckets_.size() - 1)]; n != nullptr; n = n->bucket_next) {
            if (n->hash == hash && n->key == key) return n;
        }
        return nullptr;
    }

    // Links a node whose key is absent. Strong guarantee: on throw nothing changed.
    void insert(Node* node) {
        if (size_ >= buckets_.size()) rehash(buckets_.size() * 2);
        if (tracks_expiry()) heap_.reserve_one();
        // Nothing below allocates.
        Node*& bucket = buckets_[node->hash & (buckets_.size() - 1)];
        node->bucket_next = bucket;
        bucket = node;
        eviction_.admit(node);
        if (tracks_expiry()) heap_.push(node);
        ++size_;
        weight_ += node->weight;
    }

    void remove(Node* node) noexcept {
        Node** link = &buckets_[node->hash & (buckets_.size() - 1)];
        while (*link != node) link = &(*link)->bucket_next;
        *link = node->bucket_next;
        node->bucket_next = nullptr;
        eviction_.forget(node);
        if (tracks_expiry()) heap_.erase(node);
        --size_;
        weight_ -= node->weight;
    }

    void record_hit(Node* node) noexcept { eviction_.record_hit(node); }

    // Under the shared lock, for a buffered policy.
    void buffer_hit(Node* node) noexcept { eviction_.buffer_hit(node); }

    std::optional<std::size_t> window_max() const noexcept { return eviction_.window_max(); }

    void restamp(Node* node, TimePoint stamp) noexcept {
        node->stamp = stamp;
        if (tracks_expiry()) heap_.update(node);
    }

    // The entry with the oldest age stamp (only when tracking expiry).
    Node* oldest() const noexcept { return heap_.oldest(); }

    // The entry the eviction policy gives up, still linked. Precondition: size() > 0.
    Node* victim() noexcept { return eviction_.victim(); }

    void detach_all(NodeGraveyard<Node>& dead) noexcept {
        eviction_.for_each([&dead](Node* n) { dead.bury_departed(n); });
        eviction_.reset();
        std::fill(buckets_.begin(), buckets_.end(), nullptr);
        heap_.clear();
        size_ = 0;
        weight_ = 0;
    }

    // Guarded by the exclusive lock like everything else.
    std::uint64_t evictions = 0;
    std::uint64_t expirations = 0;
    std::uint64_t rejected_too_heavy = 0;

private:
    bool tracks_expiry() const noexcept { return expiry_ == ExpiryOrder::oldest_first; }

    void rehash(std::size_t bucket_count) {
        std::vector<Node*> fresh(bucket_count, nullptr);
        eviction_.for_each([&fresh, bucket_count](Node* n) {
            Node*& bucket = fresh[n->hash & (bucket_count - 1)];
            n->bucket_next = bucket;
            bucket = n;
        });
        buckets_.swap(fresh);
    }

    std::vector<Node*> buckets_;
    ExpiryHeap<Node> heap_;
    Eviction<Node> eviction_;
    std::size_t size_ = 0;
    std::size_t weight_ = 0;
    std::optional<std::size_t> capacity_;
    std::optional<std::size_t> weight_bound_;
    ExpiryOrder expiry_ = ExpiryOrder::untracked;
};

}  // namespace dogpile::details
