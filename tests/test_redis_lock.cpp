// RedisLock against a real redis-server: the lock key and its TTL as other
// clients see them, fresh unguessable tokens, bounded waiting without
// spinning, expiry of abandoned locks, the token check on release and
// extend, Regions using it through Backend::get_mutex, and the dogpile
// guarantee across processes (helper program tests/programs/stampede_worker).

#include <gtest/gtest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/details/random.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "programs/lock_test_backend.hpp"
#include "support/latch.hpp"
#include "support/redis_server.hpp"
#include "support/wait.hpp"
#include "support/message_of.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using dogpile::ConfigurationError;
using dogpile::redis::Client;
using dogpile::redis::LockOptions;
using dogpile::redis::RedisLock;
using dogpile::test::Latch;
using dogpile::test::LockTestBackend;
using dogpile::test::raw_command;
using dogpile::test::RawReply;
using dogpile::test::RedisServer;
using dogpile::test::wait_for_condition;
using Clock = std::chrono::steady_clock;

RedisServer& server() { return RedisServer::shared(); }

std::shared_ptr<Client> make_client() { return dogpile::redis::make_client(server().url()); }

// Keys of one test never meet another test's (or an earlier run's) keys.
std::string unique_ns(const std::string& what) { return "lock-test:" + what + ":" + dogpile::details::random_hex(6) + ":"; }

LockOptions lock_options(std::chrono::milliseconds ttl, const std::string& prefix = "dogpile-lock|") {
    LockOptions o;
    o.prefix = prefix;
    o.lock_timeout = ttl;
    return o;
}

RawReply raw(const std::vector<std::string>& argv) { return raw_command(server(), argv); }

long long pttl(const std::string& key) { return raw({"PTTL", key}).integer; }

bool key_exists(const std::string& key) { return raw({"EXISTS", key}).integer == 1; }

std::optional<std::string> raw_get(const std::string& key) {
    const RawReply r = raw({"GET", key});
    if (r.is_nil()) return std::nullopt;
    return r.str;
}

