// A frozen Redis (SIGSTOP) against the two things that bound what it costs a
// caller (docs/architecture.md, "Deadlines"): the per-call backend time
// budget and the pool's circuit breaker. A real redis-server throughout.
//
// Pool level: consecutive broken leases open the breaker; while open,
// acquire() throws CircuitOpenError without connecting or sending anything;
// after probe_interval exactly one caller probes; its success closes the
// breaker, its failure re-opens it; every change is reported, in order.
//
// Region level (the goal): a 20-key get_or_create_multi with Redis
// frozen returns every key's value from the creator, each created once; the
// errors are reported and the breaker opens; with the breaker open calls
// make no Redis I/O; after SIGCONT one probe closes it and values come from
// Redis again. The figures (elapsed time against command_timeout, per-call
// time while open) are printed, never asserted.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <dogpile/backends/redis/plain.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "support/redis_server.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using dogpile::BackendErrorEvent;
using dogpile::Region;
using dogpile::RegionOptions;
using dogpile::redis::BreakerEvent;
using dogpile::redis::BreakerState;
using dogpile::redis::CircuitOpenError;
using dogpile::redis::ConnectionPool;
using dogpile::redis::PoolOptions;
using dogpile::test::RedisServer;
using dogpile::test::wait_for_condition;

constexpr auto command_timeout = 200ms;
constexpr auto probe_interval = 300ms;
constexpr std::size_t failure_threshold = 3;
constexpr auto eventually = 30s;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The breaker's state changes, in the order they were reported.
class BreakerLog {
public:
    std::function<void(const BreakerEvent&)> observer() {
        return [this](const BreakerEvent& e) {
            std::lock_guard<std::mutex> lock(mutex_);
            events_.push_back(e);
        };
    }
    std::vector<std::pair<BreakerState, BreakerState>> transitions() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<std::pair<BreakerState, BreakerState>> out;
        for (const auto& e : events_) out.emplace_back(e.from, e.to);
        return out;
    }
    std::vector<BreakerEvent> events() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return events_;
    }

private:
    mutable std::mutex mutex_;
    std::vector<BreakerEvent> events_;
};

PoolOptions pool_options(const RedisServer& server, BreakerLog* log = nullptr) {
    PoolOptions o;
    o.size = 4;
    o.acquire_timeout = 1000ms;
    o.connection = server.options();
    o.connection.connect_timeout = command_timeout;
    o.connection.command_timeout = command_timeout;
    o.breaker.failure_threshold = failure_threshold;
    o.breaker.probe_interval = probe_interval;
    if (log) o.breaker.on_state_change = log->observer();
    return o;
}

// One PING on a leased connection; false when it failed (the lease then
// comes back broken).
bool ping(ConnectionPool& pool) {
    auto lease = pool.acquire();
    try {
        lease->command({"PING"});
        return true;
    } catch (const dogpile::redis::IoError&) {
        return false;
    }
}

// The lease of the first caller let through once probe_interval has passed
// (nullopt if none was within `eventually`).
std::optional<ConnectionPool::Lease> wait_for_probe(ConnectionPool& pool) {
    std::optional<ConnectionPool::Lease> probe;
    wait_for_condition(
        [&] {
            try {
                probe.emplace(pool.acquire());
                return true;
            } catch (const CircuitOpenError&) {
                return false;
            }
        },
        eventually);
    return probe;
}

const auto opened = std::make_pair(BreakerState::closed, BreakerState::open);
const auto probing = std::make_pair(BreakerState::open, BreakerState::half_open);
const auto healed = std::make_pair(BreakerState::half_open, BreakerState::closed);
const auto reopened = std::make_pair(BreakerState::half_open, BreakerState::open);

// --- the pool's breaker --------------------------------------------------------------------------

// A pool over its own server, healthy at first.
struct PoolBreaker : ::testing::Test {
    RedisServer server;
    BreakerLog log;
    ConnectionPool pool{pool_options(server, &log)};

