// Region behaviour, ported from dogpile.cache's tests/cache/test_region.py and
// tests/test_lock.py (single-threaded parts), plus what goes beyond them.

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/backends/memory.hpp>
#include <dogpile/clock.hpp>
#include <dogpile/key_mangler.hpp>
#include <dogpile/region.hpp>

#include "support/manual_clock.hpp"
#include "support/recording_backend.hpp"

using namespace std::chrono_literals;
using dogpile::ExpirationTime;
using dogpile::GetOptions;
using dogpile::GetOrCreateOptions;
using dogpile::Invalidation;
using dogpile::Region;
using dogpile::RegionOptions;
using dogpile::test::ManualClock;
using dogpile::test::RecordingBackend;

namespace {

struct RegionTest : ::testing::Test {
    ManualClock clock;
    std::shared_ptr<RecordingBackend<std::string>> backend = std::make_shared<RecordingBackend<std::string>>();

    RegionOptions options(std::optional<ExpirationTime> expiration = std::nullopt) {
        RegionOptions o;
        if (expiration) o.expiration_time = *expiration;
        o.clock = clock.function();
        return o;
    }

    Region<std::string> region(std::optional<ExpirationTime> expiration = std::nullopt) {
        return Region<std::string>(backend, options(expiration));
    }
};

// A creator that returns "value N" and counts its calls.
struct CountingCreator {
    std::shared_ptr<int> calls = std::make_shared<int>(0);
    std::string operator()() const { return "value " + std::to_string(++*calls); }
};

TEST_F(RegionTest, SetGetValue) {
    auto r = region();
    r.set("some key", "some value");
    EXPECT_EQ(r.get("some key"), "some value");
}

TEST_F(RegionTest, GetNothingIsNullopt) {
    auto r = region();
    EXPECT_EQ(r.get("some key"), std::nullopt);
}

TEST_F(RegionTest, CreatorRunsOnceThenHits) {
    auto r = region();
    CountingCreator creator;
    EXPECT_EQ(r.get_or_create("some key", creator), "value 1");
    EXPECT_EQ(r.get_or_create("some key", creator), "value 1");
    EXPECT_EQ(*creator.calls, 1);
    auto s = r.stats();
    EXPECT_EQ(s.misses, 1u);
    EXPECT_EQ(s.hits, 1u);
    EXPECT_EQ(s.creations, 1u);
}

TEST_F(RegionTest, HitPathTakesNoLock) {
    auto r = region();
    r.set("k", "v");
    EXPECT_EQ(r.get_or_create("k", [] { return std::string("never"); }), "v");
    EXPECT_EQ(backend->mutex_requests.load(), 0) << "a hit must not lock";
    EXPECT_EQ(backend->gets.load(), 1);  // no re-read under a lock
    // The counter sees a lock when there is one: a miss takes exactly one.
    EXPECT_EQ(r.get_or_create("cold", [] { return std::string("made"); }), "made");
    EXPECT_EQ(backend->mutex_requests.load(), 1);
    EXPECT_EQ(r.lock_registry_size(), 0u);
}

TEST_F(RegionTest, EraseRemoves) {
    auto r = region();
    r.set("k", "v");
    r.erase("k");
    EXPECT_EQ(r.get("k"), std::nullopt);
}

TEST_F(RegionTest, ExpireServesStaleThenRegenerates) {
    // Single caller, value expired: it regenerates synchronously.
    auto r = region(1s);
    CountingCreator creator;
    EXPECT_EQ(r.get_or_create("k", creator), "value 1");
    clock.advance(2s);
    EXPECT_EQ(r.get_or_create("k", creator), "value 2");
    EXPECT_EQ(r.get_or_create("k", creator), "value 2");
}

TEST_F(RegionTest, ExpireOnGetIsMiss) {
    auto r = region(1s);
    r.set("k", "v");
    clock.advance(500ms);
    EXPECT_EQ(r.get("k"), "v");
    clock.advance(600ms);
    EXPECT_EQ(r.get("k"), std::nullopt);
}

TEST_F(RegionTest, IgnoreExpirationOnGet) {
    auto r = region(1s);
    r.set("k", "v");
    clock.advance(2s);
    GetOptions opts;
    opts.ignore_expiration = true;
    EXPECT_EQ(r.get("k", opts), "v");
}

TEST_F(RegionTest, PerCallExpirationOverrideOnGet) {
    auto r = region(10s);
    r.set("k", "v");
    clock.advance(2s);
    GetOptions opts;
    opts.expiration_time = ExpirationTime(1s);
    EXPECT_EQ(r.get("k", opts), std::nullopt);
    EXPECT_EQ(r.get("k"), "v");
}

TEST_F(RegionTest, PerCallExpirationOverrideOnGetOrCreate) {
    auto r = region(1s);
    CountingCreator creator;
    GetOrCreateOptions<std::string> longer;
    longer.expiration_time = ExpirationTime(5s);
    EXPECT_EQ(r.get_or_create("k", creator, longer), "value 1");
    clock.advance(3s);
    EXPECT_EQ(r.get_or_create("k", creator, longer), "value 1");
    EXPECT_EQ(r.get_or_create("k", creator), "value 2");
}

TEST_F(RegionTest, PerCallNeverExpires) {
    auto r = region(1s);
    CountingCreator creator;
    GetOrCreateOptions<std::string> never;
    never.expiration_time = ExpirationTime::never();
    r.get_or_create("k", creator, never);
    clock.advance(24h);
    EXPECT_EQ(r.get_or_create("k", creator, never), "value 1");
    EXPECT_EQ(*creator.calls, 1);
}

TEST_F(RegionTest, RegionDefaultIsNever) {
    auto r = region();
    CountingCreator creator;
    r.get_or_create("k", creator);
    clock.advance(24h * 365);
    EXPECT_EQ(r.get_or_create("k", creator), "value 1");
}

TEST_F(RegionTest, NonPositiveExpirationIsAClearError) {
    EXPECT_THROW(ExpirationTime(0s), dogpile::ConfigurationError);
    EXPECT_THROW(ExpirationTime(-1s), dogpile::ConfigurationError);
}

TEST_F(RegionTest, ValueMetadata) {
    auto r = region();
    const auto before = clock.now();
    r.set("k", "v");
    clock.advance(3s);
    auto entry = r.get_value_metadata("k");
    ASSERT_TRUE(entry);
    EXPECT_EQ(entry->value, "v");
    EXPECT_EQ(entry->metadata.created_at, before);
    EXPECT_EQ(entry->metadata.version, dogpile::Metadata::current_version);
    EXPECT_EQ(entry->age(clock.now()), 3s);
}

TEST_F(RegionTest, WrongMetadataVersionIsMiss) {
    auto r = region();
    dogpile::Metadata m = dogpile::Metadata::created_now(clock.now());
    m.version = 99;
    backend->put_raw("k", {"old format", m});
    EXPECT_EQ(r.get("k"), std::nullopt);
    EXPECT_EQ(r.get_or_create("k", [] { return std::string("new"); }), "new");
}

TEST_F(RegionTest, StoreManagedExpiryIsAlwaysFresh) {
    auto r = region(1s);
    backend->put_raw("k", {"from store", dogpile::Metadata::store_managed()});
    clock.advance(1h);
    EXPECT_EQ(r.get_or_create("k", [] { return std::string("new"); }), "from store");
}

// --- invalidation ------------------------------------------------------------

TEST_F(RegionTest, HardInvalidateGet) {
    auto r = region(1h);
    r.set("k", "v");
    clock.advance(1s);
    r.invalidate();
    EXPECT_EQ(r.get("k"), std::nullopt);
    clock.advance(1s);
    r.set("k", "v2");
    EXPECT_EQ(r.get("k"), "v2");
}

TEST_F(RegionTest, HardInvalidateGetOrCreateBlocksAndRecreates) {
    auto r = region(1h);
    CountingCreator creator;
    r.get_or_create("k", creator);
    clock.advance(1s);
    r.invalidate(Invalidation::hard);
    clock.advance(1s);
    EXPECT_EQ(r.get_or_create("k", creator), "value 2");
    EXPECT_EQ(r.get_or_create("k", creator), "value 2");
}

TEST_F(RegionTest, SoftInvalidateGetIsMiss) {
    auto r = region(1h);
    r.set("k", "v");
    clock.advance(1s);
    r.invalidate(Invalidation::soft);
    EXPECT_EQ(r.get("k"), std::nullopt);
    GetOptions ignore;
    ignore.ignore_expiration = true;
    EXPECT_EQ(r.get("k", ignore), "v");
}

TEST_F(RegionTest, SoftInvalidateGetOrCreateRegenerates) {
    auto r = region(1h);
    CountingCreator creator;
    r.get_or_create("k", creator);
    clock.advance(1s);
    r.invalidate(Invalidation::soft);
    clock.advance(1s);
    EXPECT_EQ(r.get_or_create("k", creator), "value 2");
}

TEST_F(RegionTest, HardInvalidateGetMulti) {
    auto r = region(1h);
    r.set_multi({{"a", "1"}, {"b", "2"}});
    clock.advance(1s);
    r.invalidate();
    auto got = r.get_multi({"a", "b"});
    EXPECT_EQ(got, (std::vector<std::optional<std::string>>{std::nullopt, std::nullopt}));
}

TEST_F(RegionTest, SoftInvalidateGetOrCreateMulti) {
    auto r = region(1h);
    int calls = 0;
    auto creator = [&](const std::vector<std::string>& keys) {
        ++calls;
        std::vector<std::string> out;
        for (const auto& k : keys) out.push_back(k + std::to_string(calls));
        return out;
    };
    EXPECT_EQ(r.get_or_create_multi({"a", "b"}, creator), (std::vector<std::string>{"a1", "b1"}));
    clock.advance(1s);
    r.invalidate(Invalidation::soft);
    clock.advance(1s);
    EXPECT_EQ(r.get_or_create_multi({"a", "b"}, creator), (std::vector<std::string>{"a2", "b2"}));
    EXPECT_EQ(calls, 2);
}

// --- should_cache --------------------------------------------------------------

TEST_F(RegionTest, ShouldCacheRejectsValue) {
    auto r = region();
    GetOrCreateOptions<std::string> opts;
    opts.should_cache = [](const std::string& v) { return v != "value 1"; };
    CountingCreator creator;
    EXPECT_EQ(r.get_or_create("k", creator, opts), "value 1");
    EXPECT_EQ(r.get("k"), std::nullopt);
    EXPECT_EQ(r.get_or_create("k", creator, opts), "value 2");
    EXPECT_EQ(r.get("k"), "value 2");
}

TEST_F(RegionTest, ShouldCacheMulti) {
    auto r = region();
    GetOrCreateOptions<std::string> opts;
    opts.should_cache = [](const std::string& v) { return v != "skip"; };
    auto creator = [](const std::vector<std::string>& keys) {
        std::vector<std::string> out;
        for (const auto& k : keys) out.push_back(k == "b" ? "skip" : "v" + k);
        return out;
    };
    EXPECT_EQ(r.get_or_create_multi({"a", "b", "c"}, creator, opts), (std::vector<std::string>{"va", "skip", "vc"}));
    EXPECT_EQ(r.get("a"), "va");
    EXPECT_EQ(r.get("b"), std::nullopt);
    EXPECT_EQ(r.get("c"), "vc");
}

// --- multi ---------------------------------------------------------------------

// A multi creator that returns "new <key>" for each key and records every batch it was given.
auto recording_multi_creator(std::vector<std::vector<std::string>>& seen) {
    return [&seen](const std::vector<std::string>& keys) {
        seen.push_back(keys);
        std::vector<std::string> out;
        for (const auto& k : keys) out.push_back("new " + k);
        return out;
    };
}

TEST_F(RegionTest, MultiCreatorGetsSortedUniqueMissingKeys) {
    auto r = region();
    r.set("b", "cached b");
    std::vector<std::vector<std::string>> seen;
    auto creator = recording_multi_creator(seen);
    auto values = r.get_or_create_multi({"d", "b", "a", "d", "c"}, creator);
    EXPECT_EQ(values, (std::vector<std::string>{"new d", "cached b", "new a", "new d", "new c"}));
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0], (std::vector<std::string>{"a", "c", "d"}));
}

