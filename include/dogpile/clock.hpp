#pragma once
// ClockPolicy: which wall clock an expiry check reads. A hit on a region (or a
// memory backend, or a near cache) with an expiry reads the clock once, and
// the precise clock costs about as much as the rest of the hit; the coarse one
// is the kernel's last tick, read from memory without touching the hardware.
//
// Both are the wall clock (CLOCK_REALTIME, std::chrono::system_clock's
// epoch): created-at stamps travel between processes through shared
// backends, so a monotonic clock, whose epoch is per boot, would be wrong.

#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>

#include "cached_value.hpp"

#if defined(__linux__) && defined(CLOCK_REALTIME_COARSE)
#define DOGPILE_HAS_COARSE_CLOCK 1
#else
#define DOGPILE_HAS_COARSE_CLOCK 0
#endif

namespace dogpile {

/// Which wall clock an expiry check reads: the coarse one is several times cheaper.
enum class ClockPolicy : std::uint8_t {
    /// CLOCK_REALTIME_COARSE (Linux; elsewhere the precise clock): lags the
    /// precise clock by up to one tick (coarse_clock_granularity()), so an
    /// entry may be served up to one tick past its expiry.
    coarse,
    precise,  ///< std::chrono::system_clock
};

/// The default of every options struct that has a ClockPolicy: one tick of the coarse
/// clock (4 ms on the machine measured) is far below any useful expiry.
// Chosen by measurement (bench/bench_memory.cpp, on a 2-core KVM VM): BM_Clock, a
// coarse read ~6 ns, a precise one 34-43 ns; BM_Compare_MemoryHit, a region
// hit with an expiration_time at 0.91-0.93x one without (0.50-0.58x with the
// precise clock).
inline constexpr ClockPolicy default_clock_policy = ClockPolicy::coarse;

/// The wall clock, std::chrono::system_clock::now().
inline TimePoint precise_now() noexcept { return WallClock::now(); }

/// The wall clock as of the kernel's last tick (CLOCK_REALTIME_COARSE); precise_now()
/// where that clock does not exist.
inline TimePoint coarse_now() noexcept {
#if DOGPILE_HAS_COARSE_CLOCK
    timespec ts{};
    if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0) {
        return TimePoint(std::chrono::duration_cast<Duration>(std::chrono::seconds(ts.tv_sec) +
                                                              std::chrono::nanoseconds(ts.tv_nsec)));
    }
#endif
    return precise_now();
}

/// How far coarse_now() may lag precise_now(): the coarse clock's resolution
/// (clock_getres), or zero where coarse_now() is the precise clock.
inline Duration coarse_clock_granularity() noexcept {
#if DOGPILE_HAS_COARSE_CLOCK
    timespec ts{};
    if (clock_getres(CLOCK_REALTIME_COARSE, &ts) == 0) {
        return std::chrono::duration_cast<Duration>(std::chrono::seconds(ts.tv_sec) +
                                                    std::chrono::nanoseconds(ts.tv_nsec));
    }
#endif
    return Duration::zero();
}

/// The wall clock that `policy` names.
inline TimePoint now(ClockPolicy policy) noexcept {
    return policy == ClockPolicy::coarse ? coarse_now() : precise_now();
}

/// The options structs' rule: an injected clock (tests) wins over the policy.
// The emptiness test is a load and a branch; the indirect call happens only
// when a clock is injected.
inline TimePoint now(const std::function<TimePoint()>& injected, ClockPolicy policy) {
    return injected ? injected() : now(policy);
}

}  // namespace dogpile
