// Batched distributed locks against a real redis-server: a multi-key region
// call takes the Redis locks of its keys in one round trip and releases them
// in one (dogpile::try_lock_all / unlock_all, RedisLock::try_lock_batch /
// unlock_batch), waits for a key another caller holds without keeping the
// locks of the keys after it, creates each key exactly once across regions
// that act like separate processes, and leaves no lock behind when the batch
// loses its replies to a paused server.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/backends/proxy.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/details/random.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "support/creation_log.hpp"
#include "support/latch.hpp"
#include "support/redis_server.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::redis::Client;
using dogpile::redis::LockOptions;
using dogpile::redis::RedisLock;
using dogpile::test::CreationLog;
using dogpile::test::Latch;
using dogpile::test::numbered;
using dogpile::test::RedisServer;
using dogpile::test::wait_for_condition;
using StringRegion = dogpile::Region<std::string>;
using Keys = std::vector<std::string>;

RedisServer& server() { return RedisServer::shared(); }

std::string unique_ns(const std::string& what) {
    return "batch-lock-test:" + what + ":" + dogpile::details::random_hex(6) + ":";
}

LockOptions lock_options(const std::string& prefix) {
    LockOptions o;
    o.prefix = prefix;
    o.ttl = 30000ms;
    return o;
}

Keys keys_matching(const RedisServer& s, const std::string& pattern) {
    Keys out;
    for (const auto& k : s.raw({"KEYS", pattern}).elements) out.push_back(k.str);
    return out;
}

std::shared_ptr<dogpile::RedisBackend<std::string>> make_backend(std::shared_ptr<Client> client,
                                                                 const std::string& ns) {
    dogpile::RedisBackendOptions o;
    o.client = std::move(client);
    o.key_prefix = ns;
    o.distributed_lock = lock_options(ns + "lock|");
    return std::make_shared<dogpile::RedisBackend<std::string>>(o);
}

// ------------------------------------------------------------ round trips

TEST(RedisBatchLock, LocksOfOneClientAreTakenAndReleasedInOneRoundTripEach) {
    const std::string ns = unique_ns("direct");
    auto client = dogpile::redis::make_client(server().url());
    server().raw({"SCRIPT", "LOAD", RedisLock::release_script().source()});  // no NOSCRIPT round trip below
    std::vector<std::unique_ptr<RedisLock>> locks;
    std::vector<dogpile::Mutex*> mutexes;
    for (const auto& k : numbered("k", 0, 20)) {
        locks.push_back(std::make_unique<RedisLock>(client, k, lock_options(ns)));
        mutexes.push_back(locks.back().get());
    }
    server().raw({"SET", ns + "k07", "someone-else", "PX", "30000"});

    const auto before = client->round_trips();
    const auto tried = dogpile::try_lock_all(mutexes);
    EXPECT_EQ(client->round_trips() - before, 1u);
    for (std::size_t i = 0; i < tried.size(); ++i) {
        EXPECT_FALSE(tried[i].error) << i;
        EXPECT_EQ(tried[i].taken, i != 7) << i;
        EXPECT_EQ(locks[i]->held(), i != 7) << i;
        if (i != 7) {
            EXPECT_EQ(server().raw({"GET", locks[i]->key()}).str, locks[i]->token()) << i;
        }
    }
    EXPECT_EQ(keys_matching(server(), ns + "*").size(), 20u);

    const auto before_release = client->round_trips();
    dogpile::unlock_all(mutexes);  // k07 is not held here: left alone
    EXPECT_EQ(client->round_trips() - before_release, 1u);
    EXPECT_EQ(keys_matching(server(), ns + "*"), Keys{ns + "k07"}) << "every lock this caller held is released";
    for (const auto& lock : locks) EXPECT_FALSE(lock->held());
}

