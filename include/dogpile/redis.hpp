#pragma once
// The Redis layer (needs hiredis): errors, replies, connection options and
// URLs, connections and pipelines, the connection pool, scripts, and the
// Client interface backends use.

#include "redis/client.hpp"
#include "redis/command.hpp"
#include "redis/connection.hpp"
#include "redis/errors.hpp"
#include "redis/options.hpp"
#include "redis/pool.hpp"
#include "redis/reply.hpp"
#include "redis/script.hpp"
