#pragma once
// EvictionPolicy (public: MemoryBackendOptions and NearCacheOptions name it)
// and the seam where a policy plugs into the sharded table.
//
// A policy is a class template over the node type with this interface; every
// call is made under the shard's exclusive lock, except record_hit from a
// reader when hit_recording is under_shared_lock, and buffer_hit when it is
// buffered (hit_recording.hpp):
//   static constexpr HitRecording hit_recording;
//   void admit(Node*) noexcept;       a node entering the shard
//   void forget(Node*) noexcept;      a node leaving it (evicted, expired, erased)
//   void record_hit(Node*) noexcept;  a read hit or a rewrite of the node
//   Node* victim() noexcept;          the node to give up; the shard is not empty
//   for_each(fn) const; reset() noexcept;  every node; forget all of them
// A buffered policy also has void buffer_hit(Node*) noexcept (thread-safe)
// and attach(TinyLfuShared&, budget, read_slots) for its table-wide state.
// Adding a policy: an enumerator below, its header, and one line in each
// dispatch of Eviction. (A full shard's "victim" under W-TinyLFU is the loser
// of its admission contest, which may be the window's candidate.)

#include <cstddef>
#include <cstdint>
#include <optional>
#include <variant>

#include "clock_eviction.hpp"
#include "hit_recording.hpp"
#include "lru_eviction.hpp"
#include "tiny_lfu_eviction.hpp"

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
    // W-TinyLFU (tiny_lfu_eviction.hpp), the default: a new entry must beat
    // the entry it would displace on estimated frequency, so one-hit keys and
    // scans do not flush popular entries; adapts between recency and
    // frequency. Readers keep the shared lock (hits are buffered).
    tiny_lfu,
};

namespace details {

// Capacity in weight units and the table-wide state of a shard's policy.
struct EvictionSetup {
    std::size_t budget = 0;           // the shard's bound; 0 when unbounded
    TinyLfuShared* shared = nullptr;  // set for tiny_lfu on a bounded table
    std::size_t read_slots = 16;      // the shard's read buffer (tiny_lfu)
};

// The policy of one shard, chosen at run time.
template <class Node>
class Eviction {
public:
    explicit Eviction(EvictionPolicy policy = EvictionPolicy::clock) { choose(policy); }

    // Without `setup.shared`, tiny_lfu falls back to clock: an unbounded
    // table never evicts, and its hits need no bookkeeping at all.
    void choose(EvictionPolicy policy, EvictionSetup setup = {}) {
        if (policy == EvictionPolicy::tiny_lfu && setup.shared == nullptr) policy = EvictionPolicy::clock;
        switch (policy) {
            case EvictionPolicy::tiny_lfu:
                policy_.template emplace<TinyLfuEviction<Node>>().attach(*setup.shared, setup.budget, setup.read_slots);
                return;
            case EvictionPolicy::clock: policy_.template emplace<ClockEviction<Node>>(); return;
            case EvictionPolicy::lru: policy_.template emplace<LruEviction<Node>>(); return;
        }
    }

    static HitRecording hit_recording(EvictionPolicy policy) noexcept {
        switch (policy) {
            case EvictionPolicy::tiny_lfu: return TinyLfuEviction<Node>::hit_recording;
            case EvictionPolicy::clock: return ClockEviction<Node>::hit_recording;
            case EvictionPolicy::lru: return LruEviction<Node>::hit_recording;
        }
        return HitRecording::under_exclusive_lock;
    }

    void admit(Node* node) noexcept {
        dispatch([node](auto& p) { p.admit(node); });
    }
    void forget(Node* node) noexcept {
        dispatch([node](auto& p) { p.forget(node); });
    }
    void record_hit(Node* node) noexcept {
        dispatch([node](auto& p) { p.record_hit(node); });
    }
    // Only for a buffered policy.
    void buffer_hit(Node* node) noexcept {
        if (auto* tiny = std::get_if<TinyLfuEviction<Node>>(&policy_)) tiny->buffer_hit(node);
    }
    // The W-TinyLFU window bound, for tests; std::nullopt under another policy.
    std::optional<std::size_t> window_max() const noexcept {
        if (auto* tiny = std::get_if<TinyLfuEviction<Node>>(&policy_)) return tiny->window_max();
        return std::nullopt;
    }

    Node* victim() noexcept {
        return dispatch([](auto& p) { return p.victim(); });
    }
    template <class Fn>
    void for_each(Fn fn) const {
        dispatch([&fn](const auto& p) { p.for_each(fn); });
    }
    void reset() noexcept {
        dispatch([](auto& p) { p.reset(); });
    }

private:
    // A chain of get_if rather than std::visit: a predictable compare or two
    // on the hit path (the default policy first), and nothing that can throw.
    template <class Self, class Fn>
    static decltype(auto) dispatch_on(Self& self, Fn&& fn) {
        if (auto* tiny = std::get_if<TinyLfuEviction<Node>>(&self.policy_)) return fn(*tiny);
        if (auto* lru = std::get_if<LruEviction<Node>>(&self.policy_)) return fn(*lru);
        return fn(*std::get_if<ClockEviction<Node>>(&self.policy_));
    }
    template <class Fn>
    decltype(auto) dispatch(Fn&& fn) {
        return dispatch_on(*this, fn);
    }
    template <class Fn>
    decltype(auto) dispatch(Fn&& fn) const {
        return dispatch_on(*this, fn);
    }

    std::variant<ClockEviction<Node>, LruEviction<Node>, TinyLfuEviction<Node>> policy_;
};

}  // namespace details
}  // namespace dogpile