// 20 cold keys: one read, one lock batch, one re-read, one write, one release
// batch, where taking and releasing the locks key by key cost 40.
TEST(RedisBatchLock, AColdMultiKeyCallTakesItsLocksInConstantRoundTrips) {
    const std::string ns = unique_ns("cold");
    auto client = dogpile::redis::make_client(server().url());
    StringRegion region(make_backend(client, ns));
    region.get_or_create("warm-up", [] { return std::string("w"); });  // the lock's one-time server check

    CreationLog log;
    const Keys keys = numbered("k", 0, 20);
    const auto before = client->round_trips();
    const Keys got = region.get_or_create_multi(keys, [&](const Keys& missing) { return log(missing); });
    const auto spent = client->round_trips() - before;
    std::cout << "[ measured ] 20 cold keys: " << spent << " round trips for the whole get_or_create_multi"
              << std::endl;
    EXPECT_LE(spent, 5u);
    EXPECT_EQ(log.calls(), 1);
    ASSERT_EQ(got.size(), keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(got[i], "v-" + keys[i]);
    EXPECT_EQ(keys_matching(server(), ns + "lock|*"), Keys{}) << "a lock outlived its call";
}

// ------------------------------------------------------------ contention

// Region B holds k05's lock while creating it. Region A's call over k00..k09
// waits for k05 holding the locks of k00..k04 only: it gave back k06..k09
// (which it took in the batch) before waiting, so nobody waiting for them
// can be part of a cycle. Once B is done, A finds k05 stored and creates the
// others: every key exactly once.
TEST(RedisBatchLock, AHeldKeyIsAwaitedWithoutHoldingTheKeysAfterIt) {
    const std::string ns = unique_ns("held");
    StringRegion region_a(make_backend(dogpile::redis::make_client(server().url()), ns));
    StringRegion region_b(make_backend(dogpile::redis::make_client(server().url()), ns));
    CreationLog log;
    const Keys keys = numbered("k", 0, 10);

    Latch b_creating(1);
    Latch b_may_finish(1);
    auto b = std::async(std::launch::async, [&] {
        return region_b.get_or_create("k05", [&] {
            b_creating.count_down();
            b_may_finish.wait();
            return log({"k05"}).front();
        });
    });
    ASSERT_TRUE(b_creating.wait_for(30s));
    auto a = std::async(std::launch::async, [&] {
        return region_a.get_or_create_multi(keys, [&](const Keys& missing) { return log(missing); });
    });
    Keys expected_locks;
    for (const auto& k : numbered("k", 0, 6)) expected_locks.push_back(ns + "lock|" + ns + k);
    auto lock_keys = [&] {
        Keys found = keys_matching(server(), ns + "lock|*");
        std::sort(found.begin(), found.end());
        return found;
    };
    // Waiting for k05 is a state, not an event: polled (each poll is one KEYS).
    EXPECT_TRUE(wait_for_condition([&] { return lock_keys() == expected_locks; }, 30s))
        << "A must hold k00..k04, B k05, and nobody k06..k09";
    EXPECT_EQ(log.calls(), 0) << "A must not create while it waits";
    b_may_finish.count_down();

    ASSERT_EQ(b.wait_for(60s), std::future_status::ready);
    ASSERT_EQ(a.wait_for(60s), std::future_status::ready) << "A never finished";
    EXPECT_EQ(b.get(), "v-k05");
    const Keys got = a.get();
    for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(got[i], "v-" + keys[i]);
    for (const auto& k : keys) EXPECT_EQ(log.per_key()[k], 1) << k;
    EXPECT_EQ(log.calls(), 2);
    EXPECT_EQ(lock_keys(), Keys{});
}

// Two regions with their own clients (two processes, as far as the locks can
// tell) ask for overlapping batches, listed in opposite orders, round after
// round: each key is created exactly once, and nobody deadlocks.
TEST(RedisBatchLock, OverlappingBatchesOfTwoRegionsCreateEachKeyOnce) {
    const std::string ns = unique_ns("overlap");
    StringRegion region_a(make_backend(dogpile::redis::make_client(server().url()), ns));
    StringRegion region_b(make_backend(dogpile::redis::make_client(server().url()), ns));
    CreationLog log;
    constexpr int rounds = 40;
    constexpr int threads_per_region = 2;
    std::atomic<int> wrong{0};

    auto run = [&](StringRegion& region, bool reversed) {
        for (int r = 0; r < rounds; ++r) {
            const std::string stem = "r" + std::to_string(r) + ":";
            Keys keys = reversed ? numbered(stem, 4, 16) : numbered(stem, 0, 12);
            if (reversed) std::reverse(keys.begin(), keys.end());
            const Keys got = region.get_or_create_multi(keys, [&](const Keys& missing) { return log(missing); });
            for (std::size_t i = 0; i < keys.size(); ++i) {
                if (got[i] != "v-" + keys[i]) wrong.fetch_add(1);
            }
        }
    };
    Latch start(1);
    std::vector<std::future<void>> workers;
    for (int t = 0; t < threads_per_region; ++t) {
        workers.push_back(std::async(std::launch::async, [&] {
            start.wait();
            run(region_a, false);
        }));
        workers.push_back(std::async(std::launch::async, [&] {
            start.wait();
            run(region_b, true);
        }));
    }
    start.count_down();
    for (auto& w : workers) ASSERT_EQ(w.wait_for(120s), std::future_status::ready) << "deadlock";
    for (auto& w : workers) w.get();

    EXPECT_EQ(wrong.load(), 0);
    const auto per_key = log.per_key();
    EXPECT_EQ(per_key.size(), static_cast<std::size_t>(rounds * 16));
    for (const auto& [key, count] : per_key) EXPECT_EQ(count, 1) << key;
    EXPECT_EQ(keys_matching(server(), ns + "lock|*"), Keys{});
}

// ------------------------------------------------------------ lost replies

// Stops the server right after the call's read, so the lock batch is the
// first thing to time out.
class PauseAfterRead final : public dogpile::ProxyBackend<std::string> {
public:
    PauseAfterRead(std::shared_ptr<dogpile::Backend<std::string>> inner, RedisServer& s)
        : dogpile::ProxyBackend<std::string>(std::move(inner)), server_(s) {}
    std::vector<std::optional<entry_type>> get_multi(const Keys& keys) override {
        auto out = proxied().get_multi(keys);
        if (armed_.exchange(false)) server_.pause();
        return out;
    }
    void arm() { armed_ = true; }

private:
    RedisServer& server_;
    std::atomic<bool> armed_{false};
};

// The batch's SET NX commands wait in the stopped server's buffer and run on
// resume, after the client gave up: the region degrades to its in-process
// locks (the creator runs, the errors are reported), and the tokens it
// remembered release those locks once Redis answers again.
TEST(RedisBatchLock, ABatchThatTimesOutLeavesNoLockBehind) {
    RedisServer s;
    const std::string ns = unique_ns("paused");
    dogpile::redis::PoolOptions pool;
    pool.connection = dogpile::redis::ConnectionOptions::from_url(s.url());
    pool.connection.command_timeout = 200ms;
    auto client = dogpile::redis::make_client(pool);
    auto redis_backend = make_backend(client, ns);
    auto proxy = std::make_shared<PauseAfterRead>(redis_backend, s);
    std::atomic<int> lock_errors{0};
    dogpile::RegionOptions options;
    options.error_hook = [&](const dogpile::BackendErrorEvent& e) {
        if (e.operation == "lock") lock_errors.fetch_add(1);
    };
    StringRegion region(proxy, options);
    region.get_or_create("warm-up", [] { return std::string("w"); });

    CreationLog log;
    const Keys keys = numbered("k", 0, 10);
    proxy->arm();
    const Keys got = region.get_or_create_multi(keys, [&](const Keys& missing) { return log(missing); });
    s.resume();
    for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(got[i], "v-" + keys[i]);
    EXPECT_EQ(log.calls(), 1);
    EXPECT_EQ(lock_errors.load(), static_cast<int>(keys.size())) << "each key's lock failure is reported";
    EXPECT_GT(redis_backend->distributed_locks()->stats().lost_replies, 0u);

    // The remembered releases run after the next lock operation that gets its reply.
    EXPECT_TRUE(wait_for_condition(
        [&] {
            try {
                region.get_or_create_multi({"probe-" + dogpile::details::random_hex(4)},
                                           [](const Keys& k) { return Keys(k.size(), "p"); });
            } catch (const std::exception&) {
            }
            return keys_matching(s, ns + "lock|*").empty();
        },
        30s))
        << "locks taken by the lost batch outlived it";
    const auto stats = redis_backend->distributed_locks()->stats();
    EXPECT_EQ(stats.pending, 0u);
    // Only the batch lost replies: the calls that failed fast while the
    // circuit breaker was open sent nothing, and remembered nothing.
    EXPECT_EQ(stats.lost_replies, keys.size());
}

}  // namespace
