#pragma once
// Region invalidation strategies: where a region's hard and soft invalidation
// times live (dogpile.cache's RegionInvalidationStrategy). The default,
// InProcessInvalidation, keeps them in this process, as dogpile.cache does; a
// shared strategy (backends/redis/invalidation_strategy.hpp) stores them where
// every process reads them, so invalidate() in one takes effect in all.
//
// A strategy publishes the times it knows into two atomics that every read of
// the region checks (two acquire loads, no virtual call). A strategy with a
// refresh_interval is asked for the stored times again (load()) at most once
// per interval, by one reader at a time, the others going on with the
// published times: the staleness of a region's view is bounded by the
// interval plus one load. A load that throws keeps the last published times.
//
// Times are the invalidating process's wall clock (precise, as created-at
// stamps are: clock.hpp), and entries are compared with them by created-at:
// across machines, clock skew shifts the cut by the skew (docs/architecture.md).
//
// Thread safety: every member may be called from any number of threads; one
// strategy may be shared by several regions (they are then invalidated together).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <optional>
#include <utility>

#include "cached_value.hpp"
#include "region_options.hpp"

namespace dogpile {

/// dogpile.cache's predicates as a value: each kind of invalidation, when it
/// happened (if ever).
struct InvalidationTimes {
    std::optional<TimePoint> hard{};  ///< the last hard invalidation, if any
    std::optional<TimePoint> soft{};  ///< the last soft invalidation, if any

    /// Whether a hard invalidation ever happened.
    bool was_hard_invalidated() const noexcept { return hard.has_value(); }
    /// Whether a soft invalidation ever happened.
    bool was_soft_invalidated() const noexcept { return soft.has_value(); }
    /// Whether a value created at `created_at` is a miss.
    bool is_hard_invalidated(TimePoint created_at) const noexcept { return hard && created_at < *hard; }
    /// Whether a value created at `created_at` is stale.
    bool is_soft_invalidated(TimePoint created_at) const noexcept { return soft && created_at < *soft; }
    /// Either of the two.
    bool is_invalidated(TimePoint created_at) const noexcept {
        return is_hard_invalidated(created_at) || is_soft_invalidated(created_at);
    }
};

/// Where a region's hard and soft invalidation times live (dogpile.cache's
/// RegionInvalidationStrategy). A subclass implements record() and load() to share the times
/// between processes; a region's view is then at most refresh_interval plus one load behind. Every
/// member may be called from any number of threads; one strategy may serve several regions, which
/// are then invalidated together.
class RegionInvalidationStrategy {
public:
    virtual ~RegionInvalidationStrategy() = default;
    RegionInvalidationStrategy(const RegionInvalidationStrategy&) = delete;
    RegionInvalidationStrategy& operator=(const RegionInvalidationStrategy&) = delete;

    /// Marks everything created before `at` as a miss (hard) or stale (soft).
    /// Takes effect here at once; record() carries it to the other processes
    /// and may throw (the local effect stays).
    void invalidate(Invalidation kind, TimePoint at) {
        publish(kind, at);
        record(kind, at);
    }

    /// The times as this process sees them now (no load).
    InvalidationTimes times() const noexcept {
        return InvalidationTimes{as_time(hard_.load(std::memory_order_acquire)),
                                 as_time(soft_.load(std::memory_order_acquire))};
    }

    /// How often load() is called; nullopt: never (the times are all local).
    std::optional<std::chrono::milliseconds> refresh_interval() const noexcept {
        if (refresh_every_ == 0) return std::nullopt;
        return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::duration(refresh_every_));
    }

    // --- the region's read path ---------------------------------------------

