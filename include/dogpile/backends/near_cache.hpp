#pragma once
// NearCacheBackend<Value, Key>: a bounded in-process tier in front of a Redis
// backend (RedisBackend, RedisHashBackend, or any backend on a tracked
// client), kept coherent by Redis itself through server-assisted client-side
// caching (redis/tracking.hpp). A hit in the near tier costs no round trip
// and no decode: it is a MemoryBackend hit.
//
//   auto listener = std::make_shared<redis::InvalidationListener>(redis::TrackingOptions{connection_options});
//   auto client = redis::make_tracked_client(*listener, pool_options);
//   auto remote = std::make_shared<RedisHashBackend<Flags, FlagsCodec>>(
//       RedisHashBackendOptions{client, std::chrono::hours(1)}, FlagsCodec{key_template});
//   NearCacheOptions<HashKey> near{listener, redis_keys_of(*remote)};
//   near.capacity = 100'000;
//   auto backend = std::make_shared<NearCacheBackend<Flags, HashKey>>(remote, near);
//   Region<Flags, HashKey> region(backend);
//
// Reads: near tier first; misses go to the remote backend and what comes back
// is kept, unless something could have made it stale meanwhile (below).
// get_multi serves the hits from memory and asks the remote backend for the
// misses only, in one call.
// Writes (set, erase and their _multi forms) go to the remote backend, then
// drop the near entries under the Redis keys written (the invalidation
// message follows, for this process and every other one).
// get_mutex() is the remote backend's.
//
// Coherence:
// * Redis invalidates Redis keys. NearCacheOptions::redis_key maps a cache key
//   to the Redis key holding it (each Redis store header offers redis_keys_of(backend)), and an
//   invalidation drops every entry under that key: for the hash store, a write
//   to one field (or a DEL of the hash, a logout) drops all of that id_a's
//   fields, as Redis reports the hash as a whole.
// * A read in flight while its key is invalidated must not store the value
//   it got after the invalidation was applied (the write that caused it may
//   be newer). Each read takes a ticket before going to Redis; the insert is
//   refused when the key was invalidated, or the near tier flushed, since
//   (details/near_store.hpp).
// * While the listener is not tracking (connecting, reconnecting, Redis
//   down) the near tier is bypassed: reads go to the remote backend and keep
//   nothing. Every session edge, FLUSHALL/FLUSHDB, and the loss of a tracked
//   data connection flush it. A value is kept only if the read provably ran
//   on connections tracked in the current session.
// * ttl bounds how long an entry is served without Redis being asked,
//   in case an invalidation was lost anyway (see redis/tracking.hpp).
//
// Writes that bypass this backend in this process (e.g.
// RedisHashBackend::erase_hash on the remote) are seen when their
// invalidation message arrives; call invalidate_near() right after them for
// read-your-writes within the process.
//
// Thread-safe.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../cached_value.hpp"
#include "../clock.hpp"
#include "../details/atomic_counters.hpp"
#include "../details/striped_counter.hpp"
#include "../errors.hpp"
#include "../mutex.hpp"
#include "../redis/tracking.hpp"
#include "details/eviction.hpp"
#include "details/near_store.hpp"

namespace dogpile {

/// Which Redis key holds a cache key's entry: an invalidation of that Redis
/// key drops the entry.
template <class Key>
using RedisKeyOf = std::function<std::string(const Key&)>;

/// How a NearCacheBackend finds Redis keys, bounds its near tier and expires entries. `listener`
/// and `redis_key` are required.
template <class Key>
struct NearCacheOptions {
    /// Whose session the near tier trusts; the remote backend's client must be
    /// made with make_tracked_client() / listener->instrument() on it
    /// (standard mode). Required.
    std::shared_ptr<redis::InvalidationListener> listener{};
    /// Cache key -> Redis key (see redis_keys_of()). Required.
    RedisKeyOf<Key> redis_key{};
    /// Entries held in memory, split across `shards` (a power of two).
    std::size_t capacity = 10000;
    /// W-TinyLFU keeps the frequently read entries when the working set is
    /// larger than the capacity (see MemoryBackendOptions::eviction).
    EvictionPolicy eviction = EvictionPolicy::tiny_lfu;
    std::size_t shards = 16;  ///< a power of two; more shards, less lock contention
    /// A second line of defence: an entry older than this (counted from when
    /// the near tier got it) is not served but read again. std::nullopt: none.
    std::optional<Duration> ttl{};
    /// Time source for ttl (tests inject a manual clock); when set, clock_policy is ignored.
    std::function<TimePoint()> clock{};
    /// Test seam: called on the reading thread after a remote read returned a
    /// value and before the near tier may keep it.
    std::function<void(const Key&)> before_near_insert{};
    /// The clock ttl checks read (clock.hpp), only with a ttl: with `coarse`
    /// an entry may be served up to one tick longer than the ttl.
    ClockPolicy clock_policy = default_clock_policy;