TEST_F(RegionTest, MultiUsesOneMultiReadOneRecheckAndOneMultiWrite) {
    auto r = region();
    auto creator = [](const std::vector<std::string>& keys) { return keys; };
    r.get_or_create_multi({"a", "b", "c"}, creator);
    EXPECT_EQ(backend->get_multis.load(), 2);  // the read, and the re-check under the locks
    EXPECT_EQ(backend->set_multis.load(), 1);
    EXPECT_EQ(backend->gets.load(), 0);
    EXPECT_EQ(backend->sets.load(), 0);
    backend->get_multis = 0;
    r.get_or_create_multi({"a", "b", "c"}, creator);
    EXPECT_EQ(backend->get_multis.load(), 1);  // all hits: no locks, no re-check
    EXPECT_EQ(backend->set_multis.load(), 1);
}

TEST_F(RegionTest, MultiExpiredValuesRegenerate) {
    auto r = region(1s);
    int calls = 0;
    auto creator = [&](const std::vector<std::string>& keys) {
        ++calls;
        std::vector<std::string> out;
        for (const auto& k : keys) out.push_back(k + std::to_string(calls));
        return out;
    };
    r.get_or_create_multi({"a", "b"}, creator);
    clock.advance(500ms);
    r.set("c", "c0");
    clock.advance(600ms);  // a, b expired; c fresh
    EXPECT_EQ(r.get_or_create_multi({"a", "b", "c"}, creator), (std::vector<std::string>{"a2", "b2", "c0"}));
}

