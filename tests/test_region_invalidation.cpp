// Region invalidation strategies (invalidation.hpp): the default in-process
// times, a strategy shared by regions, dogpile.cache's predicates, times that
// never move backwards, a refreshing strategy's bounded loads (one loader at
// a time, at most once per interval, errors keeping the last times and never
// reaching get), and soft invalidation of regions without an expiration time
// (dogpile.cache's per-call expiration_time).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/invalidation.hpp>
#include <dogpile/region.hpp>

#include "support/latch.hpp"
#include "support/manual_clock.hpp"
#include "support/recording_backend.hpp"
#include "support/wait.hpp"

using namespace std::chrono_literals;
using dogpile::ExpirationTime;
using dogpile::GetOptions;
using dogpile::GetOrCreateOptions;
using dogpile::InProcessInvalidation;
using dogpile::Invalidation;
using dogpile::InvalidationTimes;
using dogpile::Region;
using dogpile::RegionInvalidationStrategy;
using dogpile::RegionOptions;
using dogpile::TimePoint;
using dogpile::test::Latch;
using dogpile::test::ManualClock;
using dogpile::test::RecordingBackend;
using dogpile::test::wait_for_condition;

namespace {

// What several processes share: the stored times (a stand-in for Redis, so
// that the region's refresh logic is tested without a server).
struct FakeStore {
    std::mutex mutex;
    InvalidationTimes times;
    bool fail_loads = false;
    bool fail_records = false;
};

// A refreshing strategy over a FakeStore. Its first load may be held until
// the test releases it; it counts loads and how many ran at once.
class FakeSharedStrategy final : public RegionInvalidationStrategy {
public:
    FakeSharedStrategy(std::shared_ptr<FakeStore> store, std::chrono::milliseconds interval)
        : RegionInvalidationStrategy(interval), store_(std::move(store)) {}

    std::atomic<int> loads{0};
    std::atomic<int> loading{0};
    std::atomic<int> most_loading_at_once{0};
    std::shared_ptr<Latch> first_load_entered;  // counted down by the first load, when set
    std::shared_ptr<Latch> release_first_load;  // the first load waits for it, when set

private:
    void record(Invalidation kind, TimePoint at) override {
        std::lock_guard<std::mutex> guard(store_->mutex);
        if (store_->fail_records) throw std::runtime_error("store unreachable");
        auto& slot = kind == Invalidation::hard ? store_->times.hard : store_->times.soft;
        if (!slot || *slot < at) slot = at;
    }

    InvalidationTimes load() override {
        const int now_loading = ++loading;
        int most = most_loading_at_once.load();
        while (most < now_loading && !most_loading_at_once.compare_exchange_weak(most, now_loading)) {
        }
        const int n = ++loads;
        if (n == 1 && first_load_entered) first_load_entered->count_down();
        if (n == 1 && release_first_load) release_first_load->wait();
        struct Leave {
            std::atomic<int>& loading;
            ~Leave() { --loading; }
        } leave{loading};
        std::lock_guard<std::mutex> guard(store_->mutex);
        if (store_->fail_loads) throw std::runtime_error("store unreachable");
        return store_->times;
    }

    std::shared_ptr<FakeStore> store_;
};

struct CountingCreator {
    std::shared_ptr<int> calls = std::make_shared<int>(0);
    std::string operator()() const { return "value " + std::to_string(++*calls); }
};

struct RegionInvalidationTest : ::testing::Test {
    ManualClock clock;
    std::shared_ptr<RecordingBackend<std::string>> backend = std::make_shared<RecordingBackend<std::string>>();