    // Freezes the server and fails failure_threshold PINGs: the breaker
    // must open on the last one, not before.
    void freeze_until_open() {
        ASSERT_TRUE(ping(pool));
        server.pause();
        for (std::size_t i = 0; i < failure_threshold; ++i) {
            EXPECT_EQ(pool.breaker_stats().state, BreakerState::closed) << "opened after only " << i << " failures";
            EXPECT_FALSE(ping(pool));
        }
        ASSERT_EQ(pool.breaker_stats().state, BreakerState::open);
    }
};

TEST_F(PoolBreaker, OpensAfterConsecutiveFailuresFailsFastWithoutIoAndOneProbeClosesIt) {
    ASSERT_NO_FATAL_FAILURE(freeze_until_open());
    EXPECT_EQ(log.transitions(), (std::vector{opened}));

    // Open: no connect, no command.
    const auto created = pool.connections_created();
    const auto trips = pool.round_trips();
    std::string message;
    try {
        pool.acquire();
        ADD_FAILURE() << "acquire() succeeded with the breaker open";
    } catch (const CircuitOpenError& e) {
        message = e.what();
    }
    EXPECT_NE(message.find("circuit breaker open since"), std::string::npos) << message;
    EXPECT_NE(message.find("next probe in"), std::string::npos) << message;
    EXPECT_NE(message.find("UTC"), std::string::npos) << message;
    EXPECT_EQ(pool.connections_created(), created);
    EXPECT_EQ(pool.round_trips(), trips);
    EXPECT_GE(pool.breaker_stats().rejected, 1u);

    // After probe_interval one caller probes, the others still fail fast.
    server.resume();
    std::optional<ConnectionPool::Lease> probe = wait_for_probe(pool);
    ASSERT_TRUE(probe.has_value()) << "no caller was let through to probe";
    EXPECT_EQ(pool.breaker_stats().state, BreakerState::half_open);
    EXPECT_THROW(pool.acquire(), CircuitOpenError) << "a second caller got through while the probe was out";
    (*probe)->command({"PING"});
    probe.reset();
    EXPECT_EQ(pool.breaker_stats().state, BreakerState::closed);
    EXPECT_EQ(log.transitions(), (std::vector{opened, probing, healed}));
    EXPECT_EQ(pool.breaker_stats().opened, 1u);
    EXPECT_EQ(pool.breaker_stats().closed, 1u);
    EXPECT_TRUE(ping(pool));
}

TEST_F(PoolBreaker, AFailedProbeReopensItForAnotherInterval) {
    ASSERT_NO_FATAL_FAILURE(freeze_until_open());

    // Still frozen: the probe times out and the breaker re-opens.
    std::optional<ConnectionPool::Lease> probe = wait_for_probe(pool);
    ASSERT_TRUE(probe.has_value()) << "no caller was let through to probe";
    EXPECT_THROW((*probe)->command({"PING"}), dogpile::redis::TimeoutError);
    probe.reset();
    EXPECT_EQ(pool.breaker_stats().state, BreakerState::open);
    EXPECT_EQ(log.transitions(), (std::vector{opened, probing, reopened}));
    EXPECT_THROW(pool.acquire(), CircuitOpenError);
    server.resume();
    ASSERT_TRUE(wait_for_condition(
        [&] {
            try {
                return ping(pool);
            } catch (const CircuitOpenError&) {
                return false;
            }
        },
        eventually));
    EXPECT_EQ(pool.breaker_stats().state, BreakerState::closed);
}

TEST_F(PoolBreaker, AFailedConnectCountsAsAFailure) {
    server.kill();  // nothing listens: every connect is refused
    for (std::size_t i = 0; i < failure_threshold; ++i) {
        EXPECT_THROW(pool.acquire(), dogpile::redis::IoError);
    }
    EXPECT_EQ(pool.breaker_stats().state, BreakerState::open);
    const auto created = pool.connections_created();
    EXPECT_THROW(pool.acquire(), CircuitOpenError);
    EXPECT_EQ(pool.connections_created(), created);
}

