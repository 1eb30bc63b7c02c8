// MemoryBackend and NullBackend beyond the Backend contract (which runs in
// test_backend_conformance.cpp): sizes, the capacity bound, both eviction
// policies, store-side ttl (with a manual clock, no sleeps) and option
// validation.

#include <dogpile/backends/memory.hpp>
#include <dogpile/backends/null.hpp>
#include <dogpile/clock.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "support/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::CachedValue;
using dogpile::ConfigurationError;
using dogpile::EvictionPolicy;
using dogpile::MemoryBackend;
using dogpile::MemoryBackendOptions;
using dogpile::Metadata;
using dogpile::TimePoint;
using dogpile::test::ManualClock;

using Entry = CachedValue<std::string>;
using StringBackend = MemoryBackend<std::string>;

const TimePoint t0 = ManualClock().now();

Entry entry(std::string value, TimePoint created_at = t0) {
    return Entry{std::move(value), Metadata::created_now(created_at)};
}

std::optional<std::string> value_of(StringBackend& backend, const std::string& key) {
    auto got = backend.get(key);
    if (!got) return std::nullopt;
    return got->value;
}

MemoryBackendOptions single_shard(std::size_t capacity, EvictionPolicy policy) {
    MemoryBackendOptions options;
    options.capacity = capacity;
    options.eviction = policy;
    options.shards = 1;
    return options;
}

// ---------------------------------------------------------------- basics

TEST(MemoryBackend, SetOverwritesWithoutGrowing) {
    StringBackend backend;
    backend.set("k", entry("one"));
    backend.set("k", entry("two"));
    EXPECT_EQ(value_of(backend, "k"), "two");
    EXPECT_EQ(backend.size(), 1u);
}

TEST(MemoryBackend, ReturnedValueIsACopy) {
    StringBackend backend;
    backend.set("k", entry("original"));
    auto got = backend.get("k");
    ASSERT_TRUE(got.has_value());
    got->value = "changed by caller";
    EXPECT_EQ(value_of(backend, "k"), "original");
}

TEST(MemoryBackend, SetMultiStoresAllAndLaterDuplicateWins) {
    StringBackend backend;
    std::vector<std::pair<std::string, Entry>> entries;
    for (int i = 0; i < 40; ++i) entries.emplace_back("k" + std::to_string(i), entry("v" + std::to_string(i)));
    entries.emplace_back("k7", entry("second"));
    backend.set_multi(entries);
    EXPECT_EQ(backend.size(), 40u);
    EXPECT_EQ(value_of(backend, "k7"), "second");
    EXPECT_EQ(value_of(backend, "k39"), "v39");
}

TEST(MemoryBackend, EraseMultiRemovesListedKeys) {
    StringBackend backend;
    for (int i = 0; i < 20; ++i) backend.set("k" + std::to_string(i), entry("v"));
    backend.erase_multi({"k1", "k3", "k5", "absent", "k3"});
    EXPECT_EQ(backend.size(), 17u);
    EXPECT_FALSE(backend.get("k3").has_value());
    EXPECT_TRUE(backend.get("k4").has_value());
}

TEST(MemoryBackend, ClearEmptiesEveryShardWithoutCountingEvictions) {
    StringBackend backend;
    for (int i = 0; i < 100; ++i) backend.set("k" + std::to_string(i), entry("v"));
    backend.clear();
    EXPECT_EQ(backend.size(), 0u);
    EXPECT_FALSE(backend.get("k1").has_value());
    EXPECT_EQ(backend.stats().evictions, 0u);
    backend.set("k1", entry("again"));
    EXPECT_EQ(value_of(backend, "k1"), "again");
}

TEST(MemoryBackend, UnboundedGrowsThroughRehashes) {
    StringBackend backend;
    for (int i = 0; i < 20000; ++i) backend.set(std::to_string(i), entry(std::to_string(i)));
    EXPECT_EQ(backend.size(), 20000u);
    EXPECT_FALSE(backend.capacity().has_value());
    for (int i = 0; i < 20000; ++i) ASSERT_EQ(value_of(backend, std::to_string(i)), std::to_string(i));
    EXPECT_EQ(backend.stats().evictions, 0u);
}

