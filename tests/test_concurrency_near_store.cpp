// details::NearStore (the near cache's in-process tier) without Redis: the
// Redis key index, tickets against the read/invalidate race, eviction and age
// keeping the index exact, W-TinyLFU (the default), LRU and CLOCK, and a many-thread run in which
// "Redis" is an array of versions.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/backends/details/near_store.hpp>

#include "support/latch.hpp"
#include "support/wait.hpp"
#include "support/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::CachedValue;
using dogpile::EvictionPolicy;
using dogpile::Metadata;
using dogpile::details::NearStore;
using dogpile::details::NearStoreOptions;

// Cache keys "<group>/<n>"; the Redis key is the group (like HashKey's hash).
std::string group_of(const std::string& key) { return key.substr(0, key.find('/')); }
std::string key(int group, int n) { return "g" + std::to_string(group) + "/" + std::to_string(n); }

using Store = NearStore<std::uint64_t, std::string>;

CachedValue<std::uint64_t> value(std::uint64_t v) { return {v, Metadata::store_managed()}; }

bool put(Store& store, const std::string& k, std::uint64_t v) {
    const auto t = store.ticket(group_of(k));
    return store.insert(k, value(v), t);
}

const char* policy_name(EvictionPolicy policy) {
    switch (policy) {
        case EvictionPolicy::clock: return "clock";
        case EvictionPolicy::lru: return "lru";
        case EvictionPolicy::tiny_lfu: break;
    }
    return "tiny_lfu";
}

NearStoreOptions options(std::size_t capacity, EvictionPolicy eviction = EvictionPolicy::tiny_lfu,
                         std::size_t shards = 4) {
    NearStoreOptions o;
    o.capacity = capacity;
    o.eviction = eviction;
    o.shards = shards;
    return o;
}

TEST(NearStore, InvalidatingARedisKeyDropsEveryEntryUnderIt) {
    Store store(options(100), group_of);
    for (int n = 0; n < 5; ++n) ASSERT_TRUE(put(store, key(1, n), 1));
    for (int n = 0; n < 3; ++n) ASSERT_TRUE(put(store, key(2, n), 1));
    EXPECT_EQ(store.size(), 8u);
    EXPECT_EQ(store.invalidate("g1"), 5u);
    EXPECT_EQ(store.size(), 3u);
    EXPECT_EQ(store.index_size(), 3u);
    EXPECT_FALSE(store.get(key(1, 0)).has_value());
    EXPECT_EQ(store.get(key(2, 0))->value, 1u);
    EXPECT_EQ(store.invalidate("g9"), 0u);
    store.clear();
    EXPECT_EQ(store.size(), 0u);
    EXPECT_EQ(store.index_size(), 0u);
}

TEST(NearStore, AnOutdatedTicketIsRefused) {
    Store store(options(100), group_of);
    const auto before = store.ticket("g1");
    store.invalidate("g1");
    EXPECT_FALSE(store.insert(key(1, 0), value(1), before));
    EXPECT_FALSE(store.get(key(1, 0)).has_value());

    const auto before_clear = store.ticket("g1");
    store.clear();
    EXPECT_FALSE(store.insert(key(1, 0), value(1), before_clear));

    const auto fresh = store.ticket("g1");
    EXPECT_TRUE(store.insert(key(1, 0), value(2), fresh));
    EXPECT_TRUE(store.insert(key(1, 0), value(3), fresh));  // replacing is fine while current
    EXPECT_EQ(store.get(key(1, 0))->value, 3u);
    EXPECT_EQ(store.index_size(), 1u);
}

TEST(NearStore, EvictionKeepsTheIndexExact) {
    for (auto policy : {EvictionPolicy::tiny_lfu, EvictionPolicy::clock, EvictionPolicy::lru}) {
        Store store(options(16, policy), group_of);
        for (int round = 0; round < 3; ++round) {
            for (int g = 0; g < 10; ++g) {
                for (int n = 0; n < 10; ++n) put(store, key(g, n), static_cast<std::uint64_t>(round));
            }
        }
        EXPECT_LE(store.size(), 16u);
        EXPECT_EQ(store.index_size(), store.size());
        EXPECT_GT(store.stats().evictions, 0u);
        for (int g = 0; g < 10; ++g) store.invalidate("g" + std::to_string(g));
        EXPECT_EQ(store.size(), 0u);
        EXPECT_EQ(store.index_size(), 0u);
    }
}

TEST(NearStore, LruKeepsWhatWasReadRecently) {
    Store store(options(3, EvictionPolicy::lru, 1), group_of);
    put(store, key(1, 1), 1);
    put(store, key(1, 2), 1);
    put(store, key(1, 3), 1);
    ASSERT_TRUE(store.get(key(1, 1)).has_value());
    put(store, key(1, 4), 1);  // evicts 1/2, the least recently used
    EXPECT_TRUE(store.contains(key(1, 1)));
    EXPECT_FALSE(store.contains(key(1, 2)));
    EXPECT_EQ(store.index_size(), 3u);
}

TEST(NearStore, EntriesOlderThanMaxAgeAreNotServed) {
    dogpile::test::ManualClock clock;
    for (auto policy : {EvictionPolicy::tiny_lfu, EvictionPolicy::clock, EvictionPolicy::lru}) {
        auto o = options(100, policy);
        o.ttl = 10s;
        o.clock = clock.function();
        Store store(o, group_of);
        put(store, key(1, 1), 1);
        clock.advance(5s);
        put(store, key(1, 2), 1);
        EXPECT_TRUE(store.get(key(1, 1)).has_value());
        clock.advance(6s);
        EXPECT_FALSE(store.get(key(1, 1)).has_value());  // 11 s in the near tier
        EXPECT_TRUE(store.get(key(1, 2)).has_value());   // 6 s
        EXPECT_EQ(store.stats().expirations, 1u);
        EXPECT_EQ(store.index_size(), store.size());
    }
}

