#pragma once
// IntervalGate: lets a costly refresh (a cluster's slot map reload, a
// Sentinel re-discovery) run at most once per interval and one at a time,
// while callers that merely suspect a change go on without it.

#include <chrono>
#include <mutex>
#include <optional>

namespace dogpile::redis::details {

template <class Clock = std::chrono::steady_clock>
class IntervalGate {
public:
    // Held while the run lasts; converts to false when the caller must skip it.
    using Pass = std::unique_lock<std::mutex>;

    explicit IntervalGate(typename Clock::duration interval) noexcept : interval_(interval) {}

    // Waits for a run in progress, then lets this one in, due or not.
    Pass enter_now() {
        Pass pass(mutex_);
        last_start_ = Clock::now();
        return pass;
    }

    // Lets this one in when no run is in progress and none began within the
    // interval. Never waits: a caller that finds the gate busy goes on with
    // what it has rather than queue behind a slow run.
    Pass enter_if_due() {
        Pass pass(mutex_, std::try_to_lock);
        if (!pass) return pass;
        const auto now = Clock::now();
        if (last_start_ && now - *last_start_ < interval_) return Pass();
        last_start_ = now;
        return pass;
    }

private:
    const typename Clock::duration interval_;
    std::mutex mutex_;
    std::optional<typename Clock::time_point> last_start_;  // guarded by mutex_
};

}  // namespace dogpile::redis::details
