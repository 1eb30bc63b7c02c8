// RedisLock against a real redis-server: the lock key and its TTL as other
// clients see them, fresh unguessable tokens, bounded waiting without
// spinning, expiry of abandoned locks, the token check on release and
// extend, Regions using it through Backend::get_mutex, and the dogpile
// guarantee across processes (helper program tests/programs/stampede_worker).

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <thread>
#include <vector>

#include <dogpile/codec/msgpack.hpp>
#include <dogpile/details/random.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "programs/lock_test_backend.hpp"
#include "support/child_process.hpp"
#include "support/latch.hpp"
#include "support/lock_attempt_recorder.hpp"
#include "support/redis_server.hpp"
#include "support/wait.hpp"
#include "support/message_of.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::ConfigurationError;
using dogpile::redis::Client;
using dogpile::redis::LockOptions;
using dogpile::redis::RedisLock;
using dogpile::test::Latch;
using dogpile::test::LockAttemptRecorder;
using dogpile::test::LockTestBackend;
using dogpile::test::raw_command;
using dogpile::test::RawReply;
using dogpile::test::RedisServer;
using dogpile::test::RedisServerOptions;
using dogpile::test::wait_for_condition;
using Clock = std::chrono::steady_clock;

RedisServer& server() { return RedisServer::shared(); }

// The ctest entries pipelined.* run this binary with
// DOGPILE_TEST_PIPELINED_CLIENT=1: every lock then talks to Redis through the
// auto-pipelining client (redis/pipelined_client.hpp).
std::shared_ptr<Client> make_client() {
    const char* pipelined = std::getenv("DOGPILE_TEST_PIPELINED_CLIENT");
    if (pipelined != nullptr && std::string_view(pipelined) == "1") {
        return dogpile::redis::make_pipelined_client(server().url());
    }
    return dogpile::redis::make_client(server().url());
}

// Keys of one test never meet another test's (or an earlier run's) keys.
std::string unique_ns(const std::string& what) {
    return "lock-test:" + what + ":" + dogpile::details::random_hex(6) + ":";
}

LockOptions lock_options(std::chrono::milliseconds ttl, const std::string& prefix = "dogpile-lock|") {
    LockOptions o;
    o.prefix = prefix;
    o.ttl = ttl;
    return o;
}

RawReply raw(const std::vector<std::string>& argv) { return raw_command(server(), argv); }

long long pttl(const std::string& key) { return raw({"PTTL", key}).integer; }

bool key_exists(const std::string& key) { return raw({"EXISTS", key}).integer == 1; }

// How often the server ran `command` (INFO commandstats); each test process has its own server.
long long command_calls(const std::string& command) {
    const std::string info = raw({"INFO", "commandstats"}).str;
    const std::string tag = "cmdstat_" + command + ":calls=";
    const auto at = info.find(tag);
    return at == std::string::npos ? 0 : std::stoll(info.substr(at + tag.size()));
}

std::optional<std::string> raw_get(const std::string& key) {
    const RawReply r = raw({"GET", key});
    if (r.is_nil()) return std::nullopt;
    return r.str;
}

bool is_token(const std::string& s) {
    return s.size() == 32 &&
           std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

using dogpile::test::message_of;

// ------------------------------------------------------------ configuration

TEST(RedisLockOptions, RejectsBadValues) {
    auto client = make_client();
    auto bad = [&](LockOptions o) { return message_of<ConfigurationError>([&] { RedisLock(client, "r", o); }); };

    EXPECT_NE(bad(lock_options(0ms)).find("ttl must be positive"), std::string::npos);
    EXPECT_NE(bad(lock_options(-5ms)).find("ttl"), std::string::npos);

    LockOptions zero_retry;
    zero_retry.retry_initial = 0ms;
    EXPECT_NE(bad(zero_retry).find("retry_initial"), std::string::npos);

    LockOptions inverted;
    inverted.retry_initial = 20ms;
    inverted.retry_max = 10ms;
    EXPECT_NE(bad(inverted).find("retry_max"), std::string::npos);

    EXPECT_NE(message_of<ConfigurationError>([] { RedisLock(nullptr, "r", LockOptions{}); }).find("client is null"),
              std::string::npos);

    RedisLock lock(client, unique_ns("extend-arg") + "r", LockOptions{});
    EXPECT_NE(message_of<ConfigurationError>([&] { lock.extend(0ms); }).find("ttl must be positive"),
              std::string::npos);
}

TEST(RedisLockOptions, KeyIsPrefixPlusResource) {
    RedisLock lock(make_client(), "res", lock_options(1000ms, "my-prefix:"));
    EXPECT_EQ(lock.key(), "my-prefix:res");
    EXPECT_EQ(RedisLock(make_client(), "res", LockOptions{}).key(), "dogpile-lock|res");
}

// ------------------------------------------------------------ basics

TEST(RedisLock, TryLockSetsKeyWithTokenAndTtlAndUnlockDeletesIt) {
    auto client = make_client();
    const std::string prefix = unique_ns("basics");
    RedisLock a(client, "res", lock_options(5000ms, prefix));
    RedisLock b(client, "res", lock_options(5000ms, prefix));
    const std::string key = prefix + "res";

    EXPECT_TRUE(a.token().empty());
    ASSERT_TRUE(a.try_lock());
    EXPECT_TRUE(a.held());
    EXPECT_EQ(raw_get(key), a.token());
    const long long ttl = pttl(key);
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, 5000);

    EXPECT_FALSE(b.try_lock());
    EXPECT_FALSE(b.held());
    EXPECT_EQ(raw_get(key), a.token());  // a failed attempt changes nothing

    a.unlock();
    EXPECT_FALSE(a.held());
    EXPECT_FALSE(key_exists(key));

    ASSERT_TRUE(b.try_lock());
    EXPECT_EQ(raw_get(key), b.token());
    b.unlock();
    EXPECT_FALSE(key_exists(key));
}

