// The dogpile lock under real threads. Every test counts creator calls exactly
// and synchronises on latches or observed region state, never on sleeps.
// Runs under TSan in CI (label: concurrency).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/backends/null.hpp>
#include <dogpile/backends/proxy.hpp>
#include <dogpile/region.hpp>

#include "support/latch.hpp"
#include "support/manual_clock.hpp"
#include "support/recording_backend.hpp"
#include "support/wait.hpp"

using namespace std::chrono_literals;
using dogpile::Region;
using dogpile::RegionOptions;
using dogpile::test::Latch;
using dogpile::test::RecordingBackend;
using dogpile::test::wait_for_condition;

namespace {

constexpr int kThreads = 64;

std::shared_ptr<RecordingBackend<std::string>> make_backend() {
    return std::make_shared<RecordingBackend<std::string>>();
}

template <class F>
void run_threads(int n, F&& body) {
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) threads.emplace_back([&body, i] { body(i); });
    for (auto& t : threads) t.join();
}

TEST(ConcurrencyRegion, ColdKeyIsCreatedOnceBy64Threads) {
    Region<std::string> region(make_backend());
    std::atomic<int> calls{0};
    Latch start(kThreads);
    std::vector<std::string> results(kThreads);
    run_threads(kThreads, [&](int i) {
        start.arrive_and_wait();
        results[static_cast<std::size_t>(i)] = region.get_or_create("cold", [&] {
            // The first creator holds the lock until every other caller is
            // blocked on it, so each of them must find the value on its
            // re-check instead of creating.
            if (++calls == 1) {
                EXPECT_TRUE(wait_for_condition(
                    [&] { return region.lock_waiters("cold") == static_cast<std::size_t>(kThreads - 1); }, 60s));
            }
            return std::string("created once");
        });
    });
    EXPECT_EQ(calls.load(), 1);
    for (const auto& r : results) EXPECT_EQ(r, "created once");
    auto stats = region.stats();
    EXPECT_EQ(stats.creations, 1u);
    EXPECT_EQ(stats.misses, static_cast<std::uint64_t>(kThreads));
    EXPECT_EQ(stats.lock_waits, static_cast<std::uint64_t>(kThreads - 1));
    EXPECT_EQ(region.lock_registry_size(), 0u);
    EXPECT_EQ(region.lock_waiters("cold"), 0u);
}

TEST(ConcurrencyRegion, StaleKeyServesStaleWithoutWaiting) {
    RegionOptions options;
    options.expiration_time = 1ms;
    auto backend = make_backend();
    Region<std::string> region(backend, options);
    backend->put_raw("hot", {"old", dogpile::Metadata::created_now(dogpile::WallClock::now() - 1s)});

    std::atomic<int> calls{0};
    Latch start(kThreads);
    Latch others_returned(kThreads - 1);
    std::atomic<int> got_old{0};
    run_threads(kThreads, [&](int) {
        start.arrive_and_wait();
        bool i_created = false;
        auto value = region.get_or_create("hot", [&] {
            i_created = true;
            ++calls;
            // The slow creator finishes only after all 63 others were answered:
            // had any of them waited for it, this would time out.
            EXPECT_TRUE(others_returned.wait_for(20s));
            return std::string("new");
        });
        if (!i_created) {
            EXPECT_EQ(value, "old");
            ++got_old;
            others_returned.count_down();
        } else {
            EXPECT_EQ(value, "new");
        }
    });
    EXPECT_EQ(calls.load(), 1);
    EXPECT_EQ(got_old.load(), kThreads - 1);
    EXPECT_EQ(region.stats().stale_served, static_cast<std::uint64_t>(kThreads - 1));
    EXPECT_EQ(region.get("hot", {dogpile::ExpirationTime(1h), false}), "new");
}

TEST(ConcurrencyRegion, NeverServeStaleMakesEveryoneWaitForTheNewValue) {
    RegionOptions options;
    options.expiration_time = 1h;
    options.stale = dogpile::StalePolicy::never_serve;
    auto backend = make_backend();
    Region<std::string> region(backend, options);
    backend->put_raw("k", {"old", dogpile::Metadata::created_now(dogpile::WallClock::now() - 2h)});
    std::atomic<int> calls{0};
    Latch start(16);
    run_threads(16, [&](int) {
        start.arrive_and_wait();
        auto v = region.get_or_create("k", [&] {
            if (++calls == 1) {
                EXPECT_TRUE(wait_for_condition([&] { return region.lock_waiters("k") == 15u; }, 60s));
            }
            return std::string("new");
        });
        EXPECT_EQ(v, "new");
    });
    EXPECT_EQ(calls.load(), 1);
    EXPECT_EQ(region.stats().lock_waits, 15u);
}

