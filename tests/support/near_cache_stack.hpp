#pragma once
// A near cache over the hash store with its own invalidation listener, as
// the Redis tests build it (the conformance kit's factory, the TLS tests).

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <dogpile/backends/near_cache.hpp>
#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/redis/tracking.hpp>

namespace dogpile::test {

// A near cache (capacity 1000) over the hash store, whose `pool_size`
// connections and the listener use `tracking.connection`.
struct NearCacheStack {
    std::shared_ptr<dogpile::redis::InvalidationListener> listener;
    std::shared_ptr<dogpile::RedisHashBackend<std::string>> remote;
    std::shared_ptr<dogpile::NearCacheBackend<std::string, dogpile::redis::HashKey>> cache;
};

inline NearCacheStack make_near_cache_stack(const dogpile::redis::TrackingOptions& tracking, std::size_t pool_size,
                                            std::optional<dogpile::redis::LockOptions> distributed_lock = {}) {
    NearCacheStack stack;
    stack.listener = std::make_shared<dogpile::redis::InvalidationListener>(tracking);
    dogpile::redis::PoolOptions pool;
    pool.size = pool_size;
    pool.connection = tracking.connection;
    dogpile::RedisHashBackendOptions o;
    o.client = dogpile::redis::make_tracked_client(*stack.listener, pool);
    o.ttl = std::chrono::hours(1);
    o.distributed_lock = std::move(distributed_lock);
    stack.remote = std::make_shared<dogpile::RedisHashBackend<std::string>>(o);
    dogpile::NearCacheOptions<dogpile::redis::HashKey> near;
    near.listener = stack.listener;
    near.redis_key = dogpile::redis_keys_of(*stack.remote);
    near.capacity = 1000;
    stack.cache = std::make_shared<dogpile::NearCacheBackend<std::string, dogpile::redis::HashKey>>(stack.remote, near);
    return stack;
}

}  // namespace dogpile::test