TEST(RedisLock, UnlockWhenNotHeldIsANoOp) {
    auto client = make_client();
    const std::string prefix = unique_ns("noop");
    RedisLock idle(client, "res", lock_options(5000ms, prefix));
    EXPECT_NO_THROW(idle.unlock());

    RedisLock other(client, "res", lock_options(5000ms, prefix));
    ASSERT_TRUE(other.try_lock());
    EXPECT_NO_THROW(idle.unlock());  // must not release `other`
    EXPECT_EQ(raw_get(prefix + "res"), other.token());

    other.unlock();
    EXPECT_NO_THROW(other.unlock());  // twice
    EXPECT_FALSE(key_exists(prefix + "res"));
}

TEST(RedisLock, DroppingAHeldLockReleasesIt) {
    const std::string prefix = unique_ns("dropped");
    {
        RedisLock lock(make_client(), "res", lock_options(30000ms, prefix));
        ASSERT_TRUE(lock.try_lock());
        ASSERT_TRUE(key_exists(prefix + "res"));
    }
    EXPECT_FALSE(key_exists(prefix + "res"));
}

TEST(RedisLock, TokensAre128BitHexAndFreshForEveryAcquisition) {
    auto client = make_client();
    const std::string prefix = unique_ns("tokens");
    RedisLock a(client, "res", lock_options(5000ms, prefix));
    RedisLock b(client, "res", lock_options(5000ms, prefix));
    std::set<std::string> seen;
    for (int i = 0; i < 20; ++i) {
        RedisLock& lock = i % 2 == 0 ? a : b;
        ASSERT_TRUE(lock.try_lock());
        EXPECT_TRUE(is_token(lock.token())) << lock.token();
        EXPECT_EQ(raw_get(prefix + "res"), lock.token());
        seen.insert(lock.token());
        lock.unlock();
    }
    EXPECT_EQ(seen.size(), 20u);
}

TEST(RedisLock, IsNotRecursive) {
    RedisLock lock(make_client(), unique_ns("recursive") + "res", lock_options(5000ms));
    ASSERT_TRUE(lock.try_lock());
    const std::string token = lock.token();
    EXPECT_NE(message_of<dogpile::Error>([&] { lock.try_lock(); }).find("not recursive"), std::string::npos);
    EXPECT_NE(message_of<dogpile::Error>([&] { lock.lock(10ms); }).find("not recursive"), std::string::npos);
    EXPECT_TRUE(lock.held());
    EXPECT_EQ(lock.token(), token);
    lock.unlock();
}

// ------------------------------------------------------------ waiting

TEST(RedisLock, ContendedLockGivesUpAfterTheTimeoutWithoutSpinning) {
    const std::string prefix = unique_ns("timeout");
    RedisLock holder(make_client(), "res", lock_options(30000ms, prefix));
    ASSERT_TRUE(holder.try_lock());

    // Attempts as the server counts them (SET calls), not as the library does.
    RedisLock waiter(make_client(), "res", lock_options(30000ms, prefix));
    const auto sets_before = command_calls("set");
    const auto started = Clock::now();
    EXPECT_FALSE(waiter.lock(300ms));
    const auto waited = Clock::now() - started;
    const auto attempts = command_calls("set") - sets_before;

    // Never gives up early. (How much later it returns depends on the
    // scheduler, so that is not asserted: the attempts show it does not spin.)
    EXPECT_GE(waited, 300ms);
    // Backoff from 1 ms doubling to 50 ms, each sleep at least half its step,
    // allows at most ~18 attempts in 300 ms, and a slower machine makes fewer;
    // a spinning waiter would make thousands. (That it retries at all is
    // shown by the tests below, which count attempts while the waiter waits:
    // a lower bound here would assume a round trip takes less than 300 ms.)
    EXPECT_GE(attempts, 1);
    EXPECT_LT(attempts, 60);
    EXPECT_FALSE(waiter.held());
    EXPECT_EQ(raw_get(prefix + "res"), holder.token());

    // A zero timeout is a single attempt.
    const auto sets_zero = command_calls("set");
    EXPECT_FALSE(waiter.lock(0ms));
    EXPECT_EQ(command_calls("set") - sets_zero, 1);
    holder.unlock();
}

TEST(RedisLock, WaiterAcquiresOnceTheHolderUnlocks) {
    const std::string prefix = unique_ns("handover");
    RedisLock holder(make_client(), "res", lock_options(30000ms, prefix));
    RedisLock waiter(make_client(), "res", lock_options(30000ms, prefix));
    ASSERT_TRUE(holder.try_lock());
    ASSERT_FALSE(waiter.try_lock());

    // The holder lets go only once the server has refused the waiter twice
    // (SET calls, counted by the server): the waiter is really waiting in
    // lock(), not merely started, and a waiter that gave up after one refusal
    // never gets there.
    const auto sets_before = command_calls("set");
    auto result = std::async(std::launch::async, [&] { return waiter.lock(60s); });
    const bool waited = wait_for_condition([&] { return command_calls("set") >= sets_before + 2; }, 30s);
    holder.unlock();
    ASSERT_TRUE(waited) << "the waiter never retried";
    ASSERT_EQ(result.wait_for(60s), std::future_status::ready);
    EXPECT_TRUE(result.get());
    EXPECT_EQ(raw_get(prefix + "res"), waiter.token());
    waiter.unlock();
}

