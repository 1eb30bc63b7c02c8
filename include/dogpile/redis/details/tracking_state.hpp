#pragma once
// TrackingState: what the invalidation listener shares with its thread, its
// sinks' subscriptions and the data-connection hooks (which may outlive the
// listener: they then find no session and do nothing): the session, the
// sinks, the counters and the last error.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../details/linkage.hpp"
#include "../tracking_options.hpp"
#include "stats_counters.hpp"

namespace dogpile::redis::details {

// Session numbers are unique across listeners, so a proof from one
// listener's pool never vouches for another's.
std::uint64_t next_session_number() noexcept;

class TrackingState {
public:
    explicit TrackingState(TrackingOptions o) : options(std::move(o)) {}

    const TrackingOptions options;
    StatsCounters<TrackingStats> counters;

    // 0 while not tracking.
    std::uint64_t session() const noexcept { return session_.load(std::memory_order_acquire); }

    bool covers(std::string_view redis_key) const noexcept;

    // The listener's CLIENT ID while `session` is current; nullopt once it
    // changed.
    std::optional<long long> client_id_in(std::uint64_t session) const;

    // --- session edges (listener thread) ---------------------------------

    // Returns the new session's number.
    std::uint64_t go_up(long long client_id);

    void go_down();

    template <class Predicate>
    bool wait(std::chrono::milliseconds timeout, Predicate&& holds) const {
        std::unique_lock<std::mutex> lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return holds(session_.load(std::memory_order_relaxed)); });
    }

    void record_error(const std::string& what);
    std::string last_error() const;

    // --- sinks -------------------------------------------------------------

    void add_sink(InvalidationSink* sink);
    // Returns once no call into `sink` is in progress.
    void remove_sink(InvalidationSink* sink) noexcept;

    // Counted once every sink has been told, so a counter that moved means
    // the sinks are done with it.
    void flush(FlushReason reason);

    void invalidate(const std::vector<std::string_view>& keys);

private:
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::atomic<std::uint64_t> session_{0};  // 0: not tracking; written under mutex_
    long long client_id_ = 0;                // the listener's CLIENT ID in session_
    std::string last_error_;

    std::shared_mutex sinks_mutex_;
    std::vector<InvalidationSink*> sinks_;
};

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "tracking_state-inl.hpp"
#endif