// dogpile.cache's test_no_double_get_on_expired: an expired value is read once,
// then regenerated under the lock without reading it again.
TEST_F(RegionTest, ExpiredValueIsReadOnceBeforeItsRegeneration) {
    auto r = region(1s);
    CountingCreator creator;
    r.get_or_create("k", creator);
    clock.advance(2s);
    backend->gets = 0;
    EXPECT_EQ(r.get_or_create("k", creator), "value 2");
    EXPECT_EQ(backend->gets.load(), 1);
    EXPECT_EQ(backend->sets.load(), 2);
}

// A missing value is read again under the lock: somebody may have created it
// while this caller waited, and that second read is what keeps it single.
TEST_F(RegionTest, MissingValueIsReadAgainUnderTheLock) {
    auto r = region();
    CountingCreator creator;
    r.get_or_create("k", creator);
    EXPECT_EQ(backend->gets.load(), 2);
}

TEST_F(RegionTest, MultiExpiredValuesAreReadOnce) {
    auto r = region(1s);
    auto creator = [](const std::vector<std::string>& keys) { return keys; };
    r.get_or_create_multi({"a", "b"}, creator);
    clock.advance(2s);
    backend->get_multis = 0;
    r.get_or_create_multi({"a", "b"}, creator);
    EXPECT_EQ(backend->get_multis.load(), 1);
}

