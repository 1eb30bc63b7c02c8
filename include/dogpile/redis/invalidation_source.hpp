#pragma once
/// \file
/// InvalidationSource: what a near tier (backends/near_cache.hpp) trusts, whatever
/// feeds it: the tracking session, the proof that a read ran on tracked
/// connections, and the registration of sinks. InvalidationListener
/// (one server) and ClusterTracking (one listener per master of a cluster)
/// are the two sources; redis/tracking.hpp says how tracking works.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "../details/linkage.hpp"
#include "details/tracked_data_connections.hpp"
#include "details/tracking_state.hpp"
#include "tracking_options.hpp"

namespace dogpile::redis {

/// The session a near tier trusts and the sinks it feeds: the part of an
/// InvalidationListener or a ClusterTracking a NearCacheBackend uses.
/// Thread-safe.
class InvalidationSource {
public:
    InvalidationSource(const InvalidationSource&) = delete;
    InvalidationSource& operator=(const InvalidationSource&) = delete;

    /// True while invalidations are received: near tiers may serve from memory.
    bool tracking() const noexcept { return state_->session() != 0; }

    /// The current session's number (unique in the process), 0 while not tracking.
    std::uint64_t session() const noexcept { return state_->session(); }

    /// Waits at most `timeout` for tracking(); returns whether it is tracking.
    bool wait_until_tracking(std::chrono::milliseconds timeout) const;

    /// Waits for a session other than `previous` (after a reconnect).
    bool wait_for_new_session(std::uint64_t previous, std::chrono::milliseconds timeout) const;

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
        friend class InvalidationSource;
        Subscription(std::shared_ptr<details::TrackingState> state, InvalidationSink* sink)
            : state_(std::move(state)), sink_(sink) {}

        std::shared_ptr<details::TrackingState> state_;
        InvalidationSink* sink_ = nullptr;
    };

    /// Registers `sink` until the subscription is destroyed (which waits for
    /// calls into the sink in progress). The sink must outlive it. Sinks are
    /// called in the order they subscribed.
    [[nodiscard]] Subscription subscribe(InvalidationSink& sink);

    /// Drops what every sink holds (e.g. after writing Redis in a way that
    /// bypasses tracking). Counted as FlushReason::server_flush.
    void flush_all() { state_->flush(FlushReason::server_flush); }

    /// Sessions, invalidations and flushes since it was made.
    TrackingStats stats() const noexcept { return state_->counters.snapshot(); }

    /// The last error seen (connect failures, refused CLIENT TRACKING); empty when none.
    std::string last_error() const { return state_->last_error(); }

protected:
    /// A source over `state` (its session, sinks and counters).
    explicit InvalidationSource(std::shared_ptr<details::TrackingState> state) : state_(std::move(state)) {}
    /// Not deleted through this class: owners hold the concrete source.
    ~InvalidationSource() = default;

    /// Shared with the sinks' subscriptions and the data-connection hooks.
    std::shared_ptr<details::TrackingState> state_;
};

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "invalidation_source-inl.hpp"
#endif
