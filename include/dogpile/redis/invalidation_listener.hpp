#pragma once
/// \file
/// InvalidationListener: the connection that receives Redis' invalidation
/// messages and hands them to its sinks (the near caches), and the session a
/// near tier trusts. How it tracks, and what it cannot see: redis/tracking.hpp.
///
/// \code
///   auto listener = std::make_shared<redis::InvalidationListener>(redis::TrackingOptions{connection_options});
///   auto client = redis::make_tracked_client(*listener, pool_options);   // data connections
/// \endcode

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../details/linkage.hpp"
#include "client.hpp"
#include "command.hpp"
#include "connection.hpp"
#include "details/push_thread.hpp"
#include "details/tracked_data_connections.hpp"
#include "details/tracking_state.hpp"
#include "errors.hpp"
#include "pool.hpp"
#include "push_connection.hpp"
#include "reply.hpp"
#include "tracking_options.hpp"

namespace dogpile::redis {

namespace details {
inline constexpr std::string_view invalidation_channel = "__redis__:invalidate";
}  // namespace details

/// The connection that receives Redis' invalidation messages and hands them to its sinks (the near
/// caches), and the session a near tier trusts. How it tracks, and what it cannot see:
/// tracking.hpp. Thread-safe.
class InvalidationListener {
public:
    /// Starts the listener thread; it connects in the background (see
    /// tracking() and wait_until_tracking()). Throws ConfigurationError for
    /// invalid options.
    explicit InvalidationListener(TrackingOptions options);

    /// Stops the thread at once (a connect in progress finishes within its
    /// timeout); the sinks are flushed if a session was up.
    ~InvalidationListener() = default;

    InvalidationListener(const InvalidationListener&) = delete;
    InvalidationListener& operator=(const InvalidationListener&) = delete;

    /// True while subscribed: near tiers may serve from memory.
    bool tracking() const noexcept { return state_->session() != 0; }

    /// The current session's number (unique in the process), 0 while not tracking.
    std::uint64_t session() const noexcept { return state_->session(); }

    /// Waits at most `timeout` for tracking(); returns whether it is tracking.
    bool wait_until_tracking(std::chrono::milliseconds timeout) const;

    /// Waits for a session other than `previous` (after a reconnect).
    bool wait_for_new_session(std::uint64_t previous, std::chrono::milliseconds timeout) const;

    /// Pool options whose connections serve reads a near tier may keep:
    /// standard mode adds hooks (chained after any already set) that run
    /// CLIENT TRACKING on REDIRECT `<listener>` on each connection before it is
    /// used in a session, and flush the sinks when a tracked connection is
    /// dropped. Broadcast mode needs none and returns `pool` unchanged.
    PoolOptions instrument(PoolOptions pool) const;

    /// Whether changes of `redis_key` are announced (broadcast prefixes).
    bool covers(std::string_view redis_key) const noexcept { return state_->covers(redis_key); }

    // --- for near tiers ----------------------------------------------------

    /// Call before a remote read whose result may be kept: returns the session
    /// it runs in (0: not tracking, keep nothing) and starts this thread's
    /// proof of tracked connections.
    std::uint64_t begin_read() const noexcept;

    /// After that read: whether it ran entirely in `session`, which is still
    /// current, on connections tracked for it (standard mode).
    bool read_was_tracked(std::uint64_t session) const noexcept;

    /// A sink's registration, from subscribe(); move-only. Ends when destroyed
    /// or reset().
    class Subscription {
    public:
        Subscription() = default;
        /// Takes over `other`'s registration.
        Subscription(Subscription&& other) noexcept;
        /// Ends this one's registration and takes over `other`'s.
        Subscription& operator=(Subscription&& other) noexcept;
        Subscription(const Subscription&) = delete;
        Subscription& operator=(const Subscription&) = delete;
        ~Subscription() { reset(); }

        /// Ends the registration now (waiting for calls into the sink in progress); a no-op when
        /// there is none.
        void reset() noexcept;

    private:
        friend class InvalidationListener;
        Subscription(std::shared_ptr<details::TrackingState> state, InvalidationSink* sink)
            : state_(std::move(state)), sink_(sink) {}

        std::shared_ptr<details::TrackingState> state_;
        InvalidationSink* sink_ = nullptr;
    };

    /// Registers `sink` until the subscription is destroyed (which waits for
    /// calls into the sink in progress). The sink must outlive it.
    [[nodiscard]] Subscription subscribe(InvalidationSink& sink);

    /// Drops what every sink holds (e.g. after writing Redis in a way that
    /// bypasses tracking). Counted as FlushReason::server_flush.
    void flush_all() { state_->flush(FlushReason::server_flush); }

    /// Sessions, invalidations and flushes since it was made.
    TrackingStats stats() const noexcept { return state_->counters.snapshot(); }

    /// The last error the listener or a hook saw (connect failures, refused
    /// CLIENT TRACKING); empty when none.
    std::string last_error() const { return state_->last_error(); }

    /// The options it was made with.
    const TrackingOptions& options() const noexcept { return state_->options; }

private:
    using Clock = std::chrono::steady_clock;

    static TrackingOptions validated(TrackingOptions options);

    // After each session (listener thread). The failure is counted before
    // tracking() turns false, so whoever waits for that sees it.
    void ended(bool established, std::optional<std::string_view> failure) noexcept;

    // One session: returns when stopping, throws when the connection is lost.
    void serve(details::PushThread& thread, bool& established);

    // Asks the server which of the data connections tracked in this session
    // it still has (one CLIENT LIST ID round trip on a separate connection).
    void check_data_connections(std::optional<Connection>& control, bool& enabled);

    // The ids of CLIENT LIST's lines ("id=12 addr=... \n").
    static std::vector<long long> client_ids_in(std::string_view list);

    // Returns true for a PING answer.
    bool handle(const PushedMessage& pushed);

    std::shared_ptr<details::TrackingState> state_;
    std::shared_ptr<details::TrackedDataConnections> data_connections_;
    details::PushThread thread_;  // last: started once everything else exists, stopped first
};

/// A client whose data connections are tracked by `listener` (standard mode;
/// in broadcast mode a plain client).
std::shared_ptr<Client> make_tracked_client(const InvalidationListener& listener, PoolOptions pool);

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "invalidation_listener-inl.hpp"
#endif
