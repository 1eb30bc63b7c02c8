#pragma once
// Definitions of circuit_breaker.hpp (details/linkage.hpp: inline when header-only).

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <utility>

#include "circuit_breaker.hpp"

namespace dogpile::redis {

namespace details {

// "12:00:01.234 UTC": when the breaker opened, for humans reading a log.
DOGPILE_INLINE std::string utc_time_of_day(std::chrono::system_clock::time_point t) {
    const auto since_epoch = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
    const std::time_t seconds = static_cast<std::time_t>(since_epoch.count() / 1000);
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    char text[32];
    std::snprintf(text, sizeof text, "%02d:%02d:%02d.%03d UTC", parts.tm_hour, parts.tm_min, parts.tm_sec,
                  static_cast<int>(since_epoch.count() % 1000));
    return text;
}

}  // namespace details

DOGPILE_INLINE std::string_view to_string(BreakerState state) noexcept {
    switch (state) {
        case BreakerState::closed: return "closed";
        case BreakerState::open: return "open";
        case BreakerState::half_open: return "half-open";
    }
    return "unknown";
}

DOGPILE_INLINE void accumulate(BreakerStats& total, const BreakerStats& one) noexcept {
    total.opened += one.opened;
    total.closed += one.closed;
    total.rejected += one.rejected;
    if (one.state == BreakerState::open || total.state == BreakerState::closed) total.state = one.state;
}

DOGPILE_INLINE void BreakerOptions::validate() const {
    if (failure_threshold && *failure_threshold == 0) {
        throw ConfigurationError(
            "redis breaker options: failure_threshold must be at least 1 (nullopt turns the breaker off)");
    }
    if (probe_interval.count() <= 0) {
        throw ConfigurationError("redis breaker options: probe_interval must be positive");
    }
}

DOGPILE_INLINE CircuitBreaker::CircuitBreaker(BreakerOptions options, std::string server)
    : options_(std::move(options)), server_(std::move(server)) {
    options_.validate();
}

DOGPILE_INLINE CircuitBreaker::Admission CircuitBreaker::admit() {
    if (state_.load(std::memory_order_acquire) == BreakerState::closed) return Admission::regular;
    std::optional<BreakerEvent> event;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const BreakerState state = state_.load(std::memory_order_relaxed);
        if (state == BreakerState::closed) return Admission::regular;
        const auto now = SteadyClock::now();
        if (!probe_out_ && now >= next_probe_) {
            probe_out_ = true;
            if (state == BreakerState::open) {
                state_.store(BreakerState::half_open, std::memory_order_release);
                event = BreakerEvent{BreakerState::open, BreakerState::half_open, server_,
                                     "probing after " + std::to_string(options_.probe_interval.count()) + " ms",
                                     ++changes_};
            }
        } else {
            rejected_.fetch_add(1, std::memory_order_relaxed);
            const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::max(SteadyClock::duration::zero(), next_probe_ - now));
            const std::string next =
                probe_out_ ? "a probe is in flight" : "next probe in " + std::to_string(wait.count()) + " ms";
            throw CircuitOpenError("redis " + server_ + ": circuit breaker open since " +
                                   details::utc_time_of_day(opened_at_) + " (" + last_failure_ + "); " + next +
                                   "; failing fast without I/O");
        }
    }
    notify(event);
    return Admission::probe;
}

DOGPILE_INLINE void CircuitBreaker::record_success(Admission admission) {
    if (state_.load(std::memory_order_acquire) == BreakerState::closed &&
        consecutive_failures_.load(std::memory_order_relaxed) == 0) {
        return;
    }
    std::optional<BreakerEvent> event;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        consecutive_failures_.store(0, std::memory_order_relaxed);
        const BreakerState state = state_.load(std::memory_order_relaxed);
        if (state == BreakerState::half_open && admission == Admission::probe) {
            probe_out_ = false;
            state_.store(BreakerState::closed, std::memory_order_release);
            closed_.fetch_add(1, std::memory_order_relaxed);
            event = BreakerEvent{state, BreakerState::closed, server_, "the probe succeeded", ++changes_};
        }
    }
    notify(event);
}

DOGPILE_INLINE void CircuitBreaker::record_failure(Admission admission, std::string_view what) {
    if (!options_.failure_threshold) return;
    std::optional<BreakerEvent> event;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const std::size_t failures = consecutive_failures_.load(std::memory_order_relaxed) + 1;
        consecutive_failures_.store(failures, std::memory_order_relaxed);
        const BreakerState state = state_.load(std::memory_order_relaxed);
        if (state == BreakerState::half_open && admission == Admission::probe) {
            event = open_locked(state, "the probe failed: " + std::string(what));
        } else if (state == BreakerState::closed && failures >= *options_.failure_threshold) {
            event =
                open_locked(state, std::to_string(failures) + " consecutive failures, the last: " + std::string(what));
        }
    }
    notify(event);
}

DOGPILE_INLINE void CircuitBreaker::abandon_probe() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    probe_out_ = false;
}

DOGPILE_INLINE BreakerStats CircuitBreaker::stats() const {
    BreakerStats s;
    s.state = state_.load(std::memory_order_acquire);
    s.opened = opened_.load(std::memory_order_relaxed);
    s.closed = closed_.load(std::memory_order_relaxed);
    s.rejected = rejected_.load(std::memory_order_relaxed);
    return s;
}

DOGPILE_INLINE BreakerEvent CircuitBreaker::open_locked(BreakerState from, std::string_view why) {
    probe_out_ = false;
    next_probe_ = SteadyClock::now() + options_.probe_interval;
    opened_at_ = std::chrono::system_clock::now();
    last_failure_ = std::string(why);
    state_.store(BreakerState::open, std::memory_order_release);
    opened_.fetch_add(1, std::memory_order_relaxed);
    return BreakerEvent{from, BreakerState::open, server_,
                        last_failure_ + "; next probe in " + std::to_string(options_.probe_interval.count()) + " ms",
                        ++changes_};
}

DOGPILE_INLINE void CircuitBreaker::notify(const std::optional<BreakerEvent>& event) const noexcept {
    if (!event || !options_.on_state_change) return;
    try {
        options_.on_state_change(*event);
    } catch (...) {
        // A failing observer must not turn a state change into an error.
    }
}

}  // namespace dogpile::redis