TEST_F(PoolBreaker, TurnedOffItNeverOpens) {
    PoolOptions o = pool_options(server, &log);
    o.breaker.failure_threshold = std::nullopt;
    ConnectionPool unbroken(o);
    server.pause();
    for (std::size_t i = 0; i < failure_threshold + 2; ++i) EXPECT_FALSE(ping(unbroken));
    EXPECT_EQ(unbroken.breaker_stats().state, BreakerState::closed);
    EXPECT_TRUE(log.transitions().empty());
    server.resume();
    EXPECT_TRUE(ping(unbroken));
}

TEST(PoolBreakerOptions, BadOptionsAreConfigurationErrors) {
    PoolOptions o;
    o.breaker.failure_threshold = 0;
    EXPECT_THROW(o.validate(), dogpile::ConfigurationError);
    o = PoolOptions{};
    o.breaker.probe_interval = 0ms;
    EXPECT_THROW(o.validate(), dogpile::ConfigurationError);
}

// --- the region over a frozen Redis ------------------------------------------------------------

class HookLog {
public:
    std::function<void(const BackendErrorEvent&)> hook() {
        return [this](const BackendErrorEvent& e) {
            std::lock_guard<std::mutex> lock(mutex_);
            operations_.emplace_back(e.operation);
            try {
                std::rethrow_exception(e.error);
            } catch (const CircuitOpenError&) {
                ++circuit_open_;
            } catch (const dogpile::redis::TimeoutError&) {
                ++timeouts_;
            } catch (...) {
            }
        };
    }
    std::size_t count(const std::string& operation) const {
        std::lock_guard<std::mutex> lock(mutex_);
        return static_cast<std::size_t>(std::count(operations_.begin(), operations_.end(), operation));
    }
    std::size_t total() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return operations_.size();
    }
    std::size_t timeouts() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return timeouts_;
    }
    std::size_t circuit_open() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return circuit_open_;
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::string> operations_;
    std::size_t timeouts_ = 0, circuit_open_ = 0;
};

