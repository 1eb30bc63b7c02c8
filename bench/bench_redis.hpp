#pragma once
// The Redis benchmarks need a server, so they are registered at run time.

#include "support/redis.hpp"

namespace dogpile::bench {

// Registers the hash-store benchmarks against `server`, which must outlive
// benchmark::RunSpecifiedBenchmarks().
void register_redis_benchmarks(const RedisServer& server);

}  // namespace dogpile::bench