    RegionOptions options(std::shared_ptr<RegionInvalidationStrategy> strategy = nullptr) {
        RegionOptions o;
        o.clock = clock.function();
        o.invalidation = std::move(strategy);
        return o;
    }
};

// --- the strategy and its predicates -------------------------------------------

TEST(InvalidationTimes, PredicatesAreDogpileCaches) {
    const TimePoint t(std::chrono::hours(1000));
    InvalidationTimes none;
    EXPECT_FALSE(none.was_hard_invalidated());
    EXPECT_FALSE(none.was_soft_invalidated());
    EXPECT_FALSE(none.is_invalidated(t));

    InvalidationTimes hard{t, std::nullopt};
    EXPECT_TRUE(hard.was_hard_invalidated());
    EXPECT_FALSE(hard.was_soft_invalidated());
    EXPECT_TRUE(hard.is_hard_invalidated(t - 1ns));
    EXPECT_FALSE(hard.is_hard_invalidated(t));  // created at the invalidation time: still valid
    EXPECT_FALSE(hard.is_soft_invalidated(t - 1ns));
    EXPECT_TRUE(hard.is_invalidated(t - 1ns));

    InvalidationTimes soft{std::nullopt, t};
    EXPECT_TRUE(soft.was_soft_invalidated());
    EXPECT_TRUE(soft.is_soft_invalidated(t - 1ns));
    EXPECT_FALSE(soft.is_hard_invalidated(t - 1ns));
    EXPECT_TRUE(soft.is_invalidated(t - 1ns));
    EXPECT_FALSE(soft.is_invalidated(t));
}

TEST(InProcessInvalidation, NeverLoadsAndNeverMovesBackwards) {
    InProcessInvalidation strategy;
    EXPECT_EQ(strategy.refresh_interval(), std::nullopt);
    const TimePoint later(std::chrono::hours(2000));
    strategy.invalidate(Invalidation::hard, later);
    strategy.invalidate(Invalidation::hard, later - 1h);  // a clock that stepped back
    strategy.invalidate(Invalidation::soft, later - 1h);
    EXPECT_EQ(strategy.times().hard, later);
    EXPECT_EQ(strategy.times().soft, later - 1h);
    int errors = 0;
    strategy.refresh_if_due([&] { ++errors; });
    EXPECT_EQ(errors, 0);
}

// --- the default: in-process, per region -------------------------------------------

TEST_F(RegionInvalidationTest, DefaultIsThisRegionsOwnAndItsCopies) {
    Region<std::string> region(backend, options());
    Region<std::string> copy = region;
    Region<std::string> other(backend, options());  // same backend, its own times (as dogpile.cache)
    region.set("k", "v");
    clock.advance(1s);
    region.invalidate();

    EXPECT_EQ(region.invalidation().refresh_interval(), std::nullopt);
    EXPECT_EQ(region.invalidation().times().hard, clock.now());
    EXPECT_EQ(region.get("k"), std::nullopt);
    EXPECT_EQ(copy.get("k"), std::nullopt);
    EXPECT_EQ(other.get("k"), "v");
    EXPECT_FALSE(other.invalidation().times().was_hard_invalidated());
    EXPECT_EQ(region.options().invalidation, nullptr);  // options stay the caller's: not shared by reuse
}

TEST_F(RegionInvalidationTest, OneStrategyInvalidatesEveryRegionSharingIt) {
    auto shared = std::make_shared<InProcessInvalidation>();
    Region<std::string> a(backend, options(shared));
    Region<std::string> b(backend, options(shared));
    a.set("k", "v");
    clock.advance(1s);
    b.invalidate();
    EXPECT_EQ(a.get("k"), std::nullopt);
    EXPECT_EQ(&a.invalidation(), &b.invalidation());
}

// --- a refreshing (shared) strategy ---------------------------------------------------

TEST_F(RegionInvalidationTest, AnotherProcesssInvalidationArrivesThroughTheStore) {
    auto store = std::make_shared<FakeStore>();
    auto here = std::make_shared<FakeSharedStrategy>(store, 1ms);
    auto there = std::make_shared<FakeSharedStrategy>(store, 1ms);
    Region<std::string> reader(backend, options(here));
    Region<std::string> invalidator(backend, options(there));
    CountingCreator creator;
    EXPECT_EQ(reader.get_or_create("k", creator), "value 1");
    clock.advance(1s);
    invalidator.invalidate(Invalidation::hard);
    EXPECT_EQ(store->times.hard, clock.now());
    // Within one refresh interval (1 ms) of the reader's view: poll, the
    // deadline only turns a failure into a test failure.
    ASSERT_TRUE(wait_for_condition([&] { return !reader.get("k").has_value(); }, 30s));
    clock.advance(1s);
    EXPECT_EQ(reader.get_or_create("k", creator), "value 2");
    EXPECT_EQ(*creator.calls, 2);
    EXPECT_EQ(reader.stats().backend_errors, 0u);
}

TEST_F(RegionInvalidationTest, LoadsAtMostOncePerInterval) {
    auto store = std::make_shared<FakeStore>();
    auto strategy = std::make_shared<FakeSharedStrategy>(store, std::chrono::hours(1));
    Region<std::string> region(backend, options(strategy));
    region.set("k", "v");
    for (int i = 0; i < 100; ++i) EXPECT_EQ(region.get("k"), "v");
    EXPECT_EQ(strategy->loads.load(), 1);  // the first read; the next is due in an hour
}

TEST_F(RegionInvalidationTest, OneLoaderAtATimeWhileTheOthersReadThePublishedTimes) {
    auto store = std::make_shared<FakeStore>();
    auto strategy = std::make_shared<FakeSharedStrategy>(store, 1ms);
    strategy->first_load_entered = std::make_shared<Latch>(1);
    strategy->release_first_load = std::make_shared<Latch>(1);
    Region<std::string> region(backend, options(strategy));
    region.set("k", "v");

    std::thread loader([&] { EXPECT_EQ(region.get("k"), "v"); });
    if (!strategy->first_load_entered->wait_for(30s)) {
        strategy->release_first_load->count_down();
        loader.join();
        FAIL() << "the first read did not load";
    }
    // The first load is blocked: these reads must neither wait for it nor
    // start a second one, however long past the interval they come.
    std::this_thread::sleep_for(5ms);  // past the interval, not synchronisation
    for (int i = 0; i < 50; ++i) EXPECT_EQ(region.get("k"), "v");
    EXPECT_EQ(strategy->loads.load(), 1);
    strategy->release_first_load->count_down();
    loader.join();
    EXPECT_EQ(strategy->most_loading_at_once.load(), 1);
}

// For TSan: readers refreshing, another region invalidating through the
// store, and a flaky store, all at once.
TEST_F(RegionInvalidationTest, ConcurrentReadersRefreshWhileAnotherRegionInvalidates) {
    auto store = std::make_shared<FakeStore>();
    auto here = std::make_shared<FakeSharedStrategy>(store, 1ms);
    auto there = std::make_shared<FakeSharedStrategy>(store, 1ms);
    Region<std::string> reader(backend, options(here));
    Region<std::string> invalidator(backend, options(there));
    reader.set("k", "v");
    constexpr int kReaders = 3;
    Latch start(kReaders + 1);
    std::vector<std::thread> readers;
    for (int t = 0; t < kReaders; ++t) {
        readers.emplace_back([&] {
            start.arrive_and_wait();
            for (int i = 0; i < 2000; ++i) {
                reader.get("k");
                reader.invalidation().times();
            }
        });
    }
    start.arrive_and_wait();
    for (int i = 0; i < 200; ++i) {
        clock.advance(1ms);
        {
            std::lock_guard<std::mutex> guard(store->mutex);
            store->fail_loads = i % 3 == 0;
        }
        invalidator.invalidate(i % 2 == 0 ? Invalidation::hard : Invalidation::soft);
    }
    for (auto& r : readers) r.join();
    EXPECT_EQ(here->most_loading_at_once.load(), 1);
    std::optional<TimePoint> last_hard;
    {
        std::lock_guard<std::mutex> guard(store->mutex);
        store->fail_loads = false;
        last_hard = store->times.hard;
    }
    ASSERT_TRUE(wait_for_condition(
        [&] {
            reader.get("k");
            return reader.invalidation().times().hard == last_hard;
        },
        30s));
}

TEST_F(RegionInvalidationTest, AFailingLoadKeepsTheLastTimesAndNeverThrowsFromGet) {
    auto store = std::make_shared<FakeStore>();
    auto strategy = std::make_shared<FakeSharedStrategy>(store, 1ms);
    std::vector<std::string> reported;
    RegionOptions o = options(strategy);
    o.error_hook = [&](const dogpile::BackendErrorEvent& e) { reported.emplace_back(e.operation); };
    o.on_backend_error = dogpile::BackendErrorPolicy::raise;  // even so: a get never throws for it
    Region<std::string> region(backend, o);
    region.set("old", "v");
    clock.advance(1s);
    region.invalidate(Invalidation::hard);
    const TimePoint invalidated_at = clock.now();
    clock.advance(1s);
    region.set("new", "v");

    store->fail_loads = true;
    ASSERT_TRUE(wait_for_condition(
        [&] {
            EXPECT_NO_THROW(EXPECT_EQ(region.get("old"), std::nullopt));
            return region.stats().backend_errors >= 2;
        },
        30s));
    EXPECT_EQ(region.get("new"), "v");
    EXPECT_EQ(region.invalidation().times().hard, invalidated_at);
    ASSERT_FALSE(reported.empty());
    EXPECT_EQ(reported.front(), "invalidation_load");
}

TEST_F(RegionInvalidationTest, AFailingRecordThrowsFromInvalidateAfterTakingEffectHere) {
    auto store = std::make_shared<FakeStore>();
    auto strategy = std::make_shared<FakeSharedStrategy>(store, std::chrono::hours(1));
    Region<std::string> region(backend, options(strategy));
    region.set("k", "v");
    clock.advance(1s);
    store->fail_records = true;
    EXPECT_THROW(region.invalidate(), std::runtime_error);
    EXPECT_EQ(region.stats().backend_errors, 1u);
    EXPECT_EQ(region.get("k"), std::nullopt);
}

// --- soft invalidation without a region expiration time (dogpile.cache's
// per-call expiration_time) ---------------------------------------------------------

TEST_F(RegionInvalidationTest, SoftInvalidationOfANeverExpiringRegionIsAccepted) {
    Region<std::string> region(backend, options());
    region.set("k", "v");
    clock.advance(1s);
    EXPECT_NO_THROW(region.invalidate(Invalidation::soft));
    // get(): nothing, as dogpile.cache's get() of an invalidated value.
    EXPECT_EQ(region.get("k"), std::nullopt);
    GetOptions per_call;
    per_call.expiration_time = ExpirationTime(1h);
    EXPECT_EQ(region.get("k", per_call), std::nullopt);
    GetOptions ignore;
    ignore.ignore_expiration = true;
    EXPECT_EQ(region.get("k", ignore), "v");
}

TEST_F(RegionInvalidationTest, SoftInvalidatedValueRegeneratesWithAPerCallExpirationTime) {
    Region<std::string> region(backend, options());
    GetOrCreateOptions<std::string> per_call;
    per_call.expiration_time = ExpirationTime(1h);
    CountingCreator creator;
    EXPECT_EQ(region.get_or_create("k", creator, per_call), "value 1");
    clock.advance(1s);
    region.invalidate(Invalidation::soft);
    clock.advance(1s);
    EXPECT_EQ(region.get_or_create("k", creator, per_call), "value 2");
    EXPECT_EQ(region.get_or_create("k", creator, per_call), "value 2");
    EXPECT_EQ(*creator.calls, 2);
}

// dogpile.cache raises here ("Non-None expiration time required for soft
// invalidation"); this library treats the value as stale (docs/dogpile-cache-users.md).
TEST_F(RegionInvalidationTest, SoftInvalidatedValueRegeneratesWithoutAnyExpirationTime) {
    Region<std::string> region(backend, options());
    CountingCreator creator;
    EXPECT_EQ(region.get_or_create("k", creator), "value 1");
    clock.advance(1s);
    region.invalidate(Invalidation::soft);
    clock.advance(1s);
    EXPECT_EQ(region.get_or_create("k", creator), "value 2");
    EXPECT_EQ(region.get_or_create("k", creator), "value 2");
    EXPECT_EQ(*creator.calls, 2);

    auto multi = [&](const std::vector<std::string>& keys) {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < keys.size(); ++i) out.push_back(creator());
        return out;
    };
    EXPECT_EQ(region.get_or_create_multi({"a"}, multi), (std::vector<std::string>{"value 3"}));
    clock.advance(1s);
    region.invalidate(Invalidation::soft);
    clock.advance(1s);
    EXPECT_EQ(region.get_or_create_multi({"a"}, multi), (std::vector<std::string>{"value 4"}));
    EXPECT_EQ(*creator.calls, 4);
}

