#pragma once
// Definitions of tracking_state.hpp (details/linkage.hpp: inline when header-only).

#include <algorithm>

#include "tracking_state.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE std::uint64_t next_session_number() noexcept {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

DOGPILE_INLINE bool TrackingState::covers(std::string_view redis_key) const noexcept {
    if (options.mode != TrackingMode::broadcast || options.prefixes.empty()) return true;
    for (const auto& p : options.prefixes) {
        if (redis_key.substr(0, p.size()) == p) return true;
    }
    return false;
}

DOGPILE_INLINE std::optional<long long> TrackingState::client_id_in(std::uint64_t session) const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (session_.load(std::memory_order_relaxed) != session) return std::nullopt;
    return client_id_;
}

DOGPILE_INLINE std::uint64_t TrackingState::go_up(long long client_id) {
    flush(FlushReason::listener_up);  // before anyone can trust the new session
    const std::uint64_t session = next_session_number();
    {
        std::lock_guard<std::mutex> lock(mutex_);
        client_id_ = client_id;
        session_.store(session, std::memory_order_release);
    }
    counters.add(&TrackingStats::sessions);
    changed_.notify_all();
    return session;
}

DOGPILE_INLINE void TrackingState::go_down() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        session_.store(0, std::memory_order_release);
    }
    flush(FlushReason::listener_down);
    changed_.notify_all();
}

DOGPILE_INLINE void TrackingState::record_error(const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex_);
    last_error_ = what;
}

DOGPILE_INLINE std::string TrackingState::last_error() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_error_;
}

DOGPILE_INLINE void TrackingState::add_sink(InvalidationSink* sink) {
    std::unique_lock<std::shared_mutex> lock(sinks_mutex_);
    sinks_.push_back(sink);
}

DOGPILE_INLINE void TrackingState::remove_sink(InvalidationSink* sink) noexcept {
    std::unique_lock<std::shared_mutex> lock(sinks_mutex_);
    sinks_.erase(std::remove(sinks_.begin(), sinks_.end(), sink), sinks_.end());
}

DOGPILE_INLINE void TrackingState::flush(FlushReason reason) {
    {
        std::shared_lock<std::shared_mutex> lock(sinks_mutex_);
        for (InvalidationSink* sink : sinks_) sink->flush(reason);
    }
    counters.add(&TrackingStats::flushes);
}

DOGPILE_INLINE void TrackingState::invalidate(const std::vector<std::string_view>& keys) {
    {
        std::shared_lock<std::shared_mutex> lock(sinks_mutex_);
        for (InvalidationSink* sink : sinks_) sink->invalidate(keys);
    }
    counters.add(&TrackingStats::invalidated_keys, keys.size());
    counters.add(&TrackingStats::invalidation_messages);
}

}  // namespace dogpile::redis::details
