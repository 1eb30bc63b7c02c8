// Early refresh (XFetch) with an injected clock and random source: exact
// decisions at chosen points, beta = 0 never refreshes, the observed rate
// matches the formula, and it composes with the dogpile lock.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include <dogpile/region.hpp>

#include "support/latch.hpp"
#include "support/manual_clock.hpp"
#include "support/recording_backend.hpp"

using namespace std::chrono_literals;
using dogpile::Duration;
using dogpile::EarlyRefresh;
using dogpile::GetOrCreateOptions;
using dogpile::Metadata;
using dogpile::Region;
using dogpile::RegionOptions;
using dogpile::test::Latch;
using dogpile::test::ManualClock;
using dogpile::test::RecordingBackend;

namespace {

struct EarlyRefreshTest : ::testing::Test {
    ManualClock clock;
    std::shared_ptr<RecordingBackend<std::string>> backend = std::make_shared<RecordingBackend<std::string>>();
    std::shared_ptr<double> next_random = std::make_shared<double>(1.0);
    dogpile::TimePoint created_at = clock.now();

    RegionOptions options(double beta = 1.0) {
        RegionOptions o;
        o.expiration_time = 60s;
        o.early_refresh = EarlyRefresh{beta};
        o.clock = clock.function();
        auto r = next_random;
        o.random = [r] { return *r; };
        return o;
    }

    // A value made at created_at whose creator took `took`.
    void plant(const std::string& key, const std::string& value, Duration took) {
        backend->put_raw(key, {value, Metadata::created_now(created_at, took)});
    }

    // Sets where clock sits relative to expiry (created_at + 60 s).
    void seconds_before_expiry(double seconds) {
        clock = ManualClock(created_at + 60s -
                            std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds)));
    }
};

TEST_F(EarlyRefreshTest, DecisionFollowsTheFormulaExactly) {
    // creation_time 1 s, beta 1, random e^-2: refresh when expiry - now <= 2 s.
    *next_random = std::exp(-2.0);
    for (double gap : {2.01, 1.99}) {
        seconds_before_expiry(gap);
        Region<std::string> region(backend, options());
        plant("k", "old", 1s);
        auto value = region.get_or_create("k", [] { return std::string("new"); });
        EXPECT_EQ(value, gap > 2.0 ? "old" : "new") << "gap " << gap;
        EXPECT_EQ(region.stats().early_refreshes, gap > 2.0 ? 0u : 1u);
    }
}

TEST_F(EarlyRefreshTest, BetaScalesTheWindow) {
    // beta 3: the same random value now reaches 6 s before expiry.
    *next_random = std::exp(-2.0);
    seconds_before_expiry(5.0);
    Region<std::string> region(backend, options(3.0));
    plant("k", "old", 1s);
    EXPECT_EQ(region.get_or_create("k", [] { return std::string("new"); }), "new");
}

TEST_F(EarlyRefreshTest, BetaZeroNeverRefreshesEarly) {
    *next_random = 1e-300;  // the strongest push towards refreshing there is
    seconds_before_expiry(0.001);
    Region<std::string> region(backend, options(0.0));
    plant("k", "old", 10s);
    EXPECT_EQ(region.get_or_create("k", [] { return std::string("new"); }), "old");
    EXPECT_EQ(region.stats().early_refreshes, 0u);
}

TEST_F(EarlyRefreshTest, PerCallOverrideTurnsItOnAndOff) {
    *next_random = 1e-300;
    seconds_before_expiry(1.0);
    auto o = options();
    o.early_refresh.reset();
    Region<std::string> region(backend, o);
    plant("k", "old", 1s);
    EXPECT_EQ(region.get_or_create("k", [] { return std::string("new"); }), "old");
    GetOrCreateOptions<std::string> on;
    on.early_refresh = EarlyRefresh{};
    EXPECT_EQ(region.get_or_create(
                  "k", [] { return std::string("new"); }, on),
              "new");

    Region<std::string> with_default(backend, options());
    plant("k", "old", 1s);
    GetOrCreateOptions<std::string> off;
    off.early_refresh = EarlyRefresh{0.0};
    EXPECT_EQ(with_default.get_or_create(
                  "k", [] { return std::string("new"); }, off),
              "old");
}