    /// Throws ConfigurationError when `listener` or `redis_key` is missing.
    void validate() const {
        if (!listener) throw ConfigurationError("NearCacheBackend: options.listener must not be null");
        if (!redis_key) {
            throw ConfigurationError(
                "NearCacheBackend: options.redis_key is required (redis_keys_of(backend), hash_store_redis_keys() or "
                "string_store_redis_keys(prefix))");
        }
    }
};

/// What NearCacheBackend::stats() returns: counters since construction.
struct NearCacheStats {
    std::uint64_t hits = 0;       ///< served from memory
    std::uint64_t misses = 0;     ///< asked the remote backend while tracking
    std::uint64_t bypassed = 0;   ///< asked the remote backend: the listener was not tracking
    std::uint64_t uncovered = 0;  ///< keys outside the listener's broadcast prefixes: never kept
    std::uint64_t stored = 0;     ///< remote results kept
    /// Remote results not kept because their key was invalidated (or the near
    /// tier flushed) while the read was in flight.
    std::uint64_t raced = 0;
    /// Remote results not kept because the read did not run on connections
    /// tracked in the current session: around reconnects, or always if the
    /// remote backend's client was not made with make_tracked_client().
    std::uint64_t untracked = 0;
    std::uint64_t invalidated = 0;  ///< entries dropped by invalidations and local writes
    std::uint64_t flushes = 0;      ///< times the whole near tier was dropped
    std::uint64_t evictions = 0;    ///< entries dropped to respect the capacity
    std::uint64_t expirations = 0;  ///< entries dropped for being older than ttl
};

/// A bounded in-process tier in front of a Redis backend, kept coherent by Redis server-assisted
/// client-side caching (redis/tracking.hpp): a hit costs no round trip and no decode. Reads try the
/// near tier first; writes go to the remote backend, then drop the near entries under the Redis
/// keys written. While the listener is not tracking, the near tier is bypassed. Thread-safe.
template <class Value, class Key = std::string, class Hash = std::hash<Key>>
class NearCacheBackend final : public Backend<Value, Key>, private redis::InvalidationSink {
public:
    using base_type = Backend<Value, Key>;  ///< the interface it implements
    using typename base_type::entry_type;
    using remote_type = Backend<Value, Key>;     ///< the backend behind the near tier
    using options_type = NearCacheOptions<Key>;  ///< its options

    /// Throws ConfigurationError for a null remote backend or invalid options.
    NearCacheBackend(std::shared_ptr<remote_type> remote, NearCacheOptions<Key> options, Hash hash = Hash{})
        : remote_(checked(std::move(remote))),
          options_(validated(std::move(options))),
          listener_(options_.listener),
          store_(store_options(options_), options_.redis_key, std::move(hash)) {
        subscription_ = listener_->subscribe(*this);
    }

    NearCacheBackend(const NearCacheBackend&) = delete;
    NearCacheBackend& operator=(const NearCacheBackend&) = delete;

    /// From the near tier when held and fresh; else from the remote backend, and kept unless the
    /// key was invalidated meanwhile or the read was not tracked.
    std::optional<entry_type> get(const Key& key) override {
        if (!listener_->tracking()) {
            counters_.add<&NearCacheStats::bypassed>();
            return remote_->get(key);
        }
        if (auto hit = store_.get(key)) {
            hits_.add();
            return hit;
        }
        counters_.add<&NearCacheStats::misses>();
        std::string redis_key = store_.redis_key_of(key);
        if (!listener_->covers(redis_key)) {
            counters_.add<&NearCacheStats::uncovered>();
            return remote_->get(key);
        }
        const std::uint64_t session = listener_->begin_read();
        const auto ticket = store_.ticket(std::move(redis_key));
        std::optional<entry_type> value = remote_->get(key);
        if (value) keep(key, *value, ticket, session);
        return value;
    }