// Two keys that the mangler maps to one string are one key: one lock (a
// second lock on the same string would wait for the first forever), one
// creation, the same value for both.
TEST_F(RegionTest, MultiKeysManglingToOneStringAreOneKey) {
    RegionOptions o = options();
    o.key_mangler = [](const std::string& key) {
        std::string lower = key;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return lower;
    };
    Region<std::string> r(backend, o);
    std::vector<std::vector<std::string>> seen;
    auto creator = recording_multi_creator(seen);
    // On a thread of its own, detached, so a deadlock fails the test instead of hanging it.
    auto task = std::make_shared<std::packaged_task<std::vector<std::string>()>>([&] {
        return r.get_or_create_multi({"b", "A", "a", "B", "c"}, creator);
    });
    auto done = task->get_future();
    std::thread([task] { (*task)(); }).detach();
    ASSERT_EQ(done.wait_for(20s), std::future_status::ready) << "get_or_create_multi deadlocked on its own lock";
    EXPECT_EQ(done.get(), (std::vector<std::string>{"new B", "new A", "new A", "new B", "new c"}));
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0], (std::vector<std::string>{"A", "B", "c"}));
    EXPECT_EQ(r.get("a"), std::optional<std::string>("new A"));
    EXPECT_EQ(r.get("C"), std::optional<std::string>("new c"));
    EXPECT_EQ(r.lock_registry_size(), 0u);
}

TEST_F(RegionTest, MultiCreatorReturningWrongCountIsAnError) {
    auto r = region();
    auto creator = [](const std::vector<std::string>&) { return std::vector<std::string>{"only one"}; };
    EXPECT_THROW(r.get_or_create_multi({"a", "b"}, creator), dogpile::Error);
    EXPECT_EQ(r.lock_registry_size(), 0u);
    EXPECT_EQ(r.get("a"), std::nullopt);
}

TEST_F(RegionTest, SetMultiGetMultiEraseMulti) {
    auto r = region();
    r.set_multi({{"a", "1"}, {"b", "2"}, {"c", "3"}});
    EXPECT_EQ(r.get_multi({"c", "x", "a"}), (std::vector<std::optional<std::string>>{"3", std::nullopt, "1"}));
    r.erase_multi({"a", "c"});
    EXPECT_EQ(r.get_multi({"a", "b", "c"}), (std::vector<std::optional<std::string>>{std::nullopt, "2", std::nullopt}));
}

// --- failures --------------------------------------------------------------------