TEST(NearStore, RejectsBadOptions) {
    EXPECT_THROW(Store(options(0), group_of), dogpile::ConfigurationError);
    EXPECT_THROW(Store(options(10, EvictionPolicy::clock, 3), group_of), dogpile::ConfigurationError);
    auto o = options(10);
    o.ttl = 0s;
    EXPECT_THROW(Store(o, group_of), dogpile::ConfigurationError);
    EXPECT_THROW(Store(options(10), nullptr), dogpile::ConfigurationError);
}

// "Redis" is an array of versions, one per group. Writers bump a group's
// version, then invalidate it; readers take a ticket, read the version (the
// remote read) and insert it. Two checks:
// * Before each get, a reader notes the version of the last *completed*
//   invalidation of the group; the get must never return anything older.
// * insert() must refuse a result that an invalidation completed before the
//   insert began has made stale: the version read is older than the one whose
//   invalidation had completed, so the write, and its invalidation, came after
//   the ticket. Accepting it would store a value older than one already
//   announced; the hit check above sees that only if some later get happens
//   to land on the entry before it is dropped again.
// A flusher clears the store now and then, and the capacity is below the key
// count, so eviction races with everything else.
TEST(NearStoreConcurrency, NoReadIsOlderThanACompletedInvalidation) {
    constexpr int groups = 64;
    constexpr int per_group = 8;
    constexpr int readers = 6;
    constexpr int writers = 2;
    for (auto policy : {EvictionPolicy::tiny_lfu, EvictionPolicy::clock, EvictionPolicy::lru}) {
        Store store(options(200, policy, 8), group_of);
        std::vector<std::atomic<std::uint64_t>> truth(groups);
        std::vector<std::atomic<std::uint64_t>> invalidated(groups);  // versions whose invalidation completed
        std::vector<std::mutex> write_order(groups);
        for (auto& t : truth) t = 1;
        for (auto& d : invalidated) d = 1;

        std::atomic<bool> stop{false};
        std::atomic<std::uint64_t> violations{0};
        std::atomic<std::uint64_t> hits{0};
        std::atomic<std::uint64_t> invalidations{0};
        std::atomic<std::uint64_t> outdated{0};       // reads overtaken by a completed invalidation
        std::atomic<std::uint64_t> stale_inserts{0};  // ... whose result was stored anyway
        dogpile::test::Latch start(readers + writers + 2);
        std::vector<std::thread> threads;
        for (int r = 0; r < readers; ++r) {
            threads.emplace_back([&, r] {
                std::mt19937 rng(static_cast<unsigned>(r));
                start.arrive_and_wait();
                while (!stop.load(std::memory_order_relaxed)) {
                    const int g = static_cast<int>(rng() % groups);
                    const std::string k = key(g, static_cast<int>(rng() % per_group));
                    const std::uint64_t floor = invalidated[g].load();
                    if (auto hit = store.get(k)) {
                        hits.fetch_add(1, std::memory_order_relaxed);
                        if (hit->value < floor) violations.fetch_add(1);
                        continue;
                    }
                    const auto t = store.ticket(group_of(k));
                    const std::uint64_t v = truth[g].load();        // the "remote read"
                    if (rng() % 4 == 0) std::this_thread::yield();  // widen the window
                    const std::uint64_t completed = invalidated[g].load();
                    const bool stored = store.insert(k, value(v), t);
                    if (v < completed) {
                        outdated.fetch_add(1, std::memory_order_relaxed);
                        if (stored) stale_inserts.fetch_add(1);
                    }
                }
            });
        }
        for (int w = 0; w < writers; ++w) {
            threads.emplace_back([&, w] {
                std::mt19937 rng(static_cast<unsigned>(100 + w));
                start.arrive_and_wait();
                while (!stop.load(std::memory_order_relaxed)) {
                    const int g = static_cast<int>(rng() % groups);
                    std::lock_guard<std::mutex> order(write_order[g]);
                    const std::uint64_t v = truth[g].load() + 1;
                    truth[g].store(v);
                    store.invalidate("g" + std::to_string(g));
                    invalidated[g].store(v);
                    invalidations.fetch_add(1, std::memory_order_relaxed);
                }
            });
        }
        threads.emplace_back([&] {
            start.arrive_and_wait();
            while (!stop.load(std::memory_order_relaxed)) {
                store.clear();
                std::this_thread::sleep_for(1ms);  // pacing, not synchronisation
            }
        });
        start.arrive_and_wait();
        // The run's length in its own terms (enough hits and invalidations),
        // not in wall-clock time: a loaded machine just takes longer.
        const bool ran = dogpile::test::wait_for_condition(
            [&] { return hits.load() >= 5000 && invalidations.load() >= 5000; }, 120s);
        stop = true;
        for (auto& t : threads) t.join();

        EXPECT_TRUE(ran) << "only " << hits.load() << " hits and " << invalidations.load() << " invalidations in 120 s";
        EXPECT_EQ(violations.load(), 0u);
        EXPECT_EQ(stale_inserts.load(), 0u) << "of " << outdated.load() << " reads overtaken by an invalidation";
        std::printf("%s: %llu hits, %llu invalidations, %llu reads overtaken by an invalidation\n", policy_name(policy),
                    static_cast<unsigned long long>(hits.load()), static_cast<unsigned long long>(invalidations.load()),
                    static_cast<unsigned long long>(outdated.load()));
        EXPECT_LE(store.size(), 200u);
        EXPECT_EQ(store.index_size(), store.size());  // quiet now: exact
    }
}

}  // namespace
