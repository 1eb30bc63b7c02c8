#pragma once
// The entry node of the sharded in-process table (sharded_table.hpp) and the
// graveyard that holds nodes removed under a shard's lock until it is released.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "../../cached_value.hpp"

namespace dogpile::details {

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
struct TableNode {
    using key_type = Key;

    TableNode(std::uint64_t h, const Key& k, CachedValue<Value> e) : hash(h), key(k), entry(std::move(e)) {}

    // Lookup fields first: a hit touches only this node's first cache lines.
    const std::uint64_t hash;
    TableNode* bucket_next = nullptr;     // also links the node in a graveyard
    std::atomic<bool> referenced{false};  // CLOCK bit, set by readers under the shared lock
    std::uint8_t policy_segment = 0;      // which list of a segmented policy holds it (W-TinyLFU)
    std::uint32_t weight = 1;             // its cost against a weight bound; 1 when counting entries
    // W-TinyLFU's clock (tiny_lfu_eviction.hpp) at the last access, and the
    // distance between the last two (0xFFFFFFFF: unknown, for a new key).
    std::uint32_t policy_stamp = 0;
    std::uint32_t policy_reuse = 0xFFFFFFFFu;
    const Key key;
    CachedValue<Value> entry;
    TimePoint stamp{};  // age basis for ttl
    // Eviction order, owned by the shard's eviction policy (eviction.hpp).
    TableNode* prev = nullptr;
    TableNode* next = nullptr;
    std::size_t heap_index = 0;  // position in the shard's expiry heap
};

// Nodes unlinked under a shard's lock and destroyed with the graveyard, after
// the lock is released, so value destructors never run while other threads
// wait for the lock. Two kinds: nodes whose key left the table, and nodes that
// only carry the old value of a key written again (its key stays). Burying
// never allocates, so it never throws.
template <class Node>
class NodeGraveyard {
public:
    NodeGraveyard() = default;
    NodeGraveyard(const NodeGraveyard&) = delete;
    NodeGraveyard& operator=(const NodeGraveyard&) = delete;
    ~NodeGraveyard() {
        destroy(departed_);
        destroy(replaced_);
    }

    void bury_departed(Node* node) noexcept { push(departed_, node); }
    void bury_replaced(Node* node) noexcept { push(replaced_, node); }

    // The nodes whose key left the table (evicted, expired, erased, dropped).
    template <class Fn>
    void for_each_departed(Fn fn) const {
        for (const Node* n = departed_; n != nullptr; n = n->bucket_next) fn(*n);
    }

private:
    static void push(Node*& head, Node* node) noexcept {
        node->bucket_next = head;
        head = node;
    }

    static void destroy(Node* head) noexcept {
        while (head != nullptr) {
            Node* next = head->bucket_next;
            delete head;
            head = next;
        }
    }

    Node* departed_ = nullptr;
    Node* replaced_ = nullptr;
};

// Declared before a lock, so that once the lock is released it shows `dead`
// to `notify` (which must not throw), then destroys it.
template <class Node, class Notify>
class GraveyardNotice {
public:
    explicit GraveyardNotice(Notify& notify) : notify_(notify) {}
    GraveyardNotice(const GraveyardNotice&) = delete;
    GraveyardNotice& operator=(const GraveyardNotice&) = delete;
    ~GraveyardNotice() { notify_(dead); }

    NodeGraveyard<Node> dead;

private:
    Notify& notify_;
};

}  // namespace dogpile::details