TEST_F(RegionTest, ExplodingCreatorPropagatesStoresNothingReleasesLock) {
    auto r = region();
    EXPECT_THROW(r.get_or_create("k", []() -> std::string { throw std::runtime_error("boom"); }), std::runtime_error);
    EXPECT_EQ(r.get("k"), std::nullopt);
    EXPECT_EQ(r.lock_registry_size(), 0u);
    EXPECT_EQ(r.get_or_create("k", [] { return std::string("ok"); }), "ok");
}

TEST_F(RegionTest, ExplodingMultiCreatorReleasesAllLocks) {
    auto r = region();
    auto creator = [](const std::vector<std::string>&) -> std::vector<std::string> {
        throw std::runtime_error("boom");
    };
    EXPECT_THROW(r.get_or_create_multi({"a", "b"}, creator), std::runtime_error);
    EXPECT_EQ(r.lock_registry_size(), 0u);
}

TEST_F(RegionTest, BackendErrorsDegradeToCreatorAndAreReported) {
    std::vector<std::string> reported;
    auto o = options();
    o.error_hook = [&](const dogpile::BackendErrorEvent& e) {
        reported.push_back(std::string(e.operation) + ": " + std::string(e.message));
    };
    Region<std::string> r(backend, o);
    backend->failing = true;
    EXPECT_EQ(r.get_or_create("k", [] { return std::string("computed"); }), "computed");
    EXPECT_EQ(r.get("k"), std::nullopt);
    EXPECT_GE(r.stats().backend_errors, 3u);  // get, re-check get, set, get
    ASSERT_FALSE(reported.empty());
    EXPECT_EQ(reported.front(), "get: injected backend failure");
    backend->failing = false;
    EXPECT_EQ(r.get_or_create("k", [] { return std::string("stored"); }), "stored");
    EXPECT_EQ(r.get("k"), "stored");
}

TEST_F(RegionTest, BackendErrorPolicyRaise) {
    auto o = options();
    o.on_backend_error = dogpile::BackendErrorPolicy::raise;
    Region<std::string> r(backend, o);
    backend->failing = true;
    EXPECT_THROW(r.get_or_create("k", [] { return std::string("x"); }), dogpile::BackendError);
    EXPECT_EQ(r.stats().backend_errors, 1u);
    EXPECT_EQ(r.lock_registry_size(), 0u);
}

namespace {
// A backend that cannot encode what it is given, as a codec would refuse a value.
struct RefusingBackend : RecordingBackend<std::string> {
    void set(const std::string& key, const dogpile::CachedValue<std::string>& entry) override {
        if (entry.value == "unencodable") throw dogpile::EncodeError("cannot encode");
        if (entry.value.size() > 8) throw dogpile::LimitExceeded("payload over limit");
        RecordingBackend::set(key, entry);
    }
};
}  // namespace

TEST_F(RegionTest, UnencodableValueReachesTheCallerEvenWhenDegrading) {
    auto refusing = std::make_shared<RefusingBackend>();
    int reported = 0;
    auto o = options();
    o.error_hook = [&](const dogpile::BackendErrorEvent&) { ++reported; };
    Region<std::string> r(refusing, o);
    EXPECT_THROW(r.get_or_create("k", [] { return std::string("unencodable"); }), dogpile::EncodeError);
    EXPECT_THROW(r.get_or_create("k", [] { return std::string("far too long"); }), dogpile::LimitExceeded);
    EXPECT_EQ(reported, 2);
    EXPECT_EQ(r.stats().backend_errors, 2u);
    EXPECT_EQ(r.lock_registry_size(), 0u);
    EXPECT_FALSE(refusing->peek("k"));
    EXPECT_EQ(r.get_or_create("k", [] { return std::string("fine"); }), "fine");
}

TEST_F(RegionTest, ThrowingErrorHookDoesNotBreakDegradation) {
    auto o = options();
    o.error_hook = [](const dogpile::BackendErrorEvent&) { throw std::runtime_error("hook"); };
    Region<std::string> r(backend, o);
    backend->failing = true;
    EXPECT_EQ(r.get_or_create("k", [] { return std::string("x"); }), "x");
}

// --- configuration -----------------------------------------------------------------

TEST_F(RegionTest, UnconfiguredRegionIsAClearError) {
    Region<std::string> r;
    EXPECT_FALSE(r.is_configured());
    EXPECT_THROW(r.get("k"), dogpile::ConfigurationError);
    EXPECT_THROW(r.get_or_create("k", [] { return std::string(); }), dogpile::ConfigurationError);
}

