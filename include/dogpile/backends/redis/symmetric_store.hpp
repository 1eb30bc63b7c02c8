#pragma once
/// \file
/// RedisSymmetricStore: the byte store behind RedisSymmetricBackend
/// (symmetric.hpp, whose header comment says what each mode guarantees): the
/// value of a pair (a, b) is kept in both directions, `a2b-a|<a>` field `<b>` and
/// its mirror `a2b-b|<b>` field `<a>`, with the same bytes. Usable on its own for
/// bytes; RedisSymmetricBackend<Value, Codec> adds the codec.
///
/// Thread-safe: the client's pool serves concurrent calls.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../details/linkage.hpp"
#include "../../errors.hpp"
#include "../../mutex.hpp"
#include "../../redis/client.hpp"
#include "../../redis/lock.hpp"
#include "../../redis/reply.hpp"
#include "../../redis/script.hpp"
#include "a2b_key.hpp"
#include "backend_options.hpp"
#include "details/hash_fields.hpp"
#include "details/hash_scripts.hpp"
#include "details/symmetric_per_node.hpp"
#include "keyed_bytes.hpp"

namespace dogpile {

/// How a RedisSymmetricStore (and RedisSymmetricBackend) reaches Redis and lays out both
/// directions.
struct RedisSymmetricBackendOptions {
    std::shared_ptr<redis::Client> client{};  ///< the connection to Redis; required
    /// The TTL of each hash, applied as ttl_policy says (to both directions).
    /// Required unless ttl_policy is none (which must not have one).
    std::optional<Duration> ttl{};
    redis::TtlPolicy ttl_policy = redis::TtlPolicy::on_create;  ///< when a hash gets its TTL
    /// Codec bytes only, or with the envelope.
    redis::PayloadMode payload = redis::PayloadMode::raw;
    /// Hash key prefixes of the two directions. Neither may be a prefix of the
    /// other, or an a-hash and a b-hash could be the same key.
    std::string a_prefix = "a2b-a|";
    std::string b_prefix = "a2b-b|";  ///< the b-side prefix; see a_prefix
    /// When set, get_mutex() hands the region a Redis lock (redis/lock.hpp)
    /// whose resource is RedisSymmetricStore::lock_resource(key).
    std::optional<redis::LockOptions> distributed_lock{};
    redis::BackendLimits limits{};         ///< key and payload ceilings, checked on write and read
    redis::BackendErrorHook error_hook{};  ///< told of the errors get_multi absorbs
    /// How many pairs of one a a single command carries, one knob per
    /// direction (pairs are grouped by a); more are split over several
    /// commands, all still in one round trip.
    /// Writes: pairs per script call in set_multi; bounds how long one call
    /// keeps Redis busy. At most redis::details::max_pairs_per_script_call.
    std::size_t max_pairs_per_call = 1000;
    /// Reads: pairs (fields of the a-side hash) per HMGET in get_multi. Keeps
    /// each reply under the server's client-output-buffer-limit for normal
    /// clients, past which it closes the connection and every key of the call
    /// is lost (see RedisHashBackendOptions::max_fields_per_read).
    std::size_t max_pairs_per_read = 1000;
    /// atomic: one script per operation (one server, or a cluster with a and b
    /// under one hash tag). per_node: one-hash steps, for a cluster whose ids
    /// are not co-located. symmetric.hpp says what each guarantees.
    redis::SymmetricMode mode = redis::SymmetricMode::atomic;

    /// Throws ConfigurationError for options that cannot work.
    void validate() const;
};

namespace redis {

/// The byte store behind RedisSymmetricBackend: the value of a pair (a, b) is kept in both
/// directions, field b of hash a_prefix + a and field a of hash b_prefix + b, with the same bytes.
/// Thread-safe.
class RedisSymmetricStore : public details::StoreStatistics {
public:
    /// The key of an entry: the pair (a, b).
    using key_type = A2BKey;
    /// What the constructor takes.
    using options_type = RedisSymmetricBackendOptions;

    /// Throws ConfigurationError for invalid options (see validate()).
    explicit RedisSymmetricStore(RedisSymmetricBackendOptions options);

    /// `HGET a2b-a|<a> <b>`: the stored bytes, or std::nullopt.
    std::optional<Reply> get(const A2BKey& key) const;

