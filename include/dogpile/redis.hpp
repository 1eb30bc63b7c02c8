#pragma once
// The Redis layer (needs hiredis): errors, replies, connection options and
// URLs, connections and pipelines, the connection pool, scripts, the
// Client interface backends use, and the distributed lock.

#include "redis/client.hpp"
#include "redis/command.hpp"
#include "redis/connection.hpp"
#include "redis/errors.hpp"
#include "redis/lock.hpp"
#include "redis/options.hpp"
#include "redis/pool.hpp"
#include "redis/reply.hpp"
#include "redis/script.hpp"
