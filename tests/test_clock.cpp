// The clocks an expiry check can read (clock.hpp): the coarse clock is the
// same wall clock as the precise one, at most one tick behind; an injected
// clock wins over the policy; the near store honours its policy. The region's
// and the memory backend's use of the policy are tested in test_region.cpp and
// test_memory_backend.cpp.

#include <dogpile/backends/details/near_store.hpp>
#include <dogpile/clock.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>

#include "support/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::ClockPolicy;
using dogpile::Duration;
using dogpile::TimePoint;
using dogpile::test::ManualClock;

// Slack below the one tick the coarse clock may lag: a tick whose update the
// kernel delays (a preempted vCPU) must not fail the test, a clock from
// another epoch (decades off) or a unit slip (x1000) must.
constexpr Duration late_tick_slack = std::chrono::milliseconds(50);

TEST(Clock, CoarseGranularityIsOneKernelTick) {
    const Duration tick = dogpile::coarse_clock_granularity();
#if DOGPILE_HAS_COARSE_CLOCK
    EXPECT_GT(tick, Duration::zero());
    EXPECT_LE(tick, Duration(std::chrono::milliseconds(100)));
#else
    EXPECT_EQ(tick, Duration::zero());
#endif
}

TEST(Clock, CoarseNowIsThePreciseWallClockAtMostOneTickBehind) {
    const Duration tick = dogpile::coarse_clock_granularity();
    for (int i = 0; i < 10000; ++i) {
        const TimePoint before = dogpile::precise_now();
        const TimePoint coarse = dogpile::coarse_now();
        const TimePoint after = dogpile::precise_now();
        ASSERT_LE(coarse, after) << "read " << i;
        ASSERT_GE(coarse, before - tick - late_tick_slack) << "read " << i;
    }
}

TEST(Clock, BothPoliciesReadTheSystemClocksEpoch) {
    for (ClockPolicy policy : {ClockPolicy::coarse, ClockPolicy::precise}) {
        const auto gap = dogpile::now(policy) - std::chrono::system_clock::now();
        EXPECT_LT(gap < Duration::zero() ? -gap : gap, Duration(1s));
        // After 2020-01-01: a monotonic clock counts from boot.
        EXPECT_GT(dogpile::now(policy).time_since_epoch(), Duration(std::chrono::hours(24 * 18262)));
    }
}

TEST(Clock, PreciseNowIsTheSystemClock) {
    const TimePoint before = std::chrono::system_clock::now();
    const TimePoint precise = dogpile::now(ClockPolicy::precise);
    const TimePoint after = std::chrono::system_clock::now();
    EXPECT_LE(before, precise);
    EXPECT_LE(precise, after);
}

TEST(Clock, InjectedClockWinsOverEitherPolicy) {
    const ManualClock clock;
    for (ClockPolicy policy : {ClockPolicy::coarse, ClockPolicy::precise}) {
        EXPECT_EQ(dogpile::now(clock.function(), policy), clock.now());
    }
}

TEST(Clock, EmptyInjectedClockFallsBackToThePolicy) {
    const std::function<TimePoint()> none;
    const TimePoint before = dogpile::precise_now();
    const TimePoint precise = dogpile::now(none, ClockPolicy::precise);
    EXPECT_LE(before, precise);
    const TimePoint coarse = dogpile::now(none, ClockPolicy::coarse);
    EXPECT_GE(coarse, before - dogpile::coarse_clock_granularity() - late_tick_slack);
    EXPECT_LE(coarse, dogpile::precise_now());
}

TEST(Clock, DefaultPolicyIsCoarseEverywhere) {
    EXPECT_EQ(dogpile::default_clock_policy, ClockPolicy::coarse);
    EXPECT_EQ(dogpile::details::NearStoreOptions{}.clock_policy, dogpile::default_clock_policy);
    EXPECT_EQ(dogpile::details::ShardedTableOptions{}.clock_policy, dogpile::default_clock_policy);
}

// --- the near store's ttl with each policy

using Store = dogpile::details::NearStore<std::string, std::string>;
using Entry = dogpile::CachedValue<std::string>;

dogpile::details::NearStoreOptions store_options(ClockPolicy policy) {
    dogpile::details::NearStoreOptions options;
    options.capacity = 16;
    options.shards = 1;
    options.ttl = std::chrono::minutes(10);
    options.clock_policy = policy;
    return options;
}

Store::RedisKeyOf identity() {
    return [](const std::string& key) { return key; };
}

bool insert(Store& store, const std::string& key) {
    return store.insert(key, Entry{"v", dogpile::Metadata::created_now(dogpile::precise_now())},
                        store.ticket(store.redis_key_of(key)));
}

TEST(NearStoreClock, FreshEntryIsServedWithEitherPolicy) {
    for (ClockPolicy policy : {ClockPolicy::coarse, ClockPolicy::precise}) {
        Store store(store_options(policy), identity());
        ASSERT_TRUE(insert(store, "k"));
        EXPECT_TRUE(store.get("k").has_value()) << static_cast<int>(policy);
    }
}

TEST(NearStoreClock, InjectedClockWinsOverThePolicy) {
    for (ClockPolicy policy : {ClockPolicy::coarse, ClockPolicy::precise}) {
        ManualClock clock;
        auto options = store_options(policy);
        options.clock = clock.function();
        Store store(options, identity());
        ASSERT_TRUE(insert(store, "k"));  // ages from insertion, on the injected clock
        clock.advance(10min);
        EXPECT_TRUE(store.get("k").has_value());
        clock.advance(1ns);
        EXPECT_FALSE(store.get("k").has_value()) << static_cast<int>(policy);
    }
}

}  // namespace