TEST(MemoryBackend, IntegerKeysWithIdentityHash) {
    MemoryBackend<int, int> backend;
    for (int i = 0; i < 1000; ++i) backend.set(i, CachedValue<int>{i * 3, Metadata::created_now(t0)});
    for (int i = 0; i < 1000; ++i) {
        auto got = backend.get(i);
        ASSERT_TRUE(got.has_value());
        EXPECT_EQ(got->value, i * 3);
    }
}

struct CollidingHash {
    std::size_t operator()(const std::string&) const noexcept { return 42; }
};

TEST(MemoryBackend, CorrectEvenWhenEveryKeyCollides) {
    MemoryBackend<std::string, std::string, CollidingHash> backend;
    for (int i = 0; i < 200; ++i) backend.set("k" + std::to_string(i), entry("v" + std::to_string(i)));
    for (int i = 0; i < 200; i += 3) backend.erase("k" + std::to_string(i));
    for (int i = 0; i < 200; ++i) {
        auto got = backend.get("k" + std::to_string(i));
        if (i % 3 == 0) {
            EXPECT_FALSE(got.has_value());
        } else {
            ASSERT_TRUE(got.has_value());
            EXPECT_EQ(got->value, "v" + std::to_string(i));
        }
    }
}

// ---------------------------------------------------------------- capacity

TEST(MemoryBackendCapacity, SizeNeverExceedsCapacity) {
    for (auto policy : {EvictionPolicy::clock, EvictionPolicy::lru}) {
        MemoryBackendOptions options;
        options.capacity = 37;
        options.shards = 8;
        options.eviction = policy;
        StringBackend backend(options);
        ASSERT_EQ(backend.capacity(), std::optional<std::size_t>(37));
        for (int i = 0; i < 2000; ++i) {
            backend.set("k" + std::to_string(i), entry("v"));
            if (i % 5 == 0) backend.get("k" + std::to_string(i / 2));
            ASSERT_LE(backend.size(), 37u) << "after " << i << " sets";
        }
        const auto stats = backend.stats();
        EXPECT_EQ(stats.evictions + backend.size(), 2000u);
        EXPECT_EQ(stats.expirations, 0u);
    }
}

TEST(MemoryBackendCapacity, SetMultiRespectsCapacity) {
    MemoryBackendOptions options;
    options.capacity = 10;
    options.shards = 2;
    StringBackend backend(options);
    std::vector<std::pair<std::string, Entry>> entries;
    for (int i = 0; i < 100; ++i) entries.emplace_back("k" + std::to_string(i), entry("v"));
    backend.set_multi(entries);
    EXPECT_LE(backend.size(), 10u);
}

TEST(MemoryBackendCapacity, SingleShardFillsExactly) {
    StringBackend backend(single_shard(5, EvictionPolicy::clock));
    for (int i = 0; i < 5; ++i) backend.set("k" + std::to_string(i), entry("v"));
    EXPECT_EQ(backend.size(), 5u);
    EXPECT_EQ(backend.stats().evictions, 0u);
    backend.set("k5", entry("v"));
    EXPECT_EQ(backend.size(), 5u);
    EXPECT_EQ(backend.stats().evictions, 1u);
}

TEST(MemoryBackendCapacity, LargeCapacityGrowsOnDemandAndThenEvicts) {
    MemoryBackendOptions options = single_shard(5000, EvictionPolicy::lru);
    options.ttl = std::chrono::hours(1);  // the expiry heap grows too
    StringBackend backend(options);
    for (int i = 0; i < 5000; ++i) backend.set(std::to_string(i), entry(std::to_string(i), TimePoint::clock::now()));
    EXPECT_EQ(backend.size(), 5000u);
    for (int i = 0; i < 5000; ++i) ASSERT_EQ(value_of(backend, std::to_string(i)), std::to_string(i));
    backend.set("one more", entry("v", TimePoint::clock::now()));
    EXPECT_EQ(backend.size(), 5000u);
    EXPECT_FALSE(backend.get("0").has_value());  // least recently read
    EXPECT_EQ(backend.stats().evictions, 1u);
}

TEST(MemoryBackendCapacity, OverwriteOfPresentKeyDoesNotEvict) {
    StringBackend backend(single_shard(3, EvictionPolicy::lru));
    backend.set("a", entry("1"));
    backend.set("b", entry("1"));
    backend.set("c", entry("1"));
    backend.set("a", entry("2"));
    EXPECT_EQ(backend.stats().evictions, 0u);
    EXPECT_EQ(backend.size(), 3u);
}