TEST(RedisLock, UnboundedLockWaitsUntilReleased) {
    const std::string prefix = unique_ns("unbounded");
    RedisLock holder(make_client(), "res", lock_options(30000ms, prefix));
    RedisLock waiter(make_client(), "res", lock_options(30000ms, prefix));
    ASSERT_TRUE(holder.try_lock());

    const auto sets_before = command_calls("set");
    auto result = std::async(std::launch::async, [&] { return waiter.lock(std::nullopt); });
    // "Still waiting" as a causal fact, not as a short wait that timed out:
    // the server refused the waiter three times (SET calls it counted), so
    // the waiter returned after neither of its first two refusals. Nothing
    // can have made it return since, as the lock is still held.
    const bool retried = wait_for_condition([&] { return command_calls("set") >= sets_before + 3; }, 30s);
    EXPECT_TRUE(retried) << "the waiter did not keep trying while the lock was held";
    EXPECT_EQ(result.wait_for(0ms), std::future_status::timeout) << "lock(nullopt) returned while the lock was held";
    holder.unlock();
    if (result.wait_for(15s) != std::future_status::ready) {
        raw({"DEL", prefix + "res"});  // let the waiter finish so the test can fail instead of hang
        result.wait();
        FAIL() << "lock(nullopt) did not acquire a released lock";
    }
    EXPECT_TRUE(result.get());
    EXPECT_EQ(raw_get(prefix + "res"), waiter.token());
    waiter.unlock();
}

TEST(RedisLock, MutualExclusionAcrossManyLockObjects) {
    // Each thread has its own RedisLock, as separate processes would.
    const std::string prefix = unique_ns("exclusion");
    auto client = make_client();
    constexpr int threads = 8;
    constexpr int rounds = 20;
    std::atomic<int> inside{0};
    std::atomic<int> overlaps{0};
    std::atomic<int> acquired{0};
    Latch start(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            LockOptions o = lock_options(30000ms, prefix);
            o.retry_max = 5ms;
            RedisLock lock(client, "res", o);
            start.arrive_and_wait();
            for (int i = 0; i < rounds; ++i) {
                if (!lock.lock(20s)) return;
                acquired.fetch_add(1);
                if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
                std::this_thread::yield();
                inside.fetch_sub(1);
                lock.unlock();
            }
        });
    }
    for (auto& t : pool) t.join();
    EXPECT_EQ(acquired.load(), threads * rounds);
    EXPECT_EQ(overlaps.load(), 0);
    EXPECT_FALSE(key_exists(prefix + "res"));
}

// ------------------------------------------------------------ expiry and tokens

TEST(RedisLock, AbandonedLockIsAcquiredAfterItsTtl) {
    const std::string prefix = unique_ns("abandoned");
    const std::string key = prefix + "res";
    // A holder that died: its token is in Redis and nobody will release it.
    ASSERT_EQ(raw({"SET", key, "token-of-a-dead-process", "NX", "PX", "300"}).str, "OK");

    RedisLock lock(make_client(), "res", lock_options(5000ms, prefix));
    EXPECT_FALSE(lock.try_lock());
    EXPECT_TRUE(lock.lock(10s));
    EXPECT_EQ(raw_get(key), lock.token());
    lock.unlock();
}

TEST(RedisLock, LateUnlockLeavesTheNewHoldersLockInPlace) {
    const std::string prefix = unique_ns("late-unlock");
    const std::string key = prefix + "res";
    RedisLock a(make_client(), "res", lock_options(200ms, prefix));
    RedisLock b(make_client(), "res", lock_options(30000ms, prefix));
    ASSERT_TRUE(a.try_lock());
    ASSERT_TRUE(wait_for_condition([&] { return !key_exists(key); }, 10s)) << "a's lock never expired";
    ASSERT_TRUE(b.try_lock());
    ASSERT_NE(a.token(), b.token());

    a.unlock();  // a believes it still holds the lock
    EXPECT_EQ(raw_get(key), b.token());
    EXPECT_GT(pttl(key), 1000);
    b.unlock();
    EXPECT_FALSE(key_exists(key));
}

TEST(RedisLock, LateExtendFailsAndLeavesTheNewHoldersTtl) {
    const std::string prefix = unique_ns("late-extend");
    const std::string key = prefix + "res";
    RedisLock a(make_client(), "res", lock_options(200ms, prefix));
    RedisLock b(make_client(), "res", lock_options(5000ms, prefix));
    ASSERT_TRUE(a.try_lock());
    ASSERT_TRUE(wait_for_condition([&] { return !key_exists(key); }, 10s)) << "a's lock never expired";
    ASSERT_TRUE(b.try_lock());

    EXPECT_FALSE(a.extend(60000ms));
    EXPECT_FALSE(a.held());  // it knows now that it lost the lock
    EXPECT_EQ(raw_get(key), b.token());
    EXPECT_LE(pttl(key), 5000);
    b.unlock();
}

TEST(RedisLock, ExtendProlongsTheHoldersTtl) {
    const std::string prefix = unique_ns("extend");
    const std::string key = prefix + "res";
    RedisLock lock(make_client(), "res", lock_options(1000ms, prefix));
    EXPECT_FALSE(lock.extend(60000ms));  // not held
    ASSERT_TRUE(lock.try_lock());
    EXPECT_LE(pttl(key), 1000);
    EXPECT_TRUE(lock.extend(60000ms));
    EXPECT_GT(pttl(key), 30000);
    EXPECT_EQ(raw_get(key), lock.token());
    EXPECT_TRUE(lock.held());
    lock.unlock();
    EXPECT_FALSE(key_exists(key));
}

// ------------------------------------------------------------ errors

TEST(RedisLock, RedisErrorsPropagate) {
    // Nothing listens on this port.
    const int port = dogpile::test::redis_server_details::pick_free_port();
    auto dead = dogpile::redis::make_client("redis://127.0.0.1:" + std::to_string(port));
    RedisLock lock(dead, "res", LockOptions{});
    EXPECT_THROW(lock.try_lock(), dogpile::redis::RedisError);
    EXPECT_THROW(lock.lock(50ms), dogpile::redis::RedisError);
    EXPECT_FALSE(lock.held());
    EXPECT_NO_THROW(lock.unlock());
}

