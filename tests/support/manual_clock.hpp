#pragma once
// A wall clock the test moves by hand, so expiry is tested without sleeping.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>

#include <dogpile/cached_value.hpp>

namespace dogpile::test {

class ManualClock {
public:
    explicit ManualClock(TimePoint start = TimePoint(std::chrono::hours(24 * 365 * 50)))
        : now_(std::make_shared<std::atomic<TimePoint::rep>>(start.time_since_epoch().count())) {}

    TimePoint now() const { return TimePoint(Duration(now_->load())); }

    template <class D>
    void advance(D d) {
        now_->fetch_add(std::chrono::duration_cast<Duration>(d).count());
    }

    // For RegionOptions::clock and MemoryBackendOptions::clock; shares this clock's state.
    std::function<TimePoint()> function() const {
        auto state = now_;
        return [state] { return TimePoint(Duration(state->load())); };
    }

private:
    std::shared_ptr<std::atomic<TimePoint::rep>> now_;
};

}  // namespace dogpile::test