    /// One HMGET per distinct a (split every max_pairs_per_read pairs), all
    /// pipelined (one round trip).
    std::vector<std::optional<Reply>> get_multi(const std::vector<A2BKey>& keys) const;

    /// Stores the pair in both directions: one script (atomic), or the mirror, then the entry
    /// (per_node). Throws LimitExceeded for an over-limit key (nothing is sent).
    void set(const A2BKey& key, std::string bytes);

    /// atomic: one script call per a (split every max_pairs_per_call pairs),
    /// all pipelined. per_node: all mirrors, then all entries (one call per a).
    /// Every pair is checked and encoded before anything is sent.
    void set_multi(std::vector<KeyedBytes<A2BKey>> writes);

    /// Removes the pair from both directions: in one script (atomic), or the
    /// entry, then its mirror (per_node).
    void erase(const A2BKey& key);

    /// atomic: one script per pair, all pipelined. per_node: all the entries,
    /// then all the mirrors.
    void erase_multi(const std::vector<A2BKey>& keys);

    /// Drops every pair (a, *) from both directions (atomically in atomic
    /// mode). Returns how many pairs there were.
    std::size_t invalidate_a(std::string_view a);

    /// Drops every pair (*, b) from both directions (atomically in atomic
    /// mode). Returns how many pairs there were.
    std::size_t invalidate_b(std::string_view b);

    /// The a-side hash of `a`: a_prefix + a.
    std::string hash_of_a(std::string_view a) const { return options_.a_prefix + std::string(a); }
    /// The b-side hash of `b`: b_prefix + b.
    std::string hash_of_b(std::string_view b) const { return options_.b_prefix + std::string(b); }

    /// A Redis lock (nullptr without options.distributed_lock).
    std::unique_ptr<Mutex> get_mutex(const A2BKey& key);
    /// The distributed locks (nullptr without options.distributed_lock): their
    /// lost-reply statistics.
    const DistributedLocks* distributed_locks() const noexcept { return locks_.get(); }

    /// The distributed lock's resource for `key`: that of the a-side field,
    /// `<length of a2b-a|<a>>:a2b-a|<a>|<b>` (see RedisHashStore::lock_resource).
    std::string lock_resource(const A2BKey& key) const;

    /// The options it was made with.
    const RedisSymmetricBackendOptions& options() const noexcept { return options_; }
    /// The ceilings on keys and payloads.
    const BackendLimits& limits() const noexcept { return options_.limits; }
    /// Whether stored bytes carry the envelope.
    PayloadMode payload_mode() const noexcept { return options_.payload; }

    /// The entry in error messages: its a-side field.
    std::string describe(const A2BKey& key) const { return details::describe_field(hash_of_a(key.a), key.b); }

private:
    // ttl_ms "0" (TtlPolicy::none) means plain HSET in the per-node steps and
    // no PEXPIRE in the write script.
    static details::SymmetricLayout layout_of(const RedisSymmetricBackendOptions& o);

    bool per_node() const noexcept { return options_.mode == SymmetricMode::per_node; }

    // Both hash keys and both fields of the pair within limits.
    void check_pair(const A2BKey& key) const;

    // --- the atomic mode's scripts (see "Modes" in the header comment) ------

    // symmetric_write_script: KEYS a-hash, b-hash...; ARGV ttl, mode, a, (b, payload)...
    // for the `count` writes at `positions` (all of one a); their bytes are moved into the call.
    ScriptCall write_call(std::string_view a, std::vector<KeyedBytes<A2BKey>>& writes, const std::size_t* positions,
                          std::size_t count) const;

    // hdel_each_script: HDEL a-hash b, HDEL b-hash a.
    ScriptCall erase_call(const A2BKey& key) const;

    std::size_t invalidate(std::string hash, details::SymmetricSide side, const std::string& mirror_prefix,
                           std::string_view id);

    Client& client() const noexcept { return *options_.client; }

    RedisSymmetricBackendOptions options_;
    details::SymmetricLayout layout_;
    details::StoreLocks locks_{options_.client, options_.distributed_lock, options_.error_hook};  // after options_
};

}  // namespace redis

using redis::RedisSymmetricStore;

}  // namespace dogpile

#if DOGPILE_INCLUDE_DEFINITIONS
#include "symmetric_store-inl.hpp"
#endif