    /// Loads the stored times when the interval has passed and no other thread
    /// is loading them. A throwing load() keeps the last times: `on_error` is
    /// called inside the catch block (it must not throw) and the next attempt
    /// waits a full interval, so an outage costs one failed load per interval.
    template <class OnError>
    void refresh_if_due(OnError&& on_error) {
        if (refresh_every_ == 0) return;
        const auto now = refresh_clock_now();
        if (now < next_refresh_.load(std::memory_order_acquire)) return;
        if (refreshing_.exchange(true, std::memory_order_acquire)) return;
        struct Release {
            std::atomic<bool>& flag;
            ~Release() { flag.store(false, std::memory_order_release); }
        } release{refreshing_};
        if (now < next_refresh_.load(std::memory_order_acquire)) return;  // another thread just did it
        try {
            const InvalidationTimes loaded = load();
            if (loaded.hard) publish(Invalidation::hard, *loaded.hard);
            if (loaded.soft) publish(Invalidation::soft, *loaded.soft);
        } catch (...) {
            on_error();
        }
        next_refresh_.store(refresh_clock_now() + refresh_every_, std::memory_order_release);
    }

    /// The invalidation stamps as created-at counts, 0 for never: the checks
    /// every read makes.
    bool is_hard_invalidated(TimePoint::rep created_at) const noexcept {
        const auto hard = hard_.load(std::memory_order_acquire);
        return hard != 0 && created_at < hard;
    }
    /// The same check for soft invalidation.
    bool is_soft_invalidated(TimePoint::rep created_at) const noexcept {
        const auto soft = soft_.load(std::memory_order_acquire);
        return soft != 0 && created_at < soft;
    }

protected:
    /// nullopt: a strategy whose times are all in this process (load() is never called).
    explicit RegionInvalidationStrategy(std::optional<std::chrono::milliseconds> refresh_interval)
        : refresh_every_(
              refresh_interval
                  ? std::max<Steady::rep>(1, std::chrono::duration_cast<Steady::duration>(*refresh_interval).count())
                  : 0) {}

    /// Stores an invalidation where the other processes load it from. The
    /// stored times must never move backwards (keep the later one).
    virtual void record(Invalidation kind, TimePoint at) = 0;

    /// The stored times. May block (one reader at a time calls it) and throw.
    virtual InvalidationTimes load() = 0;

private:
    using Steady = std::chrono::steady_clock;

    // The deadline check is on every read of a region with a refreshing
    // strategy: the coarse monotonic clock (Linux) is a memory read, the
    // precise one a clock read (a memory-backend hit measured 23 ns against
    // 50 ns; 19 ns in process). A load may then come up to one tick late.
    static Steady::rep refresh_clock_now() noexcept {
#if defined(__linux__) && defined(CLOCK_MONOTONIC_COARSE)
        timespec ts{};
        if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == 0) {
            return std::chrono::duration_cast<Steady::duration>(std::chrono::seconds(ts.tv_sec) +
                                                                std::chrono::nanoseconds(ts.tv_nsec))
                .count();
        }
#endif
        return Steady::now().time_since_epoch().count();
    }

    static std::optional<TimePoint> as_time(TimePoint::rep stamp) noexcept {
        if (stamp == 0) return std::nullopt;
        return TimePoint(Duration(stamp));
    }

    // Never backwards: a late load of an older time, or a store that lost its
    // data, leaves a later invalidation in place.
    void publish(Invalidation kind, TimePoint at) noexcept {
        std::atomic<TimePoint::rep>& slot = kind == Invalidation::hard ? hard_ : soft_;
        const auto stamp = at.time_since_epoch().count();
        auto current = slot.load(std::memory_order_relaxed);
        while (current < stamp &&
               !slot.compare_exchange_weak(current, stamp, std::memory_order_release, std::memory_order_relaxed)) {
        }
    }

    std::atomic<TimePoint::rep> hard_{0};
    std::atomic<TimePoint::rep> soft_{0};
    const Steady::rep refresh_every_;
    std::atomic<Steady::rep> next_refresh_{0};
    std::atomic<bool> refreshing_{false};
};

/// The default: the times live in this process, as in dogpile.cache. A region
/// configured without a strategy gets its own.
class InProcessInvalidation final : public RegionInvalidationStrategy {
public:
    InProcessInvalidation() : RegionInvalidationStrategy(std::nullopt) {}

private:
    void record(Invalidation, TimePoint) override {}
    InvalidationTimes load() override { return times(); }
};

}  // namespace dogpile