TEST(MemoryBackendCapacity, FewerShardsThanRequestedWhenCapacityIsSmall) {
    MemoryBackendOptions options;
    options.capacity = 300;
    options.shards = 16;
    StringBackend backend(options);
    EXPECT_EQ(backend.shard_count(), 2u);  // every shard holds at least min_shard_share (128) entries
    for (int i = 0; i < 1000; ++i) {
        backend.set("k" + std::to_string(i), entry("v"));
        ASSERT_LE(backend.size(), 300u);
    }
    EXPECT_GE(backend.size(), 2u);
}

TEST(MemoryBackendCapacity, ClockKeepsRecentlyHitEntriesOverColdOnes) {
    StringBackend backend(single_shard(8, EvictionPolicy::clock));
    for (int i = 0; i < 8; ++i) backend.set("k" + std::to_string(i), entry("v"));
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(backend.get("k" + std::to_string(i)).has_value());
    for (int i = 0; i < 4; ++i) backend.set("new" + std::to_string(i), entry("v"));
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(backend.get("k" + std::to_string(i)).has_value()) << "hot k" << i;
    for (int i = 4; i < 8; ++i) EXPECT_FALSE(backend.get("k" + std::to_string(i)).has_value()) << "cold k" << i;
    EXPECT_EQ(backend.stats().evictions, 4u);
}

TEST(MemoryBackendCapacity, ClockHotSetSurvivesAStreamOfColdKeys) {
    StringBackend backend(single_shard(8, EvictionPolicy::clock));
    const std::vector<std::string> hot = {"h0", "h1", "h2"};
    for (const auto& key : hot) backend.set(key, entry(key));
    for (int i = 0; i < 500; ++i) {
        for (const auto& key : hot) ASSERT_EQ(value_of(backend, key), key) << "after " << i << " cold keys";
        backend.set("cold" + std::to_string(i), entry("v"));
    }
    EXPECT_EQ(backend.size(), 8u);
}

TEST(MemoryBackendCapacity, ClockEvictsEvenWhenEverythingWasHit) {
    StringBackend backend(single_shard(4, EvictionPolicy::clock));
    for (int i = 0; i < 4; ++i) backend.set("k" + std::to_string(i), entry("v"));
    for (int i = 0; i < 4; ++i) backend.get("k" + std::to_string(i));
    backend.set("new", entry("v"));  // a full revolution clears every bit, then evicts
    EXPECT_EQ(backend.size(), 4u);
    EXPECT_TRUE(backend.get("new").has_value());
    EXPECT_EQ(backend.stats().evictions, 1u);
}

TEST(MemoryBackendCapacity, LruEvictsExactlyTheLeastRecentlyUsed) {
    StringBackend backend(single_shard(3, EvictionPolicy::lru));
    backend.set("a", entry("a"));
    backend.set("b", entry("b"));
    backend.set("c", entry("c"));  // recency: c b a
    backend.get("a");              // a c b
    backend.set("d", entry("d"));  // evicts b -> d a c
    EXPECT_FALSE(backend.get("b").has_value());
    backend.get("c");              // c d a
    backend.set("e", entry("e"));  // evicts a -> e c d
    EXPECT_FALSE(backend.get("a").has_value());
    backend.set("d", entry("d2"));  // overwrite is a use: d e c
    backend.set("f", entry("f"));   // evicts c -> f d e
    EXPECT_FALSE(backend.get("c").has_value());
    EXPECT_EQ(value_of(backend, "d"), "d2");
    EXPECT_EQ(value_of(backend, "e"), "e");
    EXPECT_EQ(value_of(backend, "f"), "f");
    EXPECT_EQ(backend.stats().evictions, 3u);
}

TEST(MemoryBackendCapacity, LruGetMultiCountsAsUse) {
    StringBackend backend(single_shard(3, EvictionPolicy::lru));
    backend.set("a", entry("a"));
    backend.set("b", entry("b"));
    backend.set("c", entry("c"));
    backend.get_multi({"b", "a"});  // a b c
    backend.set("d", entry("d"));   // evicts c
    EXPECT_FALSE(backend.get("c").has_value());
    EXPECT_TRUE(backend.get("a").has_value());
    EXPECT_TRUE(backend.get("b").has_value());
}

