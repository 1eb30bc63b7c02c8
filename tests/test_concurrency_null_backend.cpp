// A backend that needs no dogpile lock (LockRequirement::none, as NullBackend)
// lets concurrent creators of one key run at once; one that does (every other
// backend) still sees exactly one creation. Synchronised on latches only: the
// creator waits inside for all callers, with a generous timeout as the
// failure path. Runs under TSan in CI (label: concurrency).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/backends/memory.hpp>
#include <dogpile/backends/null.hpp>
#include <dogpile/backends/proxy.hpp>
#include <dogpile/region.hpp>

#include "support/latch.hpp"
#include "support/wait.hpp"

using namespace std::chrono_literals;
using dogpile::Region;
using dogpile::test::Latch;

namespace {

constexpr int kThreads = 4;
// Only reached when the creators are serialised (a failure); never a timing assertion.
constexpr auto kGenerous = 10s;

template <class F>
void run_threads(int n, F&& f) {
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) threads.emplace_back(f);
    for (auto& t : threads) t.join();
}

TEST(ConcurrencyNullBackend, CreatorsOfOneKeyRunAtOnce) {
    Region<std::string> region(std::make_shared<dogpile::NullBackend<std::string>>());
    Latch all_inside(kThreads);
    std::atomic<int> created{0};
    std::atomic<int> saw_everyone{0};
    run_threads(kThreads, [&] {
        const std::string value = region.get_or_create("key", [&] {
            ++created;
            all_inside.count_down();
            if (all_inside.wait_for(kGenerous)) ++saw_everyone;
            return std::string("v");
        });
        EXPECT_EQ(value, "v");
    });
    EXPECT_EQ(created.load(), kThreads);
    EXPECT_EQ(saw_everyone.load(), kThreads) << "creators were serialised: each waited alone inside";
    EXPECT_EQ(region.stats().lock_waits, 0u);
    EXPECT_EQ(region.lock_registry_size(), 0u);
}

TEST(ConcurrencyNullBackend, AProxyForwardsTheLockRequirement) {
    auto proxied = dogpile::wrap(std::make_shared<dogpile::NullBackend<std::string>>(),
                                 {std::make_shared<dogpile::ProxyBackend<std::string>>()});
    Region<std::string> region(proxied);
    Latch all_inside(kThreads);
    std::atomic<int> saw_everyone{0};
    run_threads(kThreads, [&] {
        region.get_or_create("key", [&] {
            all_inside.count_down();
            if (all_inside.wait_for(kGenerous)) ++saw_everyone;
            return std::string("v");
        });
    });
    EXPECT_EQ(saw_everyone.load(), kThreads);
}

TEST(ConcurrencyNullBackend, MemoryBackendStillCreatesOnce) {
    Region<std::string> region(std::make_shared<dogpile::MemoryBackend<std::string>>());
    Latch start(kThreads);
    Latch creator_entered(1);
    Latch release_creator(1);
    std::atomic<int> created{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&] {
            start.arrive_and_wait();
            const std::string value = region.get_or_create("key", [&] {
                ++created;
                creator_entered.count_down();
                release_creator.wait();
                return std::string("v");
            });
            EXPECT_EQ(value, "v");
        });
    }
    ASSERT_TRUE(creator_entered.wait_for(kGenerous));
    // The others are queued on the key's lock, not creating alongside.
    const bool others_waiting =
        dogpile::test::wait_for_condition([&] { return region.lock_waiters("key") == kThreads - 1; }, kGenerous);
    EXPECT_TRUE(region.key_is_locked("key"));
    release_creator.count_down();
    for (auto& t : threads) t.join();
    EXPECT_TRUE(others_waiting);
    EXPECT_EQ(created.load(), 1);
    EXPECT_FALSE(region.key_is_locked("key"));
}

}  // namespace