TEST(ConcurrencyRegion, MultiColdKeyIsCreatedOnceBy64Threads) {
    Region<std::string> region(make_backend());
    std::atomic<int> created_values{0};
    std::atomic<int> shared_creators{0};
    Latch start(kThreads);
    run_threads(kThreads, [&](int i) {
        start.arrive_and_wait();
        // Each thread asks for the shared cold key plus one key of its own.
        std::vector<std::string> keys{"shared", "own-" + std::to_string(i)};
        auto values = region.get_or_create_multi(keys, [&](const std::vector<std::string>& missing) {
            const bool first_creator_of_shared =
                std::find(missing.begin(), missing.end(), "shared") != missing.end() && shared_creators++ == 0;
            created_values += static_cast<int>(missing.size());
            // Locks are taken in key order ("own-*" before "shared"), so the
            // creator of "shared" can wait until every other caller holds its
            // own key and is blocked on "shared": each of them must then find
            // "shared" on its re-check.
            if (first_creator_of_shared) {
                EXPECT_TRUE(wait_for_condition(
                    [&] { return region.lock_waiters("shared") == static_cast<std::size_t>(kThreads - 1); }, 60s));
            }
            std::vector<std::string> out;
            for (const auto& k : missing) out.push_back("v:" + k);
            return out;
        });
        EXPECT_EQ(values[0], "v:shared");
        EXPECT_EQ(values[1], "v:own-" + std::to_string(i));
    });
    // dogpile.cache would create "shared" once per waiting caller; we re-check under the lock.
    EXPECT_EQ(created_values.load(), kThreads + 1);
    EXPECT_EQ(region.stats().lock_waits, static_cast<std::uint64_t>(kThreads - 1));
    EXPECT_EQ(region.lock_registry_size(), 0u);
}

TEST(ConcurrencyRegion, ExplodingCreatorLetsAWaiterCreate) {
    Region<std::string> region(make_backend());
    std::atomic<int> calls{0};
    std::atomic<int> failures{0};
    Latch start(8);
    run_threads(8, [&](int) {
        start.arrive_and_wait();
        try {
            auto v = region.get_or_create("k", [&]() -> std::string {
                if (++calls == 1) {
                    EXPECT_TRUE(wait_for_condition([&] { return region.lock_waiters("k") == 7u; }, 60s));
                    throw std::runtime_error("first creator explodes");
                }
                return "second creator";
            });
            EXPECT_EQ(v, "second creator");
        } catch (const std::runtime_error&) {
            ++failures;
        }
    });
    EXPECT_EQ(failures.load(), 1);
    EXPECT_EQ(calls.load(), 2);
}

TEST(ConcurrencyRegion, LockTimeoutRaisesOrCreatesByOption) {
    for (auto policy : {dogpile::LockTimeoutPolicy::raise, dogpile::LockTimeoutPolicy::create_value}) {
        RegionOptions options;
        options.lock_timeout = 50ms;
        options.on_lock_timeout = policy;
        Region<std::string> region(make_backend(), options);
        Latch entered(1);
        Latch release(1);
        std::thread holder([&] {
            region.get_or_create("k", [&] {
                entered.count_down();
                EXPECT_TRUE(release.wait_for(20s));
                return std::string("slow");
            });
        });
        ASSERT_TRUE(entered.wait_for(20s));
        if (policy == dogpile::LockTimeoutPolicy::raise) {
            EXPECT_THROW(region.get_or_create("k", [] { return std::string("x"); }), dogpile::LockTimeout);
        } else {
            EXPECT_EQ(region.get_or_create("k", [] { return std::string("mine"); }), "mine");
        }
        EXPECT_EQ(region.stats().lock_timeouts, 1u);
        release.count_down();
        holder.join();
        EXPECT_EQ(region.get("k"), "slow");  // the timed-out caller stored nothing
        EXPECT_EQ(region.lock_registry_size(), 0u);
    }
}

TEST(ConcurrencyRegion, AsyncRunnerRegeneratesOnceOnAnotherThread) {
    // The manual clock keeps the regenerated value fresh, so exactly one
    // regeneration is right; the runner holds the key's lock until the task
    // ends, so every other caller must serve the stale value meanwhile.
    dogpile::test::ManualClock clock;
    std::vector<std::thread> runner_threads;
    std::mutex runner_mutex;
    RegionOptions options;
    options.clock = clock.function();
    options.expiration_time = 1min;
    options.async_creation_runner = [&](std::function<void()> task) {
        std::lock_guard<std::mutex> lk(runner_mutex);
        runner_threads.emplace_back(std::move(task));
    };
    auto backend = make_backend();
    Region<std::string> region(backend, options);
    backend->put_raw("k", {"old", dogpile::Metadata::created_now(clock.now() - 2min)});

    std::atomic<int> calls{0};
    std::atomic<int> in_flight{0};
    std::atomic<int> overlaps{0};
    std::atomic<int> got_old{0};
    Latch start(kThreads);
    Latch all_returned(kThreads);
    run_threads(kThreads, [&](int) {
        start.arrive_and_wait();
        auto v = region.get_or_create("k", [&] {
            if (in_flight.fetch_add(1) != 0) ++overlaps;
            ++calls;
            // Still running when every caller has returned: none of them waited for it.
            EXPECT_TRUE(all_returned.wait_for(60s));
            in_flight.fetch_sub(1);
            return std::string("new");
        });
        if (v == "old") ++got_old;
        all_returned.count_down();
    });
    {
        std::lock_guard<std::mutex> lk(runner_mutex);
        for (auto& t : runner_threads) t.join();
        EXPECT_EQ(runner_threads.size(), 1u) << "one regeneration handed to the runner";
    }
    EXPECT_EQ(got_old.load(), kThreads);
    EXPECT_EQ(calls.load(), 1);
    EXPECT_EQ(overlaps.load(), 0);
    EXPECT_EQ(region.stats().stale_served, static_cast<std::uint64_t>(kThreads));
    EXPECT_EQ(region.get("k"), "new");
    EXPECT_EQ(region.lock_registry_size(), 0u);
}

