#pragma once
/// \file
/// RedisHashStore: the byte store behind RedisHashBackend (hash.hpp): an entry
/// is a field of a Redis hash, HashKey{hash, field} -> bytes, and the TTL
/// lives on the hash, set by an atomic Lua script as options.ttl_policy says.
/// Usable on its own for bytes; RedisHashBackend<Value, Codec> adds the codec.
///
/// Redis commands per operation (one round trip each, NOSCRIPT reloads aside):
///   get          HGET hash field
///   get_multi    one HMGET per distinct hash (split every max_fields_per_read
///                fields), all pipelined; with 32+ fields of one hash also an
///                HLEN, or HGETALL instead when the hash is known to be small
///                (options.whole_hash_reads)
///   set          EVALSHA hset-with-expiry (ttl_policy none: HSET)
///   set_multi    one script call per hash (split every max_fields_per_call
///                fields), all pipelined
///   erase        HDEL;  erase_multi: one HDEL per hash, pipelined
///   erase_hash   DEL hash
///
/// Thread-safe: the client's pool serves concurrent calls.

#include <algorithm>
#include <cstddef>
#include <functional>
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
#include "../../redis/command.hpp"
#include "../../redis/lock.hpp"
#include "../../redis/reply.hpp"
#include "../../redis/script.hpp"
#include "backend_options.hpp"
#include "details/hash_fields.hpp"
#include "details/hash_scripts.hpp"
#include "details/whole_hash_reads.hpp"
#include "hash_key.hpp"
#include "keyed_bytes.hpp"

namespace dogpile {

using redis::HashKey;
using redis::HashKeyScheme;

/// How a RedisHashStore (and RedisHashBackend) reaches Redis and lays out its hashes.
struct RedisHashBackendOptions {
    std::shared_ptr<redis::Client> client{};  ///< the connection to Redis; required
    /// The TTL of each hash, applied as ttl_policy says. Required unless
    /// ttl_policy is none (which must not have one).
    std::optional<Duration> ttl{};
    redis::TtlPolicy ttl_policy = redis::TtlPolicy::on_create;  ///< when a hash gets its TTL
    /// Codec bytes only, or with the envelope.
    redis::PayloadMode payload = redis::PayloadMode::raw;
    /// When set, get_mutex() hands the region a Redis lock (redis/lock.hpp) so
    /// creators in other processes are serialized too; its resource name is
    /// RedisHashStore::lock_resource(key).
    std::optional<redis::LockOptions> distributed_lock{};
    redis::BackendLimits limits{};         ///< key and payload ceilings, checked on write and read
    redis::BackendErrorHook error_hook{};  ///< told of the errors get_multi absorbs
    /// How many fields of one hash a single command carries, one knob per
    /// direction; a hash with more is split over several commands, all still in
    /// one round trip.
    /// Writes: field/value pairs per script call (or HSET) in set_multi. At
    /// most redis::details::max_pairs_per_script_call (Lua's unpack() limit).
    std::size_t max_fields_per_call = 1000;
    /// Reads: fields per HMGET in get_multi. Keeps each reply under the
    /// server's client-output-buffer-limit for normal clients, past which it
    /// closes the connection and every key of the call is lost: size it so
    /// that this many values fit under that limit.
    std::size_t max_fields_per_read = 1000;
    /// A get_multi asking for most fields of a small hash reads it with one
    /// HGETALL (details/whole_hash_reads.hpp: far less server time than HMGET
    /// on a small hash). Needs +hlen +hgetall in an ACL; without them the store
    /// notices the refusal and keeps to HMGET. std::nullopt: HMGET only.
    std::optional<redis::WholeHashReadOptions> whole_hash_reads = redis::WholeHashReadOptions{};

    /// Throws ConfigurationError for options that cannot work.
    void validate() const;
};

namespace redis {

/// The byte store behind RedisHashBackend: an entry is a field of a Redis hash, and the TTL lives
/// on the hash (hash_store.hpp lists the commands of each operation). Thread-safe.
class RedisHashStore : public details::StoreStatistics {
public:
    /// The key of an entry: a hash and a field.
    using key_type = HashKey;
    /// What the constructor takes.
    using options_type = RedisHashBackendOptions;

    /// Throws ConfigurationError for invalid options (see validate()).
    explicit RedisHashStore(RedisHashBackendOptions options);

    /// HGET: the stored bytes, or std::nullopt. Throws LimitExceeded for an
    /// over-long key (nothing is sent).
    std::optional<Reply> get(const HashKey& key) const;

    /// Grouped HMGETs in one round trip (details::read_fields).
    std::vector<std::optional<Reply>> get_multi(const std::vector<HashKey>& keys) const;

    /// Stores `bytes` in the field and gives the hash its TTL as ttl_policy says: one script call
    /// (HSET with ttl_policy none). Throws LimitExceeded for an over-limit key (nothing is sent).
    void set(const HashKey& key, std::string bytes);

    /// Every key is checked before anything is sent, so an over-limit key
    /// fails the whole call and writes nothing.
    void set_multi(std::vector<KeyedBytes<HashKey>> writes);

    /// HDEL of the field; the hash and its other fields stay.
    void erase(const HashKey& key);

    /// One HDEL per hash, all in one round trip.
    void erase_multi(const std::vector<HashKey>& keys);

    /// Deletes the whole hash, i.e. every entry of one id_a: one DEL.
    void erase_hash(std::string_view hash);

    /// A Redis lock (nullptr without options.distributed_lock).
    std::unique_ptr<Mutex> get_mutex(const HashKey& key);
    /// The distributed locks (nullptr without options.distributed_lock): their
    /// lost-reply statistics.
    const DistributedLocks* distributed_locks() const noexcept { return locks_.get(); }

    /// The distributed lock's resource for `key`: `<hash length>:<hash>|<field>`
    /// (the lock's Redis key is LockOptions::prefix followed by it). The length
    /// keeps it unambiguous whatever bytes the hash and field hold.
    static std::string lock_resource(const HashKey& key) {
        return details::hash_field_lock_resource(key.hash, key.field);
    }

    /// The options it was made with.
    const RedisHashBackendOptions& options() const noexcept { return options_; }
    /// The ceilings on keys and payloads.
    const BackendLimits& limits() const noexcept { return options_.limits; }
    /// Whether stored bytes carry the envelope.
    PayloadMode payload_mode() const noexcept { return options_.payload; }

    /// The entry in error messages.
    static std::string describe(const HashKey& key) { return details::describe_field(key.hash, key.field); }

private:
    Client& client() const noexcept { return *options_.client; }

    const char* ttl_mode() const noexcept {
        return options_.ttl_policy == TtlPolicy::refresh_on_write ? details::ttl_refresh : details::ttl_on_create;
    }

    RedisHashBackendOptions options_;
    std::string ttl_arg_;
    // Shared so the store stays copyable; the sizes it learns are a cache.
    std::shared_ptr<details::WholeHashReads> whole_hash_;
    details::StoreLocks locks_{options_.client, options_.distributed_lock, options_.error_hook};  // after options_
};

}  // namespace redis

using redis::RedisHashStore;

/// For NearCacheBackend: an entry lives in the hash key.hash, so an
/// invalidation of the hash drops all of its fields.
std::function<std::string(const redis::HashKey&)> hash_store_redis_keys();

/// hash_store_redis_keys(), picked by the store's type.
std::function<std::string(const redis::HashKey&)> redis_keys_of(const RedisHashStore& /*store*/);

}  // namespace dogpile

#if DOGPILE_INCLUDE_DEFINITIONS
#include "hash_store-inl.hpp"
#endif