// ------------------------------------------------------------ with a Region

using StringRegion = dogpile::Region<std::string>;

TEST(RedisLockRegion, CreatorRunsUnderTheDistributedLock) {
    const std::string ns = unique_ns("region");
    auto client = make_client();
    auto backend = std::make_shared<LockTestBackend>(client, lock_options(30000ms, ns + "lock|"));
    dogpile::RegionOptions options;
    options.lock_timeout = 10s;
    StringRegion region(backend, options);
    const std::string key = ns + "value";
    const std::string lock_key = ns + "lock|" + key;

    std::optional<std::string> token_seen;
    const std::string value = region.get_or_create(key, [&] {
        token_seen = raw_get(lock_key);
        return std::string("created");
    });
    EXPECT_EQ(value, "created");
    ASSERT_TRUE(token_seen.has_value()) << "the creator ran without the distributed lock";
    EXPECT_TRUE(is_token(*token_seen));
    EXPECT_FALSE(key_exists(lock_key));  // released
    EXPECT_EQ(region.get_or_create(key, [] { return std::string("again"); }), "created");
    EXPECT_EQ(region.stats().backend_errors, 0u);
}

// Mutex::locked() answers for every holder (EXISTS on the lock key), so a
// region sees a creation another process runs: key_is_locked().
TEST(RedisLock, LockedReportsAnyHolderOfTheKey) {
    auto client = make_client();
    const std::string prefix = unique_ns("locked");
    RedisLock holder(client, "res", lock_options(5000ms, prefix));
    RedisLock observer(client, "res", lock_options(5000ms, prefix));
    EXPECT_EQ(observer.locked(), false);
    ASSERT_TRUE(holder.try_lock());
    EXPECT_EQ(observer.locked(), true) << "held by another object (another process, for all Redis knows)";
    EXPECT_EQ(holder.locked(), true);
    holder.unlock();
    EXPECT_EQ(observer.locked(), false);
}

TEST(RedisLockRegion, KeyIsLockedSeesAnotherProcessCreating) {
    const std::string ns = unique_ns("key-is-locked");
    auto client = make_client();
    auto backend = std::make_shared<LockTestBackend>(client, lock_options(30000ms, ns + "lock|"));
    StringRegion region(backend);
    const std::string key = ns + "value";
    EXPECT_FALSE(region.key_is_locked(key));
    RedisLock other_process(make_client(), key, lock_options(30000ms, ns + "lock|"));
    ASSERT_TRUE(other_process.try_lock());
    EXPECT_TRUE(region.key_is_locked(key));
    EXPECT_EQ(region.lock_registry_size(), 0u) << "not this process's lock";
    other_process.unlock();
    EXPECT_FALSE(region.key_is_locked(key));
}

// docs/hash-store.md: "The in-process lock is taken first, so only one thread per process
// polls Redis." Another process holds the distributed lock while six threads
// of this one ask one Region for the key. A forwarding client records which
// threads send lock attempts (SET NX) and which the server refuses. Before
// the holder lets go, one thread has been refused and the five others are
// blocked on the region's in-process lock (Region::lock_waiters), and the
// poller has been refused twice more after that: if the waiting threads
// polled too, several threads would have sent attempts by then.
TEST(RedisLockRegion, OnlyOneThreadPerProcessPollsAHeldLock) {
    constexpr int threads = 6;
    const std::string ns = unique_ns("one-poller");
    const std::string key = ns + "value";
    const std::string lock_prefix = ns + "lock|";
    RedisLock holder(make_client(), key, lock_options(120000ms, lock_prefix));
    ASSERT_TRUE(holder.try_lock());

    auto recorder = std::make_shared<LockAttemptRecorder>(make_client(), lock_prefix);
    auto backend = std::make_shared<LockTestBackend>(recorder, lock_options(120000ms, lock_prefix));
    dogpile::RegionOptions options;
    options.lock_timeout = 120s;
    StringRegion region(backend, options);

    std::atomic<int> creations{0};
    std::atomic<int> wrong{0};
    std::atomic<int> threw{0};
    std::atomic<int> finished{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            try {
                const std::string v = region.get_or_create(key, [&] {
                    creations.fetch_add(1);
                    return std::string("made");
                });
                if (v != "made") wrong.fetch_add(1);
            } catch (const std::exception&) {
                threw.fetch_add(1);
            }
            finished.fetch_add(1);
        });
    }
    auto settled = [&] {
        if (finished.load() > 0) return true;  // nobody should finish while the lock is held: fails below
        return recorder->threads_that_missed() > 0 && region.lock_waiters(key) == static_cast<std::size_t>(threads - 1);
    };
    const bool all_waiting = wait_for_condition(settled, 60s);
    const int refusals = recorder->attempts().missed;
    const bool polled_on =
        all_waiting &&
        wait_for_condition([&] { return finished.load() > 0 || recorder->attempts().missed >= refusals + 2; }, 60s) &&
        finished.load() == 0;
    const std::size_t pollers = recorder->threads_that_attempted();
    const int finished_while_held = finished.load();
    holder.unlock();
    for (auto& t : pool) t.join();

    EXPECT_EQ(finished_while_held, 0) << "callers returned while another process held the lock";
    EXPECT_TRUE(all_waiting) << "the threads never all reached the lock";
    EXPECT_TRUE(polled_on) << "the poller stopped polling a held lock";
    EXPECT_EQ(pollers, 1u) << "threads that sent lock attempts while another process held the lock";
    EXPECT_EQ(creations.load(), 1);
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(threw.load(), 0);
    // Only the poller ever sent attempts: the others, let in by the in-process
    // lock after it, re-read the value it had created and took no distributed
    // lock (docs/architecture.md, "Lock wake-up").
    EXPECT_EQ(recorder->threads_that_missed(), 1u);
    EXPECT_EQ(recorder->threads_that_attempted(), 1u);
    EXPECT_EQ(recorder->attempts().total, recorder->attempts().missed + 1);
    const auto stats = region.stats();
    EXPECT_EQ(stats.lock_waits, static_cast<std::uint64_t>(threads));
    EXPECT_EQ(stats.lock_timeouts, 0u);
    EXPECT_EQ(stats.backend_errors, 0u);
    EXPECT_FALSE(key_exists(lock_prefix + key));
}