// A reference LRU: the backend with one shard must make the same choices.
TEST(MemoryBackendCapacity, LruMatchesAReferenceModelUnderRandomOperations) {
    constexpr std::size_t capacity = 16;
    StringBackend backend(single_shard(capacity, EvictionPolicy::lru));
    std::vector<std::pair<std::string, std::string>> model;  // most recent first
    auto model_find = [&](const std::string& key) {
        for (auto it = model.begin(); it != model.end(); ++it) {
            if (it->first == key) return it;
        }
        return model.end();
    };
    std::mt19937 rng(7);
    for (int step = 0; step < 20000; ++step) {
        const std::string key = "k" + std::to_string(rng() % 40);
        switch (rng() % 3) {
            case 0: {
                const std::string value = key + "#" + std::to_string(step);
                backend.set(key, entry(value));
                auto it = model_find(key);
                if (it != model.end()) model.erase(it);
                model.insert(model.begin(), {key, value});
                if (model.size() > capacity) model.pop_back();
                break;
            }
            case 1: {
                auto got = value_of(backend, key);
                auto it = model_find(key);
                if (it == model.end()) {
                    ASSERT_FALSE(got.has_value()) << "step " << step << " key " << key;
                } else {
                    ASSERT_EQ(got, it->second) << "step " << step;
                    auto moved = *it;
                    model.erase(it);
                    model.insert(model.begin(), moved);
                }
                break;
            }
            default: {
                backend.erase(key);
                auto it = model_find(key);
                if (it != model.end()) model.erase(it);
                break;
            }
        }
        ASSERT_EQ(backend.size(), model.size()) << "step " << step;
    }
}

// CLOCK's choices are its own, but a value must always be the last one set
// for its key, and an erased key must stay absent until set again.
TEST(MemoryBackendCapacity, ClockNeverServesStaleOrErasedValues) {
    MemoryBackendOptions options;
    options.capacity = 24;
    options.shards = 4;
    StringBackend backend(options);
    std::map<std::string, std::optional<std::string>> last;
    std::mt19937 rng(11);
    for (int step = 0; step < 20000; ++step) {
        const std::string key = "k" + std::to_string(rng() % 60);
        switch (rng() % 4) {
            case 0: {
                const std::string value = key + "#" + std::to_string(step);
                backend.set(key, entry(value));
                last[key] = value;
                break;
            }
            case 1:
                backend.erase(key);
                last[key] = std::nullopt;
                break;
            default: {
                auto got = value_of(backend, key);
                if (got) {
                    ASSERT_EQ(got, last[key]) << "step " << step;
                }
                break;
            }
        }
        ASSERT_LE(backend.size(), 24u);
    }
}

// ---------------------------------------------------------------- ttl

struct TtlFixture : ::testing::Test {
    ManualClock clock{t0};

    MemoryBackendOptions with_ttl(dogpile::Duration ttl) const {
        MemoryBackendOptions options;
        options.ttl = ttl;
        options.clock = clock.function();
        return options;
    }
};

// The clock policy (clock.hpp) picks the clock ttl checks read; an injected
// clock wins over it. t0 is decades before the real clocks: a check that
// read them would find every entry here long expired.
TEST_F(TtlFixture, InjectedClockWinsOverEitherPolicy) {
    for (auto policy : {dogpile::ClockPolicy::coarse, dogpile::ClockPolicy::precise}) {
        MemoryBackendOptions options = with_ttl(10s);
        options.clock_policy = policy;
        StringBackend backend(options);
        backend.set("k", entry("v", clock.now()));
        EXPECT_EQ(value_of(backend, "k"), "v") << static_cast<int>(policy);
        clock.advance(10s + 1ns);
        EXPECT_FALSE(backend.get("k").has_value()) << static_cast<int>(policy);
    }
}

TEST(MemoryBackendClockPolicy, DefaultIsCoarse) {
    EXPECT_EQ(MemoryBackendOptions{}.clock_policy, dogpile::ClockPolicy::coarse);
}

// The real clocks, far from the ttl boundary.
TEST(MemoryBackendClockPolicy, RealClocksDropAnHourOldEntryAndKeepANewOne) {
    for (auto policy : {dogpile::ClockPolicy::coarse, dogpile::ClockPolicy::precise}) {
        MemoryBackendOptions options;
        options.ttl = 10min;
        options.clock_policy = policy;
        StringBackend backend(options);
        backend.set("old", entry("v", dogpile::precise_now() - 1h));
        backend.set("new", entry("v", dogpile::precise_now()));
        EXPECT_FALSE(backend.get("old").has_value()) << static_cast<int>(policy);
        EXPECT_EQ(value_of(backend, "new"), "v") << static_cast<int>(policy);
        backend.set("managed", Entry{"v", Metadata::store_managed()});  // ages from insertion
        EXPECT_EQ(value_of(backend, "managed"), "v") << static_cast<int>(policy);
    }
}

