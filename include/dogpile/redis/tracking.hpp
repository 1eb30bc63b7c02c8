#pragma once
/// \file
/// Server-assisted client-side caching over RESP2 (Redis 6+; hiredis 0.14 or
/// 1.x): the invalidation listener a near cache (backends/near_cache.hpp)
/// trusts.
///
/// \code
///   auto listener = std::make_shared<redis::InvalidationListener>(redis::TrackingOptions{connection_options});
///   auto client = redis::make_tracked_client(*listener, pool_options);   // data connections
///   ... a Redis backend on `client`, a NearCacheBackend in front of it ...
/// \endcode
///
/// How it works. A dedicated connection (the listener's PushConnection) runs
/// CLIENT ID and SUBSCRIBE __redis__:invalidate on its own thread. Redis then
/// sends it messages naming keys that changed, expired or were evicted, or a
/// null message for FLUSHALL / FLUSHDB; the listener hands them to its sinks
/// (the near caches), which drop what they hold under those keys.
///
/// * TrackingMode::standard: Redis remembers which keys each *data* connection
///   read. Every data connection therefore runs `CLIENT TRACKING on REDIRECT
///   <listener id>` before it serves a read: after every (re)connect and again
///   after the listener itself reconnected (a new id). instrument() installs
///   the pool hooks that do this. A tracked data connection that is dropped
///   takes its tracked keys with it (Redis forgets them), so the sinks are
///   flushed: when the pool drops it, or when the listener finds it gone from
///   the server (CLIENT LIST ID at every health check interval), because a
///   connection the server closes while it sits idle in the pool (its
///   `timeout`, CLIENT KILL) would otherwise only be noticed when next used.
/// * TrackingMode::broadcast: the listener itself runs `CLIENT TRACKING on
///   REDIRECT <its own id> BCAST PREFIX ...` and Redis announces every change
///   under those prefixes, whoever read the key. Data connections need no
///   setup and their fate does not matter; the price is a message for every
///   write under the prefixes, cached here or not.
///
/// Trust. The listener is "tracking" (session() != 0) from its subscription
/// until its connection is lost; sinks are flushed on both edges, and a near
/// tier serves nothing from memory while it is not tracking. The connection is
/// watched: a PING goes out after health_check_interval without traffic, and
/// a missing answer within connection.command_timeout counts as lost (a
/// network partition does not close sockets). The listener reconnects with
/// exponential backoff for as long as it exists.
///
/// What remains: between the moment the listener's connection (or, in
/// standard mode, a data connection) dies and the moment that is noticed,
/// invalidations are lost. Both are bounded by the health check interval (plus
/// a command timeout); NearCacheOptions::ttl bounds them whatever happens.
///
/// Destruction stops the thread at once; a connect or handshake in progress
/// finishes within its timeouts.

#include "invalidation_listener.hpp"
#include "tracking_options.hpp"