// The other side of the re-read after an in-process wait: the creator it
// waited for failed (threw), so the value is still missing, and the caller
// must not create under the in-process lock alone: it takes the distributed
// lock (its thread sends an attempt) before it creates.
TEST(RedisLockRegion, ACallerThatWaitedInProcessAndFindsNoValueTakesTheDistributedLock) {
    const std::string ns = unique_ns("reread-miss");
    const std::string key = ns + "value";
    const std::string lock_prefix = ns + "lock|";
    auto recorder = std::make_shared<LockAttemptRecorder>(make_client(), lock_prefix);
    auto backend = std::make_shared<LockTestBackend>(recorder, lock_options(120000ms, lock_prefix));
    dogpile::RegionOptions options;
    options.lock_timeout = 120s;
    StringRegion region(backend, options);

    Latch creating(1);
    Latch fail(1);
    std::thread first([&] {
        try {
            region.get_or_create(key, [&]() -> std::string {
                creating.count_down();
                fail.wait();
                throw std::runtime_error("creator failed");
            });
        } catch (const std::runtime_error&) {
        }
    });
    creating.wait();
    std::string second_value;
    std::thread second([&] { second_value = region.get_or_create(key, [] { return std::string("made"); }); });
    const bool waiting = wait_for_condition([&] { return region.lock_waiters(key) == 1; }, 60s);
    fail.count_down();
    first.join();
    second.join();
    EXPECT_TRUE(waiting);
    EXPECT_EQ(second_value, "made");
    EXPECT_EQ(recorder->threads_that_attempted(), 2u) << "the second caller created without the distributed lock";
    EXPECT_FALSE(key_exists(lock_prefix + key));
}

TEST(RedisLockRegion, LockErrorsDegradeToTheInProcessLock) {
    const std::string ns = unique_ns("degrade");
    const int port = dogpile::test::redis_server_details::pick_free_port();
    auto dead = dogpile::redis::make_client("redis://127.0.0.1:" + std::to_string(port));
    auto backend = std::make_shared<LockTestBackend>(make_client(), dead, lock_options(30000ms, ns + "lock|"));
    std::vector<std::string> operations;
    dogpile::RegionOptions options;
    options.lock_timeout = 10s;
    options.error_hook = [&](const dogpile::BackendErrorEvent& e) { operations.emplace_back(e.operation); };
    StringRegion region(backend, options);

    int calls = 0;
    EXPECT_EQ(region.get_or_create(ns + "value", [&] { return std::to_string(++calls); }), "1");
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(region.stats().backend_errors, 1u);
    EXPECT_EQ(operations, std::vector<std::string>{"lock"});
    EXPECT_EQ(region.get(ns + "value"), std::optional<std::string>("1"));  // stored nonetheless
}

// ------------------------------------------------------------ keys that would never be released

// Runs `f` on a detached thread and waits at most `timeout`, so a call that
// would block forever fails the test instead of hanging it. `unblock` runs
// when it timed out, to let the thread finish before the test's state dies.
template <class F>
std::optional<std::invoke_result_t<F>> within(std::chrono::milliseconds timeout, F f,
                                              const std::function<void()>& unblock) {
    using R = std::invoke_result_t<F>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::move(f));
    auto done = task->get_future();
    std::thread([task] { (*task)(); }).detach();
    if (done.wait_for(timeout) != std::future_status::ready) {
        unblock();
        done.wait();
        return std::nullopt;
    }
    return done.get();
}

TEST(RedisLock, AKeyWithoutTtlIsReportedInsteadOfAwaited) {
    const std::string prefix = unique_ns("no-ttl");
    ASSERT_EQ(raw({"SET", prefix + "plain", "planted without PX"}).str, "OK");
    ASSERT_EQ(raw({"RPUSH", prefix + "list", "a list"}).integer, 1);
    for (const std::string resource : {"plain", "list"}) {
        SCOPED_TRACE(resource);
        RedisLock lock(make_client(), resource, lock_options(30000ms, prefix));
        EXPECT_THROW(lock.try_lock(), dogpile::redis::UnreleasableLockError);
        const auto outcome = within(
            20s,
            [&] {
                try {
                    lock.lock(std::nullopt);
                    return std::string("acquired");
                } catch (const dogpile::redis::UnreleasableLockError& e) {
                    return std::string(e.what());
                }
            },
            [&] {
                raw({"DEL", prefix + resource});
            });
        ASSERT_TRUE(outcome.has_value()) << "lock() waited for a key that never expires";
        EXPECT_NE(outcome->find("without a TTL"), std::string::npos) << *outcome;
        EXPECT_FALSE(lock.held());
    }
    // A key with a TTL is an ordinary held lock.
    ASSERT_EQ(raw({"SET", prefix + "held", "x", "PX", "30000"}).str, "OK");
    RedisLock lock(make_client(), "held", lock_options(30000ms, prefix));
    EXPECT_FALSE(lock.try_lock());
}