TEST_F(RegionTest, ConfigureTwiceNeedsReplace) {
    Region<std::string> r;
    r.configure(backend, options());
    EXPECT_THROW(r.configure(backend, options()), dogpile::ConfigurationError);
    auto other = std::make_shared<RecordingBackend<std::string>>();
    r.configure(other, options(), dogpile::ReplaceExisting::yes);
    r.set("k", "v");
    EXPECT_TRUE(other->peek("k"));
    EXPECT_FALSE(backend->peek("k"));
}

TEST_F(RegionTest, NullBackendIsAClearError) {
    Region<std::string> r;
    EXPECT_THROW(r.configure(nullptr), dogpile::ConfigurationError);
}

TEST_F(RegionTest, KeyManglerAppliesToEveryOperation) {
    auto o = options();
    o.key_mangler = [](const std::string& k) { return "ns:" + k; };
    Region<std::string> r(backend, o);
    r.set("a", "1");
    r.get_or_create("b", [] { return std::string("2"); });
    r.get_or_create_multi({"c"}, [](const std::vector<std::string>& keys) {
        EXPECT_EQ(keys, std::vector<std::string>{"c"});  // the creator sees the caller's keys
        return std::vector<std::string>{"3"};
    });
    EXPECT_EQ(backend->keys(), (std::vector<std::string>{"ns:a", "ns:b", "ns:c"}));
    EXPECT_EQ(r.get("a"), "1");
    r.erase("a");
    EXPECT_FALSE(backend->peek("ns:a"));
}