// 10,000 random operations over a few keys: an in-flight counter per key
// proves two creators never run for the same key at once.
TEST(ConcurrencyRegion, RandomizedStressNeverRunsTwoCreatorsForOneKey) {
    RegionOptions options;
    options.expiration_time = 2ms;
    auto backend = make_backend();
    Region<std::string> region(backend, options);
    constexpr int kKeys = 8;
    constexpr int kWorkers = 8;
    constexpr int kOpsPerWorker = 10000 / kWorkers;
    std::array<std::atomic<int>, kKeys> in_flight{};
    std::atomic<int> overlaps{0};
    std::atomic<int> creations{0};
    auto creator_for = [&](int key) {
        return [&, key] {
            if (in_flight[static_cast<std::size_t>(key)].fetch_add(1) != 0) ++overlaps;
            ++creations;
            std::this_thread::yield();
            in_flight[static_cast<std::size_t>(key)].fetch_sub(1);
            return "value of " + std::to_string(key);
        };
    };
    Latch start(kWorkers);
    run_threads(kWorkers, [&](int worker) {
        std::mt19937 rng(static_cast<unsigned>(worker) * 7919u + 1u);
        std::uniform_int_distribution<int> pick_key(0, kKeys - 1);
        std::uniform_int_distribution<int> pick_op(0, 99);
        start.arrive_and_wait();
        for (int op = 0; op < kOpsPerWorker; ++op) {
            const int key = pick_key(rng);
            const std::string name = "k" + std::to_string(key);
            const int which = pick_op(rng);
            if (which < 70) {
                EXPECT_EQ(region.get_or_create(name, creator_for(key)), "value of " + std::to_string(key));
            } else if (which < 80) {
                const int other = (key + 1) % kKeys;
                auto values = region.get_or_create_multi({name, "k" + std::to_string(other)},
                                                         [&](const std::vector<std::string>& missing) {
                                                             std::vector<std::string> out;
                                                             for (const auto& m : missing)
                                                                 out.push_back(creator_for(std::stoi(m.substr(1)))());
                                                             return out;
                                                         });
                EXPECT_EQ(values[0], "value of " + std::to_string(key));
                EXPECT_EQ(values[1], "value of " + std::to_string(other));
            } else if (which < 88) {
                region.set(name, "value of " + std::to_string(key));
            } else if (which < 96) {
                region.erase(name);
            } else if (which < 98) {
                region.invalidate(dogpile::Invalidation::soft);
            } else {
                region.invalidate(dogpile::Invalidation::hard);
            }
        }
    });
    EXPECT_EQ(overlaps.load(), 0);
    EXPECT_GT(creations.load(), 0);
    EXPECT_EQ(region.lock_registry_size(), 0u);
}

// NullBackend stores nothing, so every key is created and locked once; it
// needs no lock itself (LockRequirement::none), so this proxy asks for one.
class LockedNullBackend final : public dogpile::ProxyBackend<int, std::uint64_t> {
public:
    LockedNullBackend() : ProxyBackend(std::make_shared<dogpile::NullBackend<int, std::uint64_t>>()) {}
    dogpile::LockRequirement lock_requirement() const override { return dogpile::LockRequirement::dogpile_lock; }
};

TEST(ConcurrencyRegion, RegistryFreesEveryMutexAfterAMillionKeys) {
    Region<int, std::uint64_t> region(std::make_shared<LockedNullBackend>());
    constexpr std::uint64_t kKeysTotal = 1'000'000;
    constexpr int kWorkers = 2;
    Latch start(kWorkers);
    std::atomic<std::uint64_t> created{0};
    run_threads(kWorkers, [&](int worker) {
        start.arrive_and_wait();
        for (std::uint64_t k = static_cast<std::uint64_t>(worker); k < kKeysTotal; k += kWorkers) {
            region.get_or_create(k, [&] {
                ++created;
                return 1;
            });
        }
    });
    EXPECT_EQ(created.load(), kKeysTotal);
    EXPECT_EQ(region.lock_registry_size(), 0u);
}

}  // namespace
