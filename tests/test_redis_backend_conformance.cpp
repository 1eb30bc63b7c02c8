// The Backend contract (dogpile/testing/backend_suite.hpp) on the Redis stores
// against a real redis-server: the plain store, the hash store (raw and
// envelope payloads), the symmetric store in both modes, and the near cache in
// front of the hash store. On a Redis Cluster: test_redis_cluster_backends.cpp.

#include <dogpile/testing/backend_suite.hpp>

#include "support/conformance_factories.hpp"
#include "support/redis_server.hpp"

namespace {

namespace conformance = dogpile::test::conformance;
using dogpile::redis::PayloadMode;
using dogpile::redis::SymmetricMode;

struct SharedServer {
    static dogpile::test::RedisServer& get() { return dogpile::test::RedisServer::shared(); }
};

using Plain = conformance::PlainStore<SharedServer>;
using HashRaw = conformance::HashStore<SharedServer, PayloadMode::raw>;
using HashEnvelope = conformance::HashStore<SharedServer, PayloadMode::envelope>;
using SymmetricAtomic = conformance::SymmetricStore<SharedServer, SymmetricMode::atomic>;
using SymmetricPerNode = conformance::SymmetricStore<SharedServer, SymmetricMode::per_node>;
using NearCache = conformance::NearCacheOverHash<SharedServer>;

}  // namespace

DOGPILE_BACKEND_CONFORMANCE(Redis, Plain, HashRaw, HashEnvelope, SymmetricAtomic, SymmetricPerNode, NearCache);