    /// Hits from memory; the misses in one remote get_multi.
    std::vector<std::optional<entry_type>> get_multi(const std::vector<Key>& keys) override {
        if (!listener_->tracking()) {
            counters_.add<&NearCacheStats::bypassed>(keys.size());
            return remote_->get_multi(keys);
        }
        std::vector<std::optional<entry_type>> out(keys.size());
        std::vector<std::size_t> missing;
        for (std::size_t i = 0; i < keys.size(); ++i) {
            out[i] = store_.get(keys[i]);
            if (!out[i]) missing.push_back(i);
        }
        hits_.add(keys.size() - missing.size());
        if (missing.empty()) return out;
        counters_.add<&NearCacheStats::misses>(missing.size());

        std::vector<Key> remote_keys;
        remote_keys.reserve(missing.size());
        std::vector<std::optional<typename Store::Ticket>> tickets(missing.size());
        const std::uint64_t session = listener_->begin_read();
        for (std::size_t j = 0; j < missing.size(); ++j) {
            const Key& key = keys[missing[j]];
            remote_keys.push_back(key);
            std::string redis_key = store_.redis_key_of(key);
            if (listener_->covers(redis_key)) {
                tickets[j] = store_.ticket(std::move(redis_key));
            } else {
                counters_.add<&NearCacheStats::uncovered>();
            }
        }
        std::vector<std::optional<entry_type>> fetched = remote_->get_multi(remote_keys);
        if (fetched.size() != remote_keys.size()) {
            throw BackendError("NearCacheBackend: the remote get_multi returned " + std::to_string(fetched.size()) +
                               " results for " + std::to_string(remote_keys.size()) + " keys");
        }
        for (std::size_t j = 0; j < missing.size(); ++j) {
            if (fetched[j] && tickets[j]) keep(remote_keys[j], *fetched[j], *tickets[j], session);
            out[missing[j]] = std::move(fetched[j]);
        }
        return out;
    }

    /// Writes to the remote backend, then drops the near entries under the key's Redis key.
    void set(const Key& key, const entry_type& entry) override {
        const std::string redis_key = store_.redis_key_of(key);
        written_after([&] { remote_->set(key, entry); }, {redis_key});
    }

    /// Writes to the remote backend in one call, then drops the near entries under the Redis keys
    /// written.
    void set_multi(const std::vector<std::pair<Key, entry_type>>& entries) override {
        std::vector<std::string> redis_keys;
        redis_keys.reserve(entries.size());
        for (const auto& entry : entries) redis_keys.push_back(store_.redis_key_of(entry.first));
        written_after([&] { remote_->set_multi(entries); }, redis_keys);
    }

    /// Erases on the remote backend, then drops the near entries under the key's Redis key.
    void erase(const Key& key) override {
        const std::string redis_key = store_.redis_key_of(key);
        written_after([&] { remote_->erase(key); }, {redis_key});
    }

    /// Erases on the remote backend in one call, then drops the near entries under the Redis keys.
    void erase_multi(const std::vector<Key>& keys) override {
        std::vector<std::string> redis_keys;
        redis_keys.reserve(keys.size());
        for (const auto& key : keys) redis_keys.push_back(store_.redis_key_of(key));
        written_after([&] { remote_->erase_multi(keys); }, redis_keys);
    }

    /// The remote backend's mutex.
    std::unique_ptr<Mutex> get_mutex(const Key& key) override { return remote_->get_mutex(key); }

    /// Drops the near entries under `redis_key` now (after a write that went
    /// around this backend), and keeps reads in flight from storing it.
    std::size_t invalidate_near(std::string_view redis_key) {
        const std::size_t dropped = store_.invalidate(redis_key);
        counters_.add<&NearCacheStats::invalidated>(dropped);
        return dropped;
    }

    /// Drops the whole near tier.
    void clear_near() {
        store_.clear();
        counters_.add<&NearCacheStats::flushes>();
    }

