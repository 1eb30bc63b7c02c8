#pragma once
/// \file
/// RedisStringStore: the byte store behind RedisBackend (plain.hpp), one Redis
/// string per cache key: key_prefix + key -> bytes. Usable on its own for
/// bytes; RedisBackend<Value, Codec> adds the codec and the envelope.
///
/// Redis commands per operation (one round trip each):
///   get GET · get_multi one MGET · set SET [PX] · set_multi SETs pipelined ·
///   erase DEL · erase_multi one DEL
///
/// Thread-safe: the client's pool serves concurrent calls.

#include <cstddef>
#include <exception>
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
#include "../../redis/errors.hpp"
#include "../../redis/lock.hpp"
#include "../../redis/reply.hpp"
#include "backend_options.hpp"
#include "details/hash_fields.hpp"
#include "details/payload.hpp"
#include "keyed_bytes.hpp"

namespace dogpile {

/// How a RedisStringStore (and RedisBackend) reaches Redis and names its keys.
struct RedisBackendOptions {
    std::shared_ptr<redis::Client> client{};  ///< the connection to Redis; required
    /// Prepended to every key ("myapp:"); part of the Redis key for the limits.
    std::string key_prefix{};
    /// SET ... PX: Redis deletes an entry this long after its last write.
    /// Independent of the region's expiration_time (which decides freshness);
    /// make it longer so stale values can still be served while regenerating.
    std::optional<Duration> ttl{};
    /// When set, get_mutex() hands the region a Redis lock (redis/lock.hpp)
    /// whose resource is the entry's Redis key (key_prefix + key).
    std::optional<redis::LockOptions> distributed_lock{};
    redis::BackendLimits limits{};         ///< key and payload ceilings, checked on write and read
    redis::BackendErrorHook error_hook{};  ///< told of the errors get_multi absorbs

    /// Throws ConfigurationError for options that cannot work.
    void validate() const;
};

namespace redis {

/// The byte store behind RedisBackend: one Redis string per cache key, key_prefix + key
/// (string_store.hpp lists the commands of each operation). Thread-safe.
class RedisStringStore : public details::StoreStatistics {
public:
    /// The cache key, without key_prefix.
    using key_type = std::string;
    /// What the constructor takes.
    using options_type = RedisBackendOptions;

    /// Throws ConfigurationError for invalid options (see validate()).
    explicit RedisStringStore(RedisBackendOptions options);

    /// The stored bytes (a string reply), or std::nullopt. Throws
    /// LimitExceeded for an over-long key.
    std::optional<Reply> get(const std::string& key) const;

    /// One MGET. An over-long key or a value that is not a string turns only
    /// its own entry into a miss (counted, and reported through options.error_hook).
    std::vector<std::optional<Reply>> get_multi(const std::vector<std::string>& keys) const;

    /// SET, with PX when options.ttl is set. Throws LimitExceeded for an over-limit key (nothing is
    /// sent).
    void set(const std::string& key, std::string bytes);

    /// All SETs in one round trip. Every key is checked before anything is
    /// sent, so an over-limit key writes nothing.
    void set_multi(std::vector<KeyedBytes<std::string>> writes);

    /// DEL of the entry's Redis key.
    void erase(const std::string& key);

    /// One DEL for all keys (routed by the first; a cluster client would split it).
    void erase_multi(const std::vector<std::string>& keys);

    /// A Redis lock (nullptr without options.distributed_lock).
    std::unique_ptr<Mutex> get_mutex(const std::string& key);
    /// The distributed locks (nullptr without options.distributed_lock): their
    /// lost-reply statistics.
    const DistributedLocks* distributed_locks() const noexcept { return locks_.get(); }

    /// The distributed lock's resource for `key`: its Redis key, key_prefix + key.
    std::string lock_resource(const std::string& key) const { return redis_key_of(key); }

    /// key_prefix + key; throws LimitExceeded when over limits.max_key_bytes.
    std::string redis_key_of(std::string_view key) const;

    /// The options it was made with.
    const RedisBackendOptions& options() const noexcept { return options_; }
    /// The ceilings on keys and payloads.
    const BackendLimits& limits() const noexcept { return options_.limits; }
    /// Plain entries always carry the envelope: the region's expiration needs it.
    static constexpr PayloadMode payload_mode() noexcept { return PayloadMode::envelope; }

    /// The entry in error messages.
    std::string describe(const std::string& key) const;

private:
    Client& client() const noexcept { return *options_.client; }

    Command set_command(std::string_view redis_key, std::string_view bytes) const;

    RedisBackendOptions options_;
    long long px_;
    details::StoreLocks locks_{options_.client, options_.distributed_lock, options_.error_hook};  // after options_
};

}  // namespace redis

using redis::RedisStringStore;

/// For NearCacheBackend: which Redis key holds a cache key's entry (one string
/// per entry: key_prefix + key).
std::function<std::string(const std::string&)> string_store_redis_keys(std::string key_prefix);

/// string_store_redis_keys() with the store's key_prefix.
std::function<std::string(const std::string&)> redis_keys_of(const RedisStringStore& store);

}  // namespace dogpile

#if DOGPILE_INCLUDE_DEFINITIONS
#include "string_store-inl.hpp"
#endif
