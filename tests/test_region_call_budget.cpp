// The region's side of the per-call backend time budget (details/call_budget.hpp,
// docs/architecture.md "Deadlines"), seen from a backend that plays the
// transport: each backend call records CallBudget's state and charges a fixed
// amount, as the Redis connection charges the time it waited. This proves,
// without Redis, that every public region call opens one budget shared by all
// its backend calls, that creators and should_cache run outside it, that a
// cache call made inside a creator gets a budget of its own, and that async
// regeneration (the region's own work) does too.

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <dogpile/details/call_budget.hpp>
#include <dogpile/memoize.hpp>
#include <dogpile/region.hpp>

#include "support/manual_clock.hpp"
#include "support/recording_backend.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::CachedValue;
using dogpile::Region;
using dogpile::RegionOptions;
using dogpile::details::CallBudget;

constexpr auto budget = 5000ms;
constexpr auto charge_per_call = 1ms;
// What remaining() falls back to when the region configures no budget (the
// Redis transport passes its command_timeout here).
constexpr auto transport_default = 300ms;

// What one backend call saw.
struct Observation {
    std::string operation;
    bool active = false;
    std::optional<CallBudget::duration> remaining;
};

class BudgetRecordingBackend : public dogpile::test::RecordingBackend<std::string> {
public:
    using Base = dogpile::test::RecordingBackend<std::string>;
    using entry_type = CachedValue<std::string>;

    std::optional<entry_type> get(const std::string& key) override {
        observe("get");
        return Base::get(key);
    }
    std::vector<std::optional<entry_type>> get_multi(const std::vector<std::string>& keys) override {
        observe("get_multi");
        return Base::get_multi(keys);
    }
    void set(const std::string& key, const entry_type& entry) override {
        observe("set");
        Base::set(key, entry);
    }
    void set_multi(const std::vector<std::pair<std::string, entry_type>>& entries) override {
        observe("set_multi");
        Base::set_multi(entries);
    }
    void erase(const std::string& key) override {
        observe("erase");
        Base::erase(key);
    }

    std::vector<Observation> take() {
        std::lock_guard<std::mutex> lock(mutex_);
        return std::exchange(observed_, {});
    }

private:
    void observe(std::string operation) {
        Observation o{std::move(operation), CallBudget::active(), CallBudget::remaining(transport_default)};
        CallBudget::charge(charge_per_call);
        std::lock_guard<std::mutex> lock(mutex_);
        observed_.push_back(std::move(o));
    }

    std::mutex mutex_;
    std::vector<Observation> observed_;
};

// Every observation inside one budget of `full`: active, the first sees all of
// it, each later one what the calls before it left.
void expect_one_budget(const std::vector<Observation>& calls, CallBudget::duration full) {
    ASSERT_FALSE(calls.empty());
    for (std::size_t i = 0; i < calls.size(); ++i) {
        SCOPED_TRACE("backend call " + std::to_string(i) + " (" + calls[i].operation + ")");
        EXPECT_TRUE(calls[i].active);
        ASSERT_TRUE(calls[i].remaining.has_value());
        EXPECT_EQ(*calls[i].remaining, full - static_cast<long>(i) * CallBudget::duration(charge_per_call));
    }
}

struct RegionCallBudget : ::testing::Test {
    std::shared_ptr<BudgetRecordingBackend> backend = std::make_shared<BudgetRecordingBackend>();
    Region<std::string> region{backend, options()};

    static RegionOptions options() {
        RegionOptions o;
        o.backend_time_budget = budget;
        return o;
    }
};

TEST_F(RegionCallBudget, GetOrCreateMakesAllItsBackendCallsWithinOneBudgetAndTheCreatorOutsideIt) {
    std::optional<bool> creator_saw_budget;
    const auto value = region.get_or_create("k", [&] {
        creator_saw_budget = CallBudget::active();
        return std::string("v");
    });
    EXPECT_EQ(value, "v");
    ASSERT_TRUE(creator_saw_budget.has_value());
    EXPECT_FALSE(*creator_saw_budget) << "the creator must run under CallBudget::Pause";
    const auto calls = backend->take();
    ASSERT_EQ(calls.size(), 3u);  // get, re-check get under the lock, set
    expect_one_budget(calls, budget);
    EXPECT_FALSE(CallBudget::active()) << "the budget must end with the call";
}

TEST_F(RegionCallBudget, EachCallGetsAFreshBudget) {
    region.set("k", "v");
    region.get("k");
    region.get_multi({"k", "m"});
    region.erase("k");
    region.set_multi({{"a", "1"}, {"b", "2"}});
    for (const auto& call : backend->take()) {
        SCOPED_TRACE(call.operation);
        EXPECT_TRUE(call.active);
        EXPECT_EQ(call.remaining, CallBudget::duration(budget));
    }
}