TEST_F(TtlFixture, EntryExpiresOnceOlderThanTtl) {
    StringBackend backend(with_ttl(10s));
    backend.set("k", entry("v", clock.now()));
    clock.advance(10s);
    EXPECT_EQ(value_of(backend, "k"), "v");  // exactly ttl old: still fresh
    clock.advance(1ns);
    EXPECT_FALSE(backend.get("k").has_value());
    EXPECT_EQ(backend.size(), 0u);  // the get removed it
    EXPECT_EQ(backend.stats().expirations, 1u);
    EXPECT_EQ(backend.stats().evictions, 0u);
}

TEST_F(TtlFixture, AgeComesFromCreatedAtNotFromInsertion) {
    StringBackend backend(with_ttl(10s));
    backend.set("k", entry("v", clock.now() - 9s));
    EXPECT_TRUE(backend.get("k").has_value());
    clock.advance(2s);
    EXPECT_FALSE(backend.get("k").has_value());
}

TEST_F(TtlFixture, AlreadyExpiredEntryIsNotStoredAndReplacesThePreviousOne) {
    StringBackend backend(with_ttl(10s));
    backend.set("k", entry("fresh", clock.now()));
    backend.set("k", entry("ancient", clock.now() - 1h));
    EXPECT_FALSE(backend.get("k").has_value());
    EXPECT_EQ(backend.size(), 0u);
}

TEST_F(TtlFixture, StoreManagedEntriesAgeFromWhenTheyWereStored) {
    StringBackend backend(with_ttl(10s));
    backend.set("k", Entry{"v", Metadata::store_managed()});  // created_at is the epoch
    EXPECT_TRUE(backend.get("k").has_value());
    clock.advance(11s);
    EXPECT_FALSE(backend.get("k").has_value());
}

TEST_F(TtlFixture, OverwriteRestartsTheAge) {
    StringBackend backend(with_ttl(10s));
    backend.set("k", entry("one", clock.now()));
    clock.advance(8s);
    backend.set("k", entry("two", clock.now()));
    clock.advance(8s);
    EXPECT_EQ(value_of(backend, "k"), "two");
}

TEST_F(TtlFixture, GetMultiTreatsExpiredAsMissesAndRemovesThem) {
    StringBackend backend(with_ttl(10s));
    backend.set("old", entry("o", clock.now()));
    clock.advance(6s);
    backend.set("new", entry("n", clock.now()));
    clock.advance(6s);
    auto got = backend.get_multi({"old", "new", "absent"});
    EXPECT_FALSE(got[0].has_value());
    ASSERT_TRUE(got[1].has_value());
    EXPECT_EQ(got[1]->value, "n");
    EXPECT_FALSE(got[2].has_value());
    EXPECT_EQ(backend.size(), 1u);
}

TEST_F(TtlFixture, PurgeExpiredSweepsEverything) {
    auto options = with_ttl(10s);
    options.shards = 4;
    StringBackend backend(options);
    for (int i = 0; i < 100; ++i) {
        // Half were created long ago (but within the ttl), half just now.
        backend.set("k" + std::to_string(i), entry("v", clock.now() - (i % 2 == 0 ? 9s : 0s)));
    }
    EXPECT_EQ(backend.purge_expired(), 0u);
    clock.advance(5s);
    EXPECT_EQ(backend.purge_expired(), 50u);
    EXPECT_EQ(backend.size(), 50u);
    EXPECT_EQ(backend.stats().expirations, 50u);
    clock.advance(6s);
    EXPECT_EQ(backend.purge_expired(), 50u);
    EXPECT_EQ(backend.size(), 0u);
}

TEST_F(TtlFixture, PurgeWithoutTtlRemovesNothing) {
    StringBackend backend;
    backend.set("k", entry("v", t0 - 1000h));
    EXPECT_EQ(backend.purge_expired(), 0u);
    EXPECT_EQ(backend.size(), 1u);
}