    /// Entries the near tier holds now.
    std::size_t near_size() const { return store_.size(); }
    /// Whether the near tier holds `key` (whether or not it would be served).
    bool near_contains(const Key& key) const { return store_.contains(key); }
    /// Cache keys listed under their Redis keys; near_size() when quiet.
    std::size_t near_index_size() const { return store_.index_size(); }

    /// The counters so far; any thread, at any time.
    NearCacheStats stats() const {
        NearCacheStats s;
        s.hits = hits_.load();
        counters_.snapshot_into(s);
        const details::NearStoreStats store = store_.stats();
        s.evictions = store.evictions;
        s.expirations = store.expirations;
        return s;
    }

    remote_type& remote() const noexcept { return *remote_; }  ///< the backend behind the near tier
    /// The backend behind the near tier, shared.
    const std::shared_ptr<remote_type>& remote_ptr() const noexcept { return remote_; }
    /// The listener whose session the near tier trusts.
    redis::InvalidationListener& listener() const noexcept { return *listener_; }
    /// The options, as validated at construction.
    const NearCacheOptions<Key>& options() const noexcept { return options_; }

private:
    using Store = details::NearStore<Value, Key, Hash>;

    // Everything NearCacheStats counts itself; hits are striped (hits_), the
    // store counts evictions and expirations.
    using Counters =
        details::AtomicCounters<NearCacheStats, &NearCacheStats::misses, &NearCacheStats::bypassed,
                                &NearCacheStats::uncovered, &NearCacheStats::stored, &NearCacheStats::raced,
                                &NearCacheStats::untracked, &NearCacheStats::invalidated, &NearCacheStats::flushes>;

    static std::shared_ptr<remote_type> checked(std::shared_ptr<remote_type> remote) {
        if (!remote) throw ConfigurationError("NearCacheBackend: the remote backend must not be null");
        return remote;
    }

    static NearCacheOptions<Key> validated(NearCacheOptions<Key> options) {
        options.validate();
        return options;
    }

    static details::NearStoreOptions store_options(const NearCacheOptions<Key>& o) {
        details::NearStoreOptions s;
        s.capacity = o.capacity;
        s.eviction = o.eviction;
        s.shards = o.shards;
        s.ttl = o.ttl;
        s.clock = o.clock;
        s.clock_policy = o.clock_policy;
        return s;
    }

    void keep(const Key& key, const entry_type& value, const typename Store::Ticket& ticket, std::uint64_t session) {
        if (options_.before_near_insert) options_.before_near_insert(key);
        if (!listener_->read_was_tracked(session)) {
            counters_.add<&NearCacheStats::untracked>();
            return;
        }
        if (store_.insert(key, value, ticket)) {
            counters_.add<&NearCacheStats::stored>();
        } else {
            counters_.add<&NearCacheStats::raced>();
        }
    }

    // Runs the remote write, then drops the near entries it made stale
    // (also when it threw: it may have happened anyway). Dropping after the
    // write also outdates reads that started before it and are still in
    // flight, so this process reads its own writes.
    template <class Write>
    void written_after(Write&& write, const std::vector<std::string>& redis_keys) {
        try {
            write();
        } catch (...) {
            drop_all(redis_keys);
            throw;
        }
        drop_all(redis_keys);
    }

    void drop_all(const std::vector<std::string>& redis_keys) noexcept {
        try {
            for (const auto& redis_key : redis_keys) invalidate_near(redis_key);
        } catch (...) {
            flush_quietly();
        }
    }

    void flush_quietly() noexcept {
        try {
            clear_near();
        } catch (...) {
            // Only allocation can fail here; nothing safer is left to do.
        }
    }

    // InvalidationSink (listener thread, or a pool hook's thread).
    void invalidate(const std::vector<std::string_view>& redis_keys) override {
        try {
            for (std::string_view redis_key : redis_keys) invalidate_near(redis_key);
        } catch (...) {
            flush_quietly();
        }
    }

    void flush(redis::FlushReason /*reason*/) override { flush_quietly(); }

    std::shared_ptr<remote_type> remote_;
    NearCacheOptions<Key> options_;
    std::shared_ptr<redis::InvalidationListener> listener_;
    Store store_;
    details::StripedCounter hits_;
    Counters counters_;
    // Last: unsubscribed (waiting for calls in progress) before the rest dies.
    redis::InvalidationListener::Subscription subscription_;
};

}  // namespace dogpile