TEST(RedisLockRegion, ALockKeyWithoutTtlNeverBlocksARegion) {
    const std::string ns = unique_ns("region-no-ttl");
    const std::string key = ns + "value";
    const std::string lock_key = ns + "lock|" + key;
    ASSERT_EQ(raw({"SET", lock_key, "planted"}).str, "OK");
    auto backend = std::make_shared<LockTestBackend>(make_client(), lock_options(30000ms, ns + "lock|"));
    std::vector<std::string> reported;
    dogpile::RegionOptions options;  // no lock_timeout: the default
    options.error_hook = [&](const dogpile::BackendErrorEvent& e) {
        reported.push_back(std::string(e.operation) + ": " + std::string(e.message));
    };
    StringRegion region(backend, options);
    const auto value = within(
        20s, [&] { return region.get_or_create(key, [] { return std::string("made"); }); },
        [&] {
            raw({"DEL", lock_key});
        });
    ASSERT_TRUE(value.has_value()) << "get_or_create waited forever on a lock key without a TTL";
    EXPECT_EQ(*value, "made");
    ASSERT_EQ(reported.size(), 1u);
    EXPECT_EQ(reported[0].rfind("lock: ", 0), 0u) << reported[0];
    EXPECT_NE(reported[0].find("without a TTL"), std::string::npos) << reported[0];

    // By policy, the caller sees it instead.
    ASSERT_EQ(raw({"SET", ns + "lock|" + ns + "other", "planted"}).str, "OK");
    options.on_backend_error = dogpile::BackendErrorPolicy::raise;
    StringRegion strict(backend, options);
    EXPECT_THROW(strict.get_or_create(ns + "other", [] { return std::string("x"); }),
                 dogpile::redis::UnreleasableLockError);
}

TEST(RedisLockRegion, WithoutALockTimeoutTheDistributedWaitIsStillBounded) {
    const std::string ns = unique_ns("bounded-wait");
    const std::string key = ns + "value";
    LockOptions o = lock_options(60000ms, ns + "lock|");
    EXPECT_EQ(o.effective_max_wait(), 120000ms) << "the default: twice the lock ttl";
    o.max_wait = 300ms;
    // Another process holds the lock for a minute and never releases it.
    RedisLock holder(make_client(), key, o);
    ASSERT_TRUE(holder.try_lock());

    auto backend = std::make_shared<LockTestBackend>(make_client(), o);
    dogpile::RegionOptions options;  // no lock_timeout
    StringRegion region(backend, options);
    const auto outcome = within(
        20s,
        [&] {
            try {
                return region.get_or_create(key, [] { return std::string("made"); });
            } catch (const dogpile::LockTimeout& e) {
                return std::string("LockTimeout: ") + e.what();
            }
        },
        [&] {
            raw({"DEL", ns + "lock|" + key});
        });
    ASSERT_TRUE(outcome.has_value()) << "the distributed wait had no bound";
    EXPECT_EQ(outcome->rfind("LockTimeout: ", 0), 0u) << *outcome;
    EXPECT_NE(outcome->find("max_wait"), std::string::npos) << *outcome;

    options.on_lock_timeout = dogpile::LockTimeoutPolicy::create_value;
    StringRegion lenient(backend, options);
    EXPECT_EQ(lenient.get_or_create(key, [] { return std::string("made anyway"); }), "made anyway");
    EXPECT_EQ(raw_get(ns + "lock|" + key), holder.token());
    holder.unlock();
}

// ------------------------------------------------------------ lost replies

std::vector<std::string> keys_matching(const RedisServer& s, const std::string& pattern) {
    std::vector<std::string> out;
    for (const RawReply& k : s.raw({"KEYS", pattern}).elements) out.push_back(k.str);
    return out;
}