TEST_F(RegionTest, Sha1Mangler) {
    EXPECT_EQ(dogpile::sha1_mangle_key("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    auto mangler = dogpile::length_conditional_mangler(5);
    EXPECT_EQ(mangler("short"), "short");
    EXPECT_EQ(mangler("longer key").size(), 40u);
}

// --- async creation ------------------------------------------------------------------

TEST_F(RegionTest, AsyncRunnerFirstStaleThenNew) {
    std::deque<std::function<void()>> queued;
    auto o = options(1s);
    o.async_creation_runner = [&](std::function<void()> task) { queued.push_back(std::move(task)); };
    Region<std::string> r(backend, o);
    CountingCreator creator;
    EXPECT_EQ(r.get_or_create("k", creator), "value 1");  // no value: created synchronously
    EXPECT_TRUE(queued.empty());
    clock.advance(2s);
    EXPECT_EQ(r.get_or_create("k", creator), "value 1");  // stale, regeneration handed off
    ASSERT_EQ(queued.size(), 1u);
    EXPECT_EQ(r.lock_registry_size(), 1u);                // the task owns the lock
    EXPECT_EQ(r.get_or_create("k", creator), "value 1");  // lock busy: stale again, no second task
    EXPECT_EQ(queued.size(), 1u);
    queued.front()();
    queued.pop_front();
    EXPECT_EQ(r.lock_registry_size(), 0u);
    EXPECT_EQ(r.get_or_create("k", creator), "value 2");
    EXPECT_EQ(*creator.calls, 2);
    EXPECT_EQ(r.stats().stale_served, 2u);
}

TEST_F(RegionTest, AsyncTaskDroppedByRunnerReleasesLock) {
    auto o = options(1s);
    o.async_creation_runner = [](std::function<void()>) {};
    Region<std::string> r(backend, o);
    r.set("k", "old");
    clock.advance(2s);
    EXPECT_EQ(r.get_or_create("k", [] { return std::string("new"); }), "old");
    EXPECT_EQ(r.lock_registry_size(), 0u);
}

TEST_F(RegionTest, AsyncTaskOutlivesRegion) {
    std::function<void()> task;
    {
        auto o = options(1s);
        o.async_creation_runner = [&](std::function<void()> t) { task = std::move(t); };
        Region<std::string> r(backend, o);
        r.set("k", "old");
        clock.advance(2s);
        r.get_or_create("k", [] { return std::string("new"); });
    }
    ASSERT_TRUE(task);
    task();  // the shared state is kept alive by the task
    EXPECT_EQ(backend->peek("k")->value, "new");
}

TEST_F(RegionTest, NeverServeStaleRegeneratesInline) {
    auto o = options(1s);
    o.stale = dogpile::StalePolicy::never_serve;
    Region<std::string> r(backend, o);
    r.set("k", "old");
    clock.advance(2s);
    EXPECT_EQ(r.get_or_create("k", [] { return std::string("new"); }), "new");
}

TEST_F(RegionTest, ReentrantGetOrCreateOfAnotherKey) {
    auto r = region();
    auto value = r.get_or_create(
        "outer", [&] { return "outer+" + r.get_or_create("inner", [] { return std::string("inner"); }); });
    EXPECT_EQ(value, "outer+inner");
    EXPECT_EQ(r.get("inner"), "inner");
    EXPECT_EQ(r.lock_registry_size(), 0u);
}

TEST_F(RegionTest, NonStringKeyAndValue) {
    auto b = std::make_shared<RecordingBackend<std::vector<int>, int>>();
    Region<std::vector<int>, int> r(b);
    EXPECT_EQ(r.get_or_create(7, [] { return std::vector<int>{1, 2}; }), (std::vector<int>{1, 2}));
    EXPECT_EQ(r.get(7), (std::vector<int>{1, 2}));
}

TEST_F(RegionTest, CopiesShareState) {
    auto r = region();
    auto copy = r;
    copy.get_or_create("k", [] { return std::string("v"); });
    EXPECT_EQ(r.stats().creations, 1u);
}

}  // namespace

namespace {

// Options structs give every member an initialiser, so users may spell only
// the leading ones; this file builds with -Wextra -Werror, which would reject
// a missing initialiser here.
TEST(RegionOptionsTest, PartialAggregateInitialisationIsWarningFree) {
    using namespace std::chrono_literals;
    dogpile::RegionOptions region_options{5min};
    dogpile::GetOptions get_options{1min};
    dogpile::GetOrCreateOptions<std::string> create_options{1min};
    EXPECT_EQ(region_options.expiration_time, ExpirationTime(5min));
    EXPECT_EQ(get_options.expiration_time, ExpirationTime(1min));
    EXPECT_EQ(create_options.expiration_time, ExpirationTime(1min));
}

}  // namespace

namespace {
// A value that counts its copies, and a backend that keeps what it is given.
struct Counted {
    static inline int copies = 0;
    std::string text;
    explicit Counted(std::string t = {}) : text(std::move(t)) {}
    Counted(const Counted& other) : text(other.text) { ++copies; }
    Counted(Counted&&) noexcept = default;
    Counted& operator=(const Counted& other) {
        text = other.text;
        ++copies;
        return *this;
    }
    Counted& operator=(Counted&&) noexcept = default;
};

struct MovingBackend : dogpile::Backend<Counted> {
    std::optional<entry_type> stored;
    int moved_in = 0;

    std::optional<entry_type> get(const std::string& /*key*/) override { return stored; }
    void set(const std::string& /*key*/, const entry_type& entry) override { stored = entry; }
    void set(const std::string& /*key*/, entry_type&& entry) override {
        ++moved_in;
        stored = std::move(entry);
    }
    void erase(const std::string& /*key*/) override { stored.reset(); }
};
}  // namespace

TEST(RegionSet, AnRvalueIsMovedIntoTheBackend) {
    auto backend = std::make_shared<MovingBackend>();
    Region<Counted> r(backend);
    Counted::copies = 0;
    r.set("k", Counted("v"));
    EXPECT_EQ(backend->moved_in, 1);
    EXPECT_EQ(Counted::copies, 0);
    ASSERT_TRUE(backend->stored);
    EXPECT_EQ(backend->stored->value.text, "v");
}

TEST(RegionSet, ACreatedValueReachesTheBackendWithoutACopy) {
    auto backend = std::make_shared<MovingBackend>();
    Region<Counted> r(backend);
    Counted::copies = 0;
    const Counted value = r.get_or_create("k", [] { return Counted("created"); });
    EXPECT_EQ(value.text, "created");
    // The one copy is the backend's own (it keeps the value); the region
    // passes the entry it returns from, and copies nothing itself.
    EXPECT_EQ(Counted::copies, 1);
    EXPECT_EQ(backend->moved_in, 0);
}

// RegionOptions is one type for every key type; a key mangler (string to
// string, as dogpile.cache's) is refused by a region whose keys are not strings
// rather than silently ignored.
TEST(RegionOptionsTest, KeyManglerIsRefusedForNonStringKeys) {
    RegionOptions o;
    o.key_mangler = dogpile::sha1_mangle_key;
    auto backend = std::make_shared<RecordingBackend<std::string, int>>();
    EXPECT_THROW((Region<std::string, int>(backend, o)), dogpile::ConfigurationError);
    o.key_mangler = nullptr;
    Region<std::string, int> region(backend, o);
    EXPECT_EQ(region.get_or_create(7, [] { return std::string("seven"); }), "seven");
}

// --- the clock policy (clock.hpp): which clock expiry checks read

namespace {

using dogpile::ClockPolicy;

constexpr ClockPolicy both_policies[] = {ClockPolicy::coarse, ClockPolicy::precise};

Region<std::string> memory_region(ClockPolicy policy, ExpirationTime expiration) {
    RegionOptions o;
    o.expiration_time = expiration;
    o.clock_policy = policy;
    return Region<std::string>(std::make_shared<dogpile::MemoryBackend<std::string>>(), o);
}

dogpile::CachedValue<std::string> created_at(dogpile::TimePoint when) {
    return {"stored", dogpile::Metadata::created_now(when)};
}

}  // namespace

TEST(RegionClockPolicy, DefaultIsCoarseAndAppendedLast) {
    EXPECT_EQ(RegionOptions{}.clock_policy, ClockPolicy::coarse);
    // Positional initialisation of the fields before it is unchanged.
    RegionOptions o{ExpirationTime(1min)};
    EXPECT_EQ(o.clock_policy, dogpile::default_clock_policy);
}

// The real clocks, far from the expiry boundary: an hour-old entry is stale,
// a new one fresh, whichever clock the check reads.
TEST(RegionClockPolicy, RealClocksExpireAnHourOldEntryAndKeepANewOne) {
    for (ClockPolicy policy : both_policies) {
        auto r = memory_region(policy, 10min);
        r.backend().set("old", created_at(dogpile::precise_now() - 1h));
        r.backend().set("new", created_at(dogpile::precise_now()));
        EXPECT_FALSE(r.get("old").has_value()) << static_cast<int>(policy);
        EXPECT_EQ(r.get("new"), "stored") << static_cast<int>(policy);
        EXPECT_EQ(r.get_or_create("new", [] { return std::string("created"); }), "stored");
        r.set("set", "value");
        EXPECT_EQ(r.get("set"), "value") << static_cast<int>(policy);
    }
}

// The real clocks are decades past ManualClock's start, so every check below
// would see the entry as long expired if it read them instead of the
// injected clock.
TEST(RegionClockPolicy, InjectedClockWinsOverEitherPolicy) {
    for (ClockPolicy policy : both_policies) {
        ManualClock clock;
        RegionOptions o;
        o.expiration_time = 1h;
        o.clock_policy = policy;
        o.clock = clock.function();
        Region<std::string> r(std::make_shared<dogpile::MemoryBackend<std::string>>(), o);
        r.set("k", "v");
        EXPECT_EQ(r.get_value_metadata("k")->metadata.created_at, clock.now());
        clock.advance(1h);
        EXPECT_EQ(r.get("k"), "v") << static_cast<int>(policy);
        clock.advance(1ns);
        EXPECT_FALSE(r.get("k").has_value()) << static_cast<int>(policy);
    }
}

// A creator shorter than a coarse tick must not measure zero (or a whole
// tick): its duration drives early refresh. It spins on the precise clock,
// so the duration it reports is at least `spin`; a duration read on the
// coarse clock would be a multiple of the tick (usually 0).
TEST(RegionClockPolicy, CreatorDurationIsMeasuredOnThePreciseClock) {
    const dogpile::Duration tick = dogpile::coarse_clock_granularity();
    const dogpile::Duration spin = 20us;
    auto r = memory_region(ClockPolicy::coarse, 1h);
    r.get_or_create("k", [&] {
        const auto started = dogpile::precise_now();
        while (dogpile::precise_now() - started < spin) {
        }
        return std::string("made");
    });
    const auto took = r.get_value_metadata("k")->metadata.creation_time;
    EXPECT_GE(took, spin);
    if (tick > dogpile::Duration::zero()) {
        EXPECT_NE(took.count() % tick.count(), 0) << took.count();
    }
}

// Created-at and invalidation stamps are exact: with stamps on a 4 ms tick, a
// write and an invalidation in the same tick would carry equal stamps and the
// invalidated value would stay fresh.
TEST(RegionClockPolicy, InvalidationSeesAWriteOfTheSameTick) {
    auto r = memory_region(ClockPolicy::coarse, 1h);
    r.set("before", "v");
    r.invalidate(Invalidation::hard);
    r.set("after", "v");
    EXPECT_FALSE(r.get("before").has_value());
    EXPECT_EQ(r.get("after"), "v");
}
