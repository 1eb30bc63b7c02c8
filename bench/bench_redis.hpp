#pragma once
// The Redis benchmarks need a server, so they are registered at run time.

#include "support/redis.hpp"

namespace dogpile::bench {

// Registers the hash-store benchmarks against `server`, and the TLS hit
// against `tls_server` (a TLS-only server; nullptr: none). Both must outlive
// benchmark::RunSpecifiedBenchmarks().
void register_redis_benchmarks(const RedisServer& server, const RedisServer* tls_server);

}  // namespace dogpile::bench