bool is_token(const std::string& s) {
    return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

using dogpile::test::message_of;

// ------------------------------------------------------------ configuration

TEST(RedisLockOptions, RejectsBadValues) {
    auto client = make_client();
    auto bad = [&](LockOptions o) { return message_of<ConfigurationError>([&] { RedisLock(client, "r", o); }); };

    EXPECT_NE(bad(lock_options(0ms)).find("lock_timeout must be positive"), std::string::npos);
    EXPECT_NE(bad(lock_options(-5ms)).find("lock_timeout"), std::string::npos);

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

    // Its own client, so its round trips count only its attempts.
    auto waiter_client = make_client();
    RedisLock waiter(waiter_client, "res", lock_options(30000ms, prefix));
    const auto trips_before = waiter_client->round_trips();
    const auto started = Clock::now();
    EXPECT_FALSE(waiter.lock(300ms));
    const auto waited = Clock::now() - started;
    const auto attempts = waiter_client->round_trips() - trips_before;

    EXPECT_GE(waited, 300ms);
    EXPECT_LT(waited, 800ms);
    // Backoff from 1 ms doubling to 50 ms makes ~15 attempts in 300 ms; a
    // spinning waiter would make thousands.
    EXPECT_GE(attempts, 2u);
    EXPECT_LT(attempts, 60u);
    EXPECT_FALSE(waiter.held());
    EXPECT_EQ(raw_get(prefix + "res"), holder.token());

    // A zero timeout is a single attempt.
    const auto trips_zero = waiter_client->round_trips();
    EXPECT_FALSE(waiter.lock(0ms));
    EXPECT_EQ(waiter_client->round_trips() - trips_zero, 1u);
    holder.unlock();
}

TEST(RedisLock, WaiterAcquiresOnceTheHolderUnlocks) {
    const std::string prefix = unique_ns("handover");
    RedisLock holder(make_client(), "res", lock_options(30000ms, prefix));
    RedisLock waiter(make_client(), "res", lock_options(30000ms, prefix));
    ASSERT_TRUE(holder.try_lock());
    ASSERT_FALSE(waiter.try_lock());

    Latch waiting(1);
    auto result = std::async(std::launch::async, [&] {
        waiting.count_down();
        return waiter.lock(10s);
    });
    ASSERT_TRUE(waiting.wait_for(10s));
    holder.unlock();
    ASSERT_EQ(result.wait_for(15s), std::future_status::ready);
    EXPECT_TRUE(result.get());
    EXPECT_EQ(raw_get(prefix + "res"), waiter.token());
    waiter.unlock();
}

TEST(RedisLock, UnboundedLockWaitsUntilReleased) {
    const std::string prefix = unique_ns("unbounded");
    RedisLock holder(make_client(), "res", lock_options(30000ms, prefix));
    RedisLock waiter(make_client(), "res", lock_options(30000ms, prefix));
    ASSERT_TRUE(holder.try_lock());

    Latch waiting(1);
    auto result = std::async(std::launch::async, [&] {
        waiting.count_down();
        return waiter.lock(std::nullopt);
    });
    ASSERT_TRUE(waiting.wait_for(10s));
    EXPECT_EQ(result.wait_for(100ms), std::future_status::timeout);  // still waiting: the lock is held
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
    EXPECT_THROW(lock.try_lock(), dogpile::redis::Error);
    EXPECT_THROW(lock.lock(50ms), dogpile::redis::Error);
    EXPECT_FALSE(lock.held());
    EXPECT_NO_THROW(lock.unlock());
}

// ------------------------------------------------------------ with a Region

using StringRegion = dogpile::Region<std::string>;

TEST(RedisLockRegion, CreatorRunsUnderTheDistributedLock) {
    const std::string ns = unique_ns("region");
    auto client = make_client();
    auto backend = std::make_shared<LockTestBackend>(client, lock_options(30000ms, ns + "lock|"));
    dogpile::RegionOptions<std::string> options;
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

TEST(RedisLockRegion, LockErrorsDegradeToTheInProcessLock) {
    const std::string ns = unique_ns("degrade");
    const int port = dogpile::test::redis_server_details::pick_free_port();
    auto dead = dogpile::redis::make_client("redis://127.0.0.1:" + std::to_string(port));
    auto backend = std::make_shared<LockTestBackend>(make_client(), dead, lock_options(30000ms, ns + "lock|"));
    std::vector<std::string> operations;
    dogpile::RegionOptions<std::string> options;
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

// ------------------------------------------------------------ across processes

// A helper program run with posix_spawn (fork+exec: a multithreaded test
// binary must not fork without exec). Killed and reaped on destruction.
class Child {
public:
    explicit Child(std::vector<std::string> args) : args_(std::move(args)) {
        std::vector<char*> argv;
        for (auto& a : args_) argv.push_back(a.data());
        argv.push_back(nullptr);
        const int rc = ::posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ);
        if (rc != 0) throw std::runtime_error("posix_spawn " + args_[0] + ": " + std::strerror(rc));
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() {
        if (pid_ > 0) kill();
    }

    // The wait status once it exits within `timeout`; std::nullopt otherwise.
    std::optional<int> wait(std::chrono::milliseconds timeout) {
        int status = 0;
        const bool exited = wait_for_condition([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
        if (!exited) return std::nullopt;
        pid_ = -1;
        return status;
    }

    // SIGKILL and reap; returns the wait status.
    int kill() {
        ::kill(pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
        return status;
    }

private:
    std::vector<std::string> args_;
    pid_t pid_ = -1;
};

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("killed by signal ") + std::to_string(WTERMSIG(status));
    return "wait status " + std::to_string(status);
}

std::vector<std::string> worker_args(const std::string& mode, const std::string& ns,
                                     std::chrono::milliseconds lock_ttl) {
    return {DOGPILE_STAMPEDE_WORKER, mode,        "--url",        server().url(),
            "--ns",                  ns,          "--lock-ttl-ms", std::to_string(lock_ttl.count()),
            "--parent",              std::to_string(::getpid())};
}

TEST(RedisLockProcesses, StampedeAcrossProcessesCreatesOnce) {
    constexpr int processes = 4;
    constexpr int threads = 16;
    const std::string ns = unique_ns("stampede");

    std::vector<std::unique_ptr<Child>> workers;
    for (int p = 0; p < processes; ++p) {
        auto args = worker_args("stampede", ns, 30000ms);
        args.insert(args.end(), {"--threads", std::to_string(threads), "--callers",
                                 std::to_string(processes * threads)});
        workers.push_back(std::make_unique<Child>(args));
    }
    for (int p = 0; p < processes; ++p) {
        const auto status = workers[static_cast<std::size_t>(p)]->wait(90s);
        ASSERT_TRUE(status.has_value()) << "worker " << p << " did not finish within 90 s";
        EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
            << "worker " << p << " " << describe_status(*status);
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
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << describe_status(status);
    // Its lock outlives it: only the TTL frees it.
    ASSERT_TRUE(raw_get(lock_key).has_value()) << "the killed holder left no lock";

    auto backend = std::make_shared<LockTestBackend>(make_client(), lock_options(ttl, ns + "lock|"));
    dogpile::RegionOptions<std::string> options;
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