// CLIENT KILL storms while 8 threads create values under the distributed
// lock: SET NX and release replies get lost. A lost reply must not orphan a
// lock: once the storm is over and each thread has made one more call, no
// lock key is left (they would otherwise live their 30 s TTL).
TEST(RedisLockRegion, LostRepliesLeaveNoLockBehind) {
    RedisServer s;
    const std::string ns = unique_ns("kill-storm");
    // No circuit breaker: its fail-fast sends nothing, so loses no reply; the
    // storm is to hit lock commands on the wire.
    dogpile::redis::PoolOptions pool;
    pool.connection = dogpile::redis::ConnectionOptions::from_url(s.url());
    pool.breaker.failure_threshold = std::nullopt;
    auto client = dogpile::redis::make_client(pool);
    dogpile::RedisBackendOptions backend_options;
    backend_options.client = client;
    backend_options.key_prefix = ns;
    backend_options.distributed_lock = lock_options(30000ms, ns + "lock|");
    auto backend = std::make_shared<dogpile::RedisBackend<std::string>>(backend_options);
    dogpile::RegionOptions options;
    options.lock_timeout = 20s;
    options.on_lock_timeout = dogpile::LockTimeoutPolicy::create_value;
    StringRegion region(backend, options);

    constexpr int threads = 8;
    std::atomic<bool> storm_over{false};
    std::atomic<int> calls{0};
    std::atomic<int> wrong{0};
    Latch started(threads + 1);
    Latch stopped(threads);
    Latch final_round(1);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            started.arrive_and_wait();
            int i = 0;
            auto one_call = [&] {
                // A cold key every time: every call takes and releases a lock.
                const std::string key = std::to_string(t) + ":" + std::to_string(i++);
                try {
                    if (region.get_or_create(key, [&] { return "v-" + key; }) != "v-" + key) wrong.fetch_add(1);
                } catch (const std::exception&) {
                }
                calls.fetch_add(1);
            };
            while (!storm_over.load()) one_call();
            stopped.count_down();
            final_round.wait();
            one_call();  // the next call after the storm
        });
    }
    started.arrive_and_wait();
    const auto stats_of = [&] { return backend->distributed_locks()->stats(); };
    int kills = 0;
    // Kill until some lock replies were lost (the fault really happened), then a while longer.
    while (kills < 2000 && (stats_of().lost_replies < 20 || kills < 300)) {
        s.raw({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
        ++kills;
    }
    storm_over.store(true);
    ASSERT_TRUE(stopped.wait_for(30s));
    // The storm broke enough connections to open the pool's circuit breaker;
    // the next calls only reach Redis once its probe has closed it.
    ASSERT_TRUE(wait_for_condition(
        [&] {
            try {
                client->command("probe", {"PING"});
            } catch (const dogpile::redis::IoError&) {
            }
            return client->breaker_stats().state == dogpile::redis::BreakerState::closed;
        },
        30s));
    final_round.count_down();
    for (auto& w : workers) w.join();

    const auto stats = stats_of();
    std::cout << "[ storm    ] " << kills << " CLIENT KILLs, " << calls.load() << " region calls; lock replies lost "
              << stats.lost_replies << ", released with their token afterwards " << stats.released_after_loss
              << ", still pending " << stats.pending << std::endl;
    EXPECT_GT(stats.lost_replies, 0u) << "the storm never hit a lock command: the test proves nothing";
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(keys_matching(s, ns + "lock|*"), std::vector<std::string>{}) << "orphaned locks outlived the storm";
}

// ------------------------------------------------------------ what the server refuses

// With scripting refused (an ACL user without @scripting, or EVALSHA renamed
// away), a lock could be taken and never released. The backend finds out
// before its first lock, reports it once with the rights to grant, and keeps
// to the in-process lock: no lock key is ever left behind to stall others.
TEST(RedisLockRegion, RefusedScriptingFallsBackToTheInProcessLockOnce) {
    struct Case {
        std::string name;
        RedisServerOptions server;
        std::string user_part;
    };
    std::vector<Case> cases;
    {
        RedisServerOptions o;
        o.acl_users.push_back(dogpile::test::RedisAclUser{"no-scripts", "pw", {"~*", "&*", "+@all", "-@scripting"}});
        cases.push_back({"acl without @scripting", o, "no-scripts:pw@"});
    }
    {
        RedisServerOptions o;
        o.extra_args = {"--rename-command", "EVALSHA", ""};
        cases.push_back({"EVALSHA renamed away", o, ""});
    }
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        RedisServer s(c.server);
        auto client = dogpile::redis::make_client("redis://" + c.user_part + "127.0.0.1:" + std::to_string(s.port()));
        dogpile::RedisBackendOptions backend_options;
        backend_options.client = client;
        backend_options.distributed_lock = lock_options(30000ms, "lock|");
        auto backend = std::make_shared<dogpile::RedisBackend<std::string>>(backend_options);
        std::vector<std::string> reported;
        dogpile::RegionOptions options;
        options.error_hook = [&](const dogpile::BackendErrorEvent& e) {
            reported.push_back(std::string(e.operation) + ": " + std::string(e.message));
        };
        StringRegion region(backend, options);
        int calls = 0;
        for (const char* key : {"a", "b", "c", "a"}) {
            region.get_or_create(key, [&] { return std::to_string(++calls); });
        }
        EXPECT_EQ(calls, 3);
        ASSERT_EQ(reported.size(), 1u) << "reported once, not on every call";
        EXPECT_EQ(reported[0].rfind("get_mutex: ", 0), 0u) << reported[0];
        EXPECT_NE(reported[0].find("+evalsha +script|load"), std::string::npos) << reported[0];
        EXPECT_TRUE(backend->distributed_locks()->scripting_refused());
        EXPECT_EQ(keys_matching(s, "lock|*"), std::vector<std::string>{}) << "a lock was left to expire";
    }
}

// Under a maxmemory-policy that may evict keys, a held lock key may vanish
// and a second process create the same value: the backend warns once
// through its error hook. noeviction (or no maxmemory) draws no warning.
TEST(RedisLockRegion, AnEvictionPolicyThatCanDropLocksIsReportedOnce) {
    for (const std::string policy : {"allkeys-lru", "volatile-lru", "noeviction"}) {
        SCOPED_TRACE(policy);
        RedisServerOptions o;
        o.extra_args = {"--maxmemory", "256mb", "--maxmemory-policy", policy};
        RedisServer s(o);
        std::vector<std::string> warnings;
        dogpile::RedisBackendOptions backend_options;
        backend_options.client = dogpile::redis::make_client(s.url());
        backend_options.distributed_lock = lock_options(30000ms, "lock|");
        backend_options.error_hook = [&](const dogpile::BackendErrorEvent& e) {
            try {
                std::rethrow_exception(e.error);
            } catch (const dogpile::redis::EvictionPolicyWarning&) {
                warnings.push_back(std::string(e.operation) + ": " + std::string(e.message));
            } catch (...) {
            }
        };
        StringRegion region(std::make_shared<dogpile::RedisBackend<std::string>>(backend_options));
        for (const char* key : {"a", "b", "c"}) region.get_or_create(key, [] { return std::string("v"); });
        EXPECT_EQ(region.stats().backend_errors, 0u);
        if (policy == "noeviction") {
            EXPECT_EQ(warnings, std::vector<std::string>{});
        } else {
            ASSERT_EQ(warnings.size(), 1u);
            EXPECT_EQ(warnings[0].rfind("lock: ", 0), 0u) << warnings[0];
            EXPECT_NE(warnings[0].find(policy), std::string::npos) << warnings[0];
            EXPECT_NE(warnings[0].find("noeviction"), std::string::npos) << warnings[0];
        }
    }
}