TEST(FrozenRedis, MultiCallReturnsTheCreatorsValuesTheBreakerOpensFailsFastAndHealsAfterOneProbe) {
    RedisServer server;
    HookLog region_errors;  // what the region reports (errors it degraded on)
    HookLog store_events;   // what the store's hook hears (breaker state changes)
    BreakerLog breaker_log;

    PoolOptions pool = pool_options(server);
    auto report = dogpile::redis::report_breaker_to(store_events.hook());
    pool.breaker.on_state_change = [report, observe = breaker_log.observer()](const BreakerEvent& e) {
        observe(e);
        report(e);
    };
    auto client = std::make_shared<dogpile::redis::SingleServerClient>(pool);
    dogpile::RedisBackendOptions backend_options;
    backend_options.client = client;
    backend_options.key_prefix = "deadlines:";
    dogpile::redis::LockOptions lock;
    lock.ttl = 2000ms;
    lock.retry_initial = 1ms;
    lock.retry_max = 20ms;
    backend_options.distributed_lock = lock;
    backend_options.error_hook = store_events.hook();
    auto backend = std::make_shared<dogpile::RedisBackend<std::string>>(backend_options);
    RegionOptions options;
    options.error_hook = region_errors.hook();
    options.lock_timeout = 5000ms;
    Region<std::string> region(backend, options);

    // Stored while healthy: after the heal it must come from Redis.
    region.set("before", "stored before the freeze");

    std::vector<std::string> keys;
    for (int i = 0; i < 20; ++i) keys.push_back("cold" + std::to_string(i));
    std::map<std::string, int> created;
    auto creator = [&](const std::vector<std::string>& missing) {
        std::vector<std::string> out;
        for (const auto& k : missing) {
            ++created[k];
            out.push_back("value of " + k);
        }
        return out;
    };

    server.pause();
    const auto started = Clock::now();
    const auto values = region.get_or_create_multi(keys, creator);
    const auto elapsed = Clock::now() - started;
    std::cout << "[figure] frozen Redis, 20-key get_or_create_multi: " << ms(elapsed) << " ms with command_timeout "
              << ms(command_timeout) << " ms (goal <= 2 x command_timeout + creator time = " << ms(2 * command_timeout)
              << " ms + creator; before: ~22 x command_timeout)" << std::endl;
    ASSERT_EQ(values.size(), keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(values[i], "value of " + keys[i]);
    for (const auto& k : keys) EXPECT_EQ(created[k], 1) << k;
    EXPECT_GE(region_errors.timeouts(), 1u) << "the frozen server's timeouts must be reported";
    EXPECT_EQ(region.stats().backend_errors, region_errors.total());

    // Each call costs at most its budget; keep calling until the breaker has
    // seen failure_threshold broken connections (one call may suffice).
    int filler = 0;
    ASSERT_TRUE(wait_for_condition(
        [&] {
            if (client->breaker_stats().state == BreakerState::open) return true;
            const std::string key = "filler" + std::to_string(filler++);
            EXPECT_EQ(region.get_or_create(key, [&] { return "v:" + key; }), "v:" + key);
            return client->breaker_stats().state == BreakerState::open;
        },
        eventually));
    EXPECT_EQ(breaker_log.transitions(), (std::vector{opened}));
    EXPECT_EQ(store_events.count("circuit_breaker"), 1u) << "the opening must reach the store's error hook";
    EXPECT_EQ(backend->stats().breaker.opened, 1u);
    EXPECT_EQ(backend->stats().breaker.state, BreakerState::open);

    // Open: calls degrade to the creator without touching Redis.
    const auto created_connections = client->pool().connections_created();
    const auto round_trips = client->round_trips();
    const auto open_errors_before = region_errors.circuit_open();
    constexpr int open_calls = 50;
    Clock::duration slowest{}, total{};
    int open_creations = 0;
    for (int i = 0; i < open_calls; ++i) {
        const std::string key = "open" + std::to_string(i);
        const auto t0 = Clock::now();
        const auto got = region.get_or_create(key, [&] {
            ++open_creations;
            return "v:" + key;
        });
        const auto took = Clock::now() - t0;
        slowest = std::max(slowest, took);
        total += took;
        EXPECT_EQ(got, "v:" + key);
    }
    std::cout << "[figure] breaker open: " << open_calls << " get_or_create calls, mean " << ms(total) / open_calls
              << " ms, slowest " << ms(slowest) << " ms per call (goal < 1 ms of Redis time)" << std::endl;
    EXPECT_EQ(open_creations, open_calls);
    EXPECT_EQ(client->pool().connections_created(), created_connections) << "a connect was attempted while open";
    EXPECT_EQ(client->round_trips(), round_trips) << "a command was sent while open";
    EXPECT_GT(region_errors.circuit_open(), open_errors_before) << "CircuitOpenError must reach the region's hook";

    // Heal: after SIGCONT the first call past probe_interval probes and closes it.
    server.resume();
    const auto resumed = Clock::now();
    std::optional<Clock::duration> closed_after;
    ASSERT_TRUE(wait_for_condition(
        [&] {
            region.get("before");
            if (client->breaker_stats().state != BreakerState::closed) return false;
            closed_after = Clock::now() - resumed;
            return true;
        },
        eventually));
    std::cout << "[figure] after SIGCONT the breaker closed in " << ms(*closed_after) << " ms (probe_interval "
              << ms(probe_interval) << " ms)" << std::endl;
    EXPECT_EQ(breaker_log.transitions(), (std::vector{opened, probing, healed}));
    EXPECT_EQ(store_events.count("circuit_breaker"), 3u);
    EXPECT_EQ(backend->stats().breaker.closed, 1u);

    // Served from Redis again: the value stored before the freeze without a
    // creation, and a value created now is stored and read back.
    int late_creations = 0;
    EXPECT_EQ(region.get_or_create("before",
                                   [&] {
                                       ++late_creations;
                                       return std::string("recomputed");
                                   }),
              "stored before the freeze");
    EXPECT_EQ(late_creations, 0);
    EXPECT_EQ(region.get_or_create("after", [] { return std::string("made after the heal"); }), "made after the heal");
    EXPECT_EQ(server.raw({"EXISTS", "deadlines:after"}).integer, 1);
    EXPECT_EQ(region.get_or_create("after",
                                   [&] {
                                       ++late_creations;
                                       return std::string("recomputed");
                                   }),
              "made after the heal");
    EXPECT_EQ(late_creations, 0);
}

}  // namespace