TEST_F(RegionInvalidationTest, SoftInvalidatedValueIsServedWhileOneCallerRegenerates) {
    Region<std::string> region(backend, options());
    GetOrCreateOptions<std::string> per_call;
    per_call.expiration_time = ExpirationTime(1h);
    region.set("k", "old");
    clock.advance(1s);
    region.invalidate(Invalidation::soft);
    clock.advance(1s);

    Latch entered(1);
    Latch release(1);
    std::thread regenerator([&] {
        EXPECT_EQ(region.get_or_create(
                      "k",
                      [&] {
                          entered.count_down();
                          release.wait();
                          return std::string("new");
                      },
                      per_call),
                  "new");
    });
    if (!entered.wait_for(30s)) {  // the value was not stale: nobody regenerates
        release.count_down();
        regenerator.join();
        FAIL() << "the soft-invalidated value was not regenerated";
    }
    int other_calls = 0;
    EXPECT_EQ(region.get_or_create(
                  "k",
                  [&] {
                      ++other_calls;
                      return std::string("second creator");
                  },
                  per_call),
              "old");
    release.count_down();
    regenerator.join();
    EXPECT_EQ(other_calls, 0);
    EXPECT_EQ(region.stats().stale_served, 1u);
    EXPECT_EQ(region.get("k"), "new");
}