TEST_F(TtlFixture, WritersRemoveExpiredEntriesInPassing) {
    auto options = with_ttl(10s);
    options.shards = 1;
    StringBackend backend(options);
    backend.set("a", entry("v", clock.now()));
    backend.set("b", entry("v", clock.now()));
    clock.advance(11s);
    backend.set("c", entry("v", clock.now()));  // nobody read a or b
    EXPECT_EQ(backend.size(), 1u);
    EXPECT_EQ(backend.stats().expirations, 2u);
}

TEST_F(TtlFixture, EvictionPrefersExpiredEntries) {
    for (auto policy : {EvictionPolicy::clock, EvictionPolicy::lru}) {
        ManualClock local{t0};
        auto options = single_shard(4, policy);
        options.ttl = 10s;
        options.clock = local.function();
        StringBackend backend(options);
        backend.set("cold", entry("v", local.now()));
        backend.set("stale", entry("v", local.now() - 9s));
        backend.set("x", entry("v", local.now()));
        backend.set("y", entry("v", local.now()));
        // "cold" is the natural victim of both policies; "stale" is the most
        // recently used but about to expire.
        backend.get("x");
        backend.get("y");
        backend.get("stale");
        local.advance(2s);
        backend.set("new", entry("v", local.now()));
        EXPECT_TRUE(backend.get("cold").has_value()) << static_cast<int>(policy);
        EXPECT_TRUE(backend.get("new").has_value()) << static_cast<int>(policy);
        EXPECT_EQ(backend.size(), 4u);
        EXPECT_EQ(backend.stats().expirations, 1u);
        EXPECT_EQ(backend.stats().evictions, 0u);
    }
}

// ---------------------------------------------------------------- options

TEST(MemoryBackendValidation, RejectsZeroCapacity) {
    MemoryBackendOptions options;
    options.capacity = 0;
    try {
        StringBackend backend(options);
        FAIL() << "capacity 0 accepted";
    } catch (const ConfigurationError& e) {
        EXPECT_NE(std::string(e.what()).find("capacity"), std::string::npos) << e.what();
    }
}

TEST(MemoryBackendValidation, RejectsShardCountsThatAreNotPowersOfTwo) {
    for (std::size_t shards : {std::size_t{0}, std::size_t{3}, std::size_t{12}, std::size_t{1} << 20}) {
        MemoryBackendOptions options;
        options.shards = shards;
        try {
            StringBackend backend(options);
            FAIL() << "shards " << shards << " accepted";
        } catch (const ConfigurationError& e) {
            EXPECT_NE(std::string(e.what()).find("shards"), std::string::npos) << e.what();
        }
    }
    for (std::size_t shards : {1, 2, 64, 1024}) {
        MemoryBackendOptions options;
        options.shards = shards;
        EXPECT_NO_THROW(StringBackend{options});
    }
}

TEST(MemoryBackendValidation, RejectsNonPositiveTtl) {
    for (dogpile::Duration ttl : {dogpile::Duration::zero(), dogpile::Duration(-1s)}) {
        MemoryBackendOptions options;
        options.ttl = ttl;
        EXPECT_THROW(StringBackend{options}, ConfigurationError);
    }
}

TEST(MemoryBackendValidation, ErrorsAreDogpileErrors) {
    MemoryBackendOptions options;
    options.shards = 5;
    EXPECT_THROW(StringBackend{options}, dogpile::Error);
}

// ---------------------------------------------------------------- NullBackend

TEST(NullBackend, UsableThroughTheBackendInterfaceWithOtherKeyTypes) {
    std::shared_ptr<dogpile::Backend<int, long>> backend = std::make_shared<dogpile::NullBackend<int, long>>();
    backend->set(1L, CachedValue<int>{1, Metadata::created_now(t0)});
    EXPECT_FALSE(backend->get(1L).has_value());
    EXPECT_EQ(backend->get_mutex(1L), nullptr);
}

}  // namespace

namespace {

// Every member has an initialiser: spelling only the capacity is warning-free
// under -Wextra -Werror (this file is built with it).
TEST(MemoryBackendOptionsTest, PartialAggregateInitialisationIsWarningFree) {
    dogpile::MemoryBackendOptions options{100};
    EXPECT_EQ(options.capacity, std::optional<std::size_t>(100));
    dogpile::MemoryBackend<int> backend(options);
    EXPECT_EQ(backend.capacity(), std::optional<std::size_t>(100));
}

}  // namespace
