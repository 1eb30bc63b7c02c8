#pragma once
// TrackingState: what the invalidation listener shares with its thread, its
// sinks' subscriptions and the data-connection hooks (which may outlive the
// listener: they then find no session and do nothing): the session, the
// sinks, the counters and the last error.

#include <algorithm>
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

#include "../tracking_options.hpp"
#include "stats_counters.hpp"

namespace dogpile::redis::details {

// Session numbers are unique across listeners, so a proof from one
// listener's pool never vouches for another's.
inline std::uint64_t next_session_number() noexcept {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

class TrackingState {
public:
    explicit TrackingState(TrackingOptions o) : options(std::move(o)) {}

    const TrackingOptions options;
    StatsCounters<TrackingStats> counters;

    // 0 while not tracking.
    std::uint64_t session() const noexcept { return session_.load(std::memory_order_acquire); }

    bool covers(std::string_view redis_key) const noexcept {
        if (options.mode != TrackingMode::broadcast || options.prefixes.empty()) return true;
        for (const auto& p : options.prefixes) {
            if (redis_key.substr(0, p.size()) == p) return true;
        }
        return false;
    }

    // The listener's CLIENT ID while `session` is current; nullopt once it
    // changed.
    std::optional<long long> client_id_in(std::uint64_t session) const {
        std::lock_guard<std::mutex> lock(mutex_);
        if (session_.load(std::memory_order_relaxed) != session) return std::nullopt;
        return client_id_;
    }

    // --- session edges (listener thread) ---------------------------------

    void go_up(long long client_id) {
        flush(FlushReason::listener_up);  // before anyone can trust the new session
        {
            std::lock_guard<std::mutex> lock(mutex_);
            client_id_ = client_id;
            session_.store(next_session_number(), std::memory_order_release);
        }
        counters.add(&TrackingStats::sessions);
        changed_.notify_all();
    }

    void go_down() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            session_.store(0, std::memory_order_release);
        }
        flush(FlushReason::listener_down);
        changed_.notify_all();
    }

    template <class Predicate>
    bool wait(std::chrono::milliseconds timeout, Predicate&& holds) const {
        std::unique_lock<std::mutex> lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return holds(session_.load(std::memory_order_relaxed)); });
    }

    void record_error(const std::string& what) {
        std::lock_guard<std::mutex> lock(mutex_);
        last_error_ = what;
    }
    std::string last_error() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return last_error_;
    }

    // --- sinks -------------------------------------------------------------

    void add_sink(InvalidationSink* sink) {
        std::unique_lock<std::shared_mutex> lock(sinks_mutex_);
        sinks_.push_back(sink);
    }
    // Returns once no call into `sink` is in progress.
    void remove_sink(InvalidationSink* sink) noexcept {
        std::unique_lock<std::shared_mutex> lock(sinks_mutex_);
        sinks_.erase(std::remove(sinks_.begin(), sinks_.end(), sink), sinks_.end());
    }

    // Counted once every sink has been told, so a counter that moved means
    // the sinks are done with it.
    void flush(FlushReason reason) {
        {
            std::shared_lock<std::shared_mutex> lock(sinks_mutex_);
            for (InvalidationSink* sink : sinks_) sink->flush(reason);
        }
        counters.add(&TrackingStats::flushes);
    }

    void invalidate(const std::vector<std::string_view>& keys) {
        {
            std::shared_lock<std::shared_mutex> lock(sinks_mutex_);
            for (InvalidationSink* sink : sinks_) sink->invalidate(keys);
        }
        counters.add(&TrackingStats::invalidated_keys, keys.size());
        counters.add(&TrackingStats::invalidation_messages);
    }

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