// This library keeps both times; dogpile.cache's default keeps only the last
// invalidation, so its soft invalidation after a hard one turns the hard
// one's misses into stale values.
TEST_F(RegionInvalidationTest, SoftAfterHardKeepsTheHardCut) {
    Region<std::string> region(backend, options());
    region.set("older", "v");
    clock.advance(1s);
    region.invalidate(Invalidation::hard);
    clock.advance(1s);
    region.set("between", "v");
    clock.advance(1s);
    region.invalidate(Invalidation::soft);
    clock.advance(1s);
    const InvalidationTimes times = region.invalidation().times();
    EXPECT_TRUE(times.is_hard_invalidated(clock.now() - 3s - 1ns));
    EXPECT_FALSE(times.is_hard_invalidated(clock.now() - 2s));
    EXPECT_TRUE(times.is_soft_invalidated(clock.now() - 2s));

    // "between" is stale: served while another caller regenerates it.
    Latch entered(1);
    Latch release(1);
    std::thread regenerator([&] {
        region.get_or_create("between", [&] {
            entered.count_down();
            release.wait();
            return std::string("new");
        });
    });
    if (!entered.wait_for(30s)) {
        release.count_down();
        regenerator.join();
        FAIL() << "\"between\" was not regenerated";
    }
    EXPECT_EQ(region.get_or_create("between", [] { return std::string("unused"); }), "v");
    release.count_down();
    regenerator.join();
    CountingCreator creator;
    EXPECT_EQ(region.get_or_create("older", creator), "value 1");
}

}  // namespace