TEST_F(RegionCallBudget, GetOrCreateMultiSharesOneBudgetAcrossAllKeysAndRunsTheCreatorOutsideIt) {
    std::vector<std::string> keys;
    for (int i = 0; i < 20; ++i) keys.push_back("key" + std::to_string(i));
    std::optional<bool> creator_saw_budget;
    int creator_calls = 0;
    const auto values = region.get_or_create_multi(keys, [&](const std::vector<std::string>& missing) {
        ++creator_calls;
        creator_saw_budget = CallBudget::active();
        std::vector<std::string> out;
        for (const auto& k : missing) out.push_back("v:" + k);
        return out;
    });
    ASSERT_EQ(values.size(), keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(values[i], "v:" + keys[i]);
    EXPECT_EQ(creator_calls, 1);
    ASSERT_TRUE(creator_saw_budget.has_value());
    EXPECT_FALSE(*creator_saw_budget);
    const auto calls = backend->take();
    ASSERT_EQ(calls.size(), 3u);  // get_multi, re-check get_multi under the locks, set_multi
    expect_one_budget(calls, budget);
}

TEST_F(RegionCallBudget, ShouldCacheRunsOutsideTheBudget) {
    dogpile::GetOrCreateOptions<std::string> opts;
    std::optional<bool> saw_budget;
    opts.should_cache = [&](const std::string&) {
        saw_budget = CallBudget::active();
        return true;
    };
    region.get_or_create(
        "k", [] { return std::string("v"); }, opts);
    ASSERT_TRUE(saw_budget.has_value());
    EXPECT_FALSE(*saw_budget);
}

TEST_F(RegionCallBudget, ACacheCallInsideACreatorGetsItsOwnBudgetAndTheOuterOneResumesWhereItWas) {
    const auto value = region.get_or_create(
        "outer", [&] { return "outer(" + region.get_or_create("inner", [] { return std::string("inner"); }) + ")"; });
    EXPECT_EQ(value, "outer(inner)");
    const auto calls = backend->take();
    // outer get, outer re-check, [inner get, inner re-check, inner set], outer set
    ASSERT_EQ(calls.size(), 6u);
    expect_one_budget({calls[0], calls[1], calls[5]}, budget);
    expect_one_budget({calls[2], calls[3], calls[4]}, budget);
}

TEST_F(RegionCallBudget, AsyncRegenerationRunsUnderABudgetOfItsOwnEvenWhenRunInline) {
    dogpile::test::ManualClock clock;
    RegionOptions o = options();
    o.clock = clock.function();
    o.expiration_time = 10s;
    o.async_creation_runner = [](std::function<void()> regenerate) { regenerate(); };
    Region<std::string> async_region{backend, o};
    async_region.set("k", "old");
    clock.advance(11s);
    backend->take();
    std::optional<bool> creator_saw_budget;
    const auto value = async_region.get_or_create("k", [&] {
        creator_saw_budget = CallBudget::active();
        return std::string("new");
    });
    EXPECT_EQ(value, "old");  // served stale while the runner regenerated
    ASSERT_TRUE(creator_saw_budget.has_value());
    EXPECT_FALSE(*creator_saw_budget);
    const auto calls = backend->take();
    ASSERT_EQ(calls.size(), 2u);  // the caller's get; the regeneration's set
    EXPECT_EQ(calls[1].operation, "set");
    expect_one_budget({calls[0]}, budget);
    expect_one_budget({calls[1]}, budget);
}

TEST_F(RegionCallBudget, WithoutAConfiguredBudgetTheFirstBackendCallFixesItFromTheTransportDefault) {
    Region<std::string> plain{backend, RegionOptions{}};
    plain.get_or_create("k", [] { return std::string("v"); });
    expect_one_budget(backend->take(), transport_default);
}

TEST_F(RegionCallBudget, EachMemoizedCallIsOneRegionCallWithOneBudget) {
    int calls = 0;
    auto cached = dogpile::memoize(region, "f", std::function<std::string(int)>([&](int id) {
                                       ++calls;
                                       EXPECT_FALSE(CallBudget::active());
                                       return std::to_string(id);
                                   }));
    EXPECT_EQ(cached(1), "1");
    expect_one_budget(backend->take(), budget);
    EXPECT_EQ(cached(1), "1");
    expect_one_budget(backend->take(), budget);
    EXPECT_EQ(calls, 1);
}

TEST_F(RegionCallBudget, TheErrorHookRunsOutsideTheBudget) {
    RegionOptions o = options();
    std::vector<bool> hook_saw_budget;
    o.error_hook = [&](const dogpile::BackendErrorEvent&) { hook_saw_budget.push_back(CallBudget::active()); };
    Region<std::string> reporting{backend, o};
    backend->failing = true;
    EXPECT_EQ(reporting.get_or_create("k", [] { return std::string("v"); }), "v");
    ASSERT_FALSE(hook_saw_budget.empty());
    for (bool saw : hook_saw_budget) EXPECT_FALSE(saw);
}

TEST(RegionCallBudgetOptions, ANonPositiveBudgetIsAConfigurationError) {
    RegionOptions o;
    o.backend_time_budget = 0ms;
    EXPECT_THROW(Region<std::string>(std::make_shared<BudgetRecordingBackend>(), o), dogpile::ConfigurationError);
}

}  // namespace
