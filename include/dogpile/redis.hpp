#pragma once
// The Redis layer (needs hiredis): errors, replies, connection options and
// URLs, connections and pipelines, the connection pool, scripts, the
// Client interface backends use, and the distributed lock.

#include "redis/circuit_breaker.hpp"
#include "redis/client.hpp"
#include "redis/cluster.hpp"
#include "redis/cluster_options.hpp"
#include "redis/command.hpp"
#include "redis/connection.hpp"
#include "redis/errors.hpp"
#include "redis/lock.hpp"
#include "redis/options.hpp"
#include "redis/pipelined_client.hpp"
#include "redis/pool.hpp"
#include "redis/push_connection.hpp"
#include "redis/reply.hpp"
#include "redis/script.hpp"
#include "redis/sentinel.hpp"
#include "redis/tracking.hpp"

// The Redis backends (one key per entry, the hash store, the symmetric A-to-B
// store) and their shared option types.
#include "backends/near_cache.hpp"
#include "backends/redis/backend_options.hpp"
#include "backends/redis/hash.hpp"
#include "backends/redis/hash_key.hpp"
#include "backends/redis/invalidation_strategy.hpp"
#include "backends/redis/plain.hpp"
#include "backends/redis/symmetric.hpp"
