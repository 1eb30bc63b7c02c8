#pragma once
/// \file
/// The vocabulary of client-side caching (redis/tracking.hpp): how the
/// invalidation listener tracks keys (TrackingOptions), what it tells the near
/// caches (InvalidationSink, FlushReason), and what it counts (TrackingStats).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../details/linkage.hpp"
#include "../errors.hpp"
#include "options.hpp"

namespace dogpile::redis {

/// How Redis tells the listener which keys changed (CLIENT TRACKING).
enum class TrackingMode : std::uint8_t {
    /// Redis tracks the keys each data connection read (the pool hooks from
    /// InvalidationListener::instrument() are required).
    standard,
    /// BCAST: every change of a key under one of TrackingOptions::prefixes is
    /// announced; keys outside them are never cached by a near tier.
    broadcast,
};

/// How an InvalidationListener connects and tracks keys.
struct TrackingOptions {
    /// The server whose keys are cached (the data pool's server). on_connect
    /// is ignored for the listener's own connection.
    ConnectionOptions connection{};
    TrackingMode mode = TrackingMode::standard;  ///< standard: per connection; broadcast: by prefix
    /// Broadcast mode: the key prefixes announced, e.g. {"calculated-a|"}.
    /// Empty means every key (a message for every write to the server).
    std::vector<std::string> prefixes{};
    /// Waits between reconnect attempts: doubling from min to max, back to min
    /// once a session has been established.
    std::chrono::milliseconds reconnect_backoff_min{20};
    std::chrono::milliseconds reconnect_backoff_max{2000};  ///< upper bound of that backoff
    /// A PING goes out after this long without traffic; no answer within
    /// connection.command_timeout and the connection counts as lost. Standard
    /// mode also checks at this interval that the tracked data connections
    /// still exist on the server (one CLIENT LIST ID on a second connection).
    std::chrono::milliseconds health_check_interval{1000};

    /// Throws ConfigurationError naming the bad field (bad connection options, non-positive
    /// intervals, prefixes in standard mode).
    void validate() const;
};

/// Why sinks are told to forget everything.
enum class FlushReason : std::uint8_t {
    server_flush,          ///< a null invalidation message: FLUSHALL or FLUSHDB
    listener_down,         ///< the invalidation connection was lost (or the listener stops)
    listener_up,           ///< a new session: nothing read before it can be trusted
    data_connection_lost,  ///< standard mode: a tracked data connection was dropped
    tracking_failed,       ///< standard mode: CLIENT TRACKING failed on a data connection
};

/// The reason's name, for logs and metrics.
const char* to_string(FlushReason reason) noexcept;

/// Receives what the listener learns. Called from the listener's thread
/// (messages, session edges) and from threads using the data pool (data
/// connection events), possibly concurrently: implementations are
/// thread-safe. They must not throw (a throw ends the listener's session,
/// which flushes every sink) and must not subscribe or unsubscribe sinks.
class InvalidationSink {
public:
    virtual ~InvalidationSink() = default;
    /// The Redis keys changed, expired or were evicted: forget what is cached under them.
    virtual void invalidate(const std::vector<std::string_view>& redis_keys) = 0;
    /// Forget everything cached: the listener cannot vouch for it any more.
    virtual void flush(FlushReason reason) = 0;
};

/// What an InvalidationListener counted since it was made.
struct TrackingStats {
    std::uint64_t sessions = 0;               ///< subscriptions established (the first included)
    std::uint64_t connection_failures = 0;    ///< connects that failed and sessions lost
    std::uint64_t invalidation_messages = 0;  ///< invalidation messages received
    std::uint64_t invalidated_keys = 0;       ///< keys those messages named
    std::uint64_t flush_messages = 0;         ///< FLUSHALL / FLUSHDB seen
    std::uint64_t flushes = 0;                ///< flushes delivered to sinks, every reason
    std::uint64_t tracked_connections = 0;    ///< CLIENT TRACKING runs on data connections
    std::uint64_t tracking_failures = 0;      ///< ... that Redis refused
    std::uint64_t data_connections_lost = 0;  ///< tracked data connections dropped
};

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "tracking_options-inl.hpp"
#endif