// With noeviction and the memory full, Redis refuses the lock's SET NX (OOM):
// a backend error, counted and reported, and the caller still gets its value.
TEST(RedisLockRegion, AnOomRefusedLockIsACountedBackendError) {
    RedisServerOptions o;
    o.extra_args = {"--maxmemory-policy", "noeviction"};
    RedisServer s(o);
    // Fill the server, then cap its memory just below what it uses.
    ASSERT_EQ(s.raw({"SET", "ballast", std::string(4 << 20, 'x')}).str, "OK");
    const auto info = s.raw({"INFO", "memory"}).str;
    const auto at = info.find("used_memory:");
    ASSERT_NE(at, std::string::npos);
    const long long used = std::stoll(info.substr(at + 12));
    ASSERT_EQ(s.raw({"CONFIG", "SET", "maxmemory", std::to_string(used - 1024 * 1024)}).str, "OK");

    dogpile::RedisBackendOptions backend_options;
    backend_options.client = dogpile::redis::make_client(s.url());
    backend_options.distributed_lock = lock_options(30000ms, "lock|");
    std::vector<std::string> reported;
    dogpile::RegionOptions options;
    options.error_hook = [&](const dogpile::BackendErrorEvent& e) {
        reported.push_back(std::string(e.operation) + ": " + std::string(e.message));
    };
    StringRegion region(std::make_shared<dogpile::RedisBackend<std::string>>(backend_options), options);
    EXPECT_EQ(region.get_or_create("k", [] { return std::string("made"); }), "made");
    EXPECT_GE(region.stats().backend_errors, 1u);
    const bool lock_refused = std::any_of(reported.begin(), reported.end(), [](const std::string& r) {
        return (r.rfind("lock: ", 0) == 0 || r.rfind("get_mutex: ", 0) == 0) && r.find("OOM") != std::string::npos;
    });
    EXPECT_TRUE(lock_refused) << ::testing::PrintToString(reported);
}

// ------------------------------------------------------------ across processes

using Child = dogpile::test::ChildProcess;
using dogpile::test::describe_wait_status;

std::vector<std::string> worker_args(const std::string& mode, const std::string& ns,
                                     std::chrono::milliseconds lock_ttl) {
    return {DOGPILE_STAMPEDE_WORKER,
            mode,
            "--url",
            server().url(),
            "--ns",
            ns,
            "--lock-ttl-ms",
            std::to_string(lock_ttl.count()),
            "--parent",
            std::to_string(::getpid())};
}

TEST(RedisLockProcesses, StampedeAcrossProcessesCreatesOnce) {
    constexpr int processes = 4;
    constexpr int threads = 16;
    const std::string ns = unique_ns("stampede");

    std::vector<std::unique_ptr<Child>> workers;
    for (int p = 0; p < processes; ++p) {
        auto args = worker_args("stampede", ns, 30000ms);
        args.insert(args.end(),
                    {"--threads", std::to_string(threads), "--callers", std::to_string(processes * threads)});
        workers.push_back(std::make_unique<Child>(args));
    }
    for (int p = 0; p < processes; ++p) {
        const auto status = workers[static_cast<std::size_t>(p)]->wait(90s);
        ASSERT_TRUE(status.has_value()) << "worker " << p << " did not finish within 90 s";
        EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
            << "worker " << p << " " << describe_wait_status(*status);
    }

    EXPECT_EQ(raw_get(ns + "arrived"), std::to_string(processes * threads));
    EXPECT_EQ(raw_get(ns + "creations"), "1");
    const RawReply results = raw({"LRANGE", ns + "results", "0", "-1"});
    ASSERT_EQ(results.elements.size(), static_cast<std::size_t>(processes * threads));
    const std::string first = results.elements.front().str;
    EXPECT_EQ(first.rfind("created-by-", 0), 0u) << first;
    for (const auto& r : results.elements) EXPECT_EQ(r.str, first);
    const auto stored = raw_get(ns + "value");
    ASSERT_TRUE(stored.has_value());
    const auto entry = LockTestBackend::decode(*stored);
    ASSERT_TRUE(entry.has_value());
    EXPECT_EQ(entry->value, first);
    EXPECT_FALSE(key_exists(ns + "lock|" + ns + "value"));
}

TEST(RedisLockProcesses, LockOfAKilledHolderExpires) {
    const std::string ns = unique_ns("killed");
    const std::string key = ns + "value";
    const std::string lock_key = ns + "lock|" + key;
    constexpr auto ttl = 1000ms;

    Child holder(worker_args("hold", ns, ttl));
    ASSERT_TRUE(wait_for_condition([&] { return raw_get(ns + "entered") == std::string("1"); }, 60s))
        << "the holder never entered its creator";
    const int status = holder.kill();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << describe_wait_status(status);
    // Its lock outlives it: only the TTL frees it.
    ASSERT_TRUE(raw_get(lock_key).has_value()) << "the killed holder left no lock";

    auto backend = std::make_shared<LockTestBackend>(make_client(), lock_options(ttl, ns + "lock|"));
    dogpile::RegionOptions options;
    options.lock_timeout = 10s;  // longer than the orphan's TTL
    StringRegion region(backend, options);
    int calls = 0;
    EXPECT_EQ(region.get_or_create(key,
                                   [&] {
                                       ++calls;
                                       return std::string("after-the-crash");
                                   }),
              "after-the-crash");
    EXPECT_EQ(calls, 1);
    const auto stats = region.stats();
    EXPECT_EQ(stats.lock_waits, 1u);  // it did have to wait for the orphan
    EXPECT_EQ(stats.lock_timeouts, 0u);
    EXPECT_EQ(stats.backend_errors, 0u);
    EXPECT_EQ(raw_get(ns + "entered"), "1");
    EXPECT_FALSE(key_exists(lock_key));
}

}  // namespace