TEST_F(EarlyRefreshTest, NoCreationTimeOrNoExpiryOrStoreExpiryMeansNoEarlyRefresh) {
    *next_random = 1e-300;
    seconds_before_expiry(0.5);
    Region<std::string> region(backend, options());
    plant("unknown cost", "old", Duration::zero());
    EXPECT_EQ(region.get_or_create("unknown cost", [] { return std::string("new"); }), "old");
    backend->put_raw("store", {"old", Metadata::store_managed()});
    EXPECT_EQ(region.get_or_create("store", [] { return std::string("new"); }), "old");
    auto o = options();
    o.expiration_time = dogpile::ExpirationTime::never();
    Region<std::string> forever(backend, o);
    plant("k", "old", 1s);
    EXPECT_EQ(forever.get_or_create("k", [] { return std::string("new"); }), "old");
}

TEST_F(EarlyRefreshTest, RateMatchesTheFormulaOverManyCalls) {
    // P(refresh) = exp(-gap / (creation_time * beta)). The stored value never
    // changes (should_cache refuses), so every call decides at the same gap.
    auto engine = std::make_shared<std::mt19937_64>(20261127);
    struct Case {
        double gap_seconds, creation_seconds, beta;
    };
    for (const Case& c : {Case{1.0, 1.0, 1.0}, Case{4.0, 2.0, 1.0}, Case{3.0, 1.0, 3.0}, Case{0.25, 1.0, 1.0}}) {
        seconds_before_expiry(c.gap_seconds);
        auto o = options(c.beta);
        o.random = [engine] { return 1.0 - std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
        Region<std::string> region(backend, o);
        plant("k", "old", std::chrono::duration_cast<Duration>(std::chrono::duration<double>(c.creation_seconds)));
        GetOrCreateOptions<std::string> never_store;
        never_store.should_cache = [](const std::string&) { return false; };
        constexpr int calls = 20000;
        int refreshed = 0;
        for (int i = 0; i < calls; ++i) {
            if (region.get_or_create(
                    "k", [] { return std::string("new"); }, never_store) == "new")
                ++refreshed;
        }
        const double expected = std::exp(-c.gap_seconds / (c.creation_seconds * c.beta));
        const double sigma = std::sqrt(expected * (1 - expected) / calls);
        EXPECT_NEAR(static_cast<double>(refreshed) / calls, expected, 6 * sigma)
            << "gap " << c.gap_seconds << " creation " << c.creation_seconds << " beta " << c.beta;
        EXPECT_EQ(region.stats().early_refreshes, static_cast<std::uint64_t>(refreshed));
    }
}

TEST_F(EarlyRefreshTest, CreationTimeIsMeasuredAndStored) {
    Region<std::string> region(backend, options());
    region.get_or_create("k", [&] {
        clock.advance(3s);  // the creator "takes" 3 s of region time
        return std::string("v");
    });
    auto entry = region.get_value_metadata("k");
    ASSERT_TRUE(entry);
    EXPECT_EQ(entry->metadata.creation_time, 3s);
}

TEST_F(EarlyRefreshTest, OnlyTheLockWinnerRefreshesOthersGetTheFreshValueAtOnce) {
    *next_random = 1e-300;  // everybody wants to refresh
    seconds_before_expiry(1.0);
    Region<std::string> region(backend, options());
    plant("k", "fresh", 1s);
    Latch refreshing(1);
    Latch finish(1);
    std::thread winner([&] {
        auto v = region.get_or_create("k", [&] {
            refreshing.count_down();
            EXPECT_TRUE(finish.wait_for(20s));
            return std::string("refreshed");
        });
        EXPECT_EQ(v, "refreshed");
    });
    ASSERT_TRUE(refreshing.wait_for(20s));
    // The winner is still computing: these return at once with the fresh value.
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(region.get_or_create("k", [] { return std::string("second refresher"); }), "fresh");
    }
    finish.count_down();
    winner.join();
    EXPECT_EQ(region.stats().early_refreshes, 1u);
    EXPECT_EQ(region.stats().creations, 1u);
    EXPECT_EQ(backend->peek("k")->value, "refreshed");
}

TEST_F(EarlyRefreshTest, AsyncRunnerTakesTheRefresh) {
    *next_random = 1e-300;
    seconds_before_expiry(1.0);
    std::deque<std::function<void()>> tasks;
    auto o = options();
    o.async_creation_runner = [&](std::function<void()> task) { tasks.push_back(std::move(task)); };
    Region<std::string> region(backend, o);
    plant("k", "fresh", 1s);
    EXPECT_EQ(region.get_or_create("k", [] { return std::string("refreshed"); }), "fresh");
    ASSERT_EQ(tasks.size(), 1u);
    EXPECT_EQ(region.get_or_create("k", [] { return std::string("again"); }), "fresh");  // lock held by the task
    EXPECT_EQ(tasks.size(), 1u);
    tasks.front()();
    EXPECT_EQ(backend->peek("k")->value, "refreshed");
    EXPECT_EQ(region.lock_registry_size(), 0u);
}

}  // namespace
