// Faults injected for real, under load: a redis-server that is not running
// when the region starts, one SIGKILLed mid-load and restarted on the same
// port, one SIGSTOPped for longer than the command timeout and resumed. Each
// runs 16 threads of get_or_create against a Region over the hash store (and
// over RedisBackend), with the default degrading policy and with
// BackendErrorPolicy::raise. Then creators that fail while holding the
// distributed lock: one that throws, one that hangs past the lock's TTL, one
// whose value cannot be encoded.
//
// What must hold under every fault: no crash; no call blocks longer than the
// configured timeouts allow (the bound is derived from them below, with
// generous slack: a correctness bound, not a speed assertion); every value a
// caller gets is its key's value; backend errors are counted and reported
// through the hook; once Redis is back the region stores in it and serves
// from it again, in the same process.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <dogpile/backends/redis/plain.hpp>
#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/envelope.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "support/latch.hpp"
#include "support/redis_server.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using dogpile::BackendErrorEvent;
using dogpile::BackendErrorPolicy;
using dogpile::HashKey;
using dogpile::LockTimeoutPolicy;
using dogpile::Region;
using dogpile::RegionOptions;
using dogpile::test::Latch;
using dogpile::test::RawReply;
using dogpile::test::RedisServer;
using dogpile::test::wait_for_condition;

// --- the configured timeouts and the bound they imply ------------------------------

constexpr auto connect_timeout = 150ms;
constexpr auto command_timeout = 150ms;
constexpr auto acquire_timeout = 200ms;
// The region's lock_timeout: how long a caller waits for another caller's
// creation (in-process and distributed together) before creating its own.
constexpr auto region_lock_timeout = 500ms;
// The distributed lock's TTL. A SET NX that timed out on the client may still
// run on the server once it is resumed, leaving a lock nobody holds: it then
// blocks storing for this long, so it is kept short here.
constexpr auto redis_lock_ttl = 1000ms;
constexpr std::size_t pool_size = 4;  // fewer connections than threads: acquire_timeout matters
constexpr int threads = 16;

// One backend operation: waiting for a pooled connection, opening a new one,
// and a command that times out (twice when an EVALSHA came back NOSCRIPT and
// the reload's round trip is the one that stalls).
constexpr auto operation_bound = acquire_timeout + connect_timeout + 2 * command_timeout;
// get_or_create: get; the lock (in-process wait, SET NX polling, all within
// lock_timeout, plus the try_lock and one last SET NX attempt that may start
// just before the deadline); the re-check get; set; the release script.
constexpr auto call_bound = region_lock_timeout + 6 * operation_bound;
// Slack for scheduling on a loaded two-core machine, under sanitizers.
constexpr auto allowed_call_duration = 2 * call_bound + 3s;

constexpr auto phase_deadline = 60s;

// Not make_client(url, pool): the URL's options replace pool.connection
// wholesale, timeouts included.
dogpile::redis::PoolOptions pool_options(const RedisServer& server) {
    dogpile::redis::PoolOptions o;
    o.size = pool_size;
    o.acquire_timeout = acquire_timeout;
    o.connection = server.options();
    o.connection.connect_timeout = connect_timeout;
    o.connection.command_timeout = command_timeout;
    return o;
}

dogpile::redis::LockOptions lock_options(std::string prefix = "dogpile-lock|",
                                         std::chrono::milliseconds ttl = redis_lock_ttl) {
    dogpile::redis::LockOptions o;
    o.prefix = std::move(prefix);
    o.ttl = ttl;
    o.retry_initial = 1ms;
    o.retry_max = 20ms;
    return o;
}

long long ms(Clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

// --- what the error hook saw ----------------------------------------------------------

class ErrorLog {
public:
    std::function<void(const BackendErrorEvent&)> hook() {
        return [this](const BackendErrorEvent& e) { record(e); };
    }

    std::uint64_t total() const { return total_.load(); }
    // Command or connect timeouts proper (not a pool that had no free connection).
    std::uint64_t timeouts() const { return timeouts_.load(); }
    std::uint64_t pool_timeouts() const { return pool_timeouts_.load(); }
    // Connections refused, reset or closed.
    std::uint64_t io_errors() const { return io_errors_.load(); }
    std::uint64_t reply_errors() const { return reply_errors_.load(); }
    // Anything that is not a Redis error (a DecodeError would mean a torn value).
    std::uint64_t foreign() const { return foreign_.load(); }
    std::uint64_t without_message() const { return without_message_.load(); }

    std::string samples() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::string out;
        for (const auto& [kind, example] : samples_) out += "\n  " + kind + ": " + example;
        return out.empty() ? std::string(" none") : out;
    }

private:
    void record(const BackendErrorEvent& e) {
        total_.fetch_add(1);
        if (e.message.empty()) without_message_.fetch_add(1);
        std::string kind;
        try {
            std::rethrow_exception(e.error);
        } catch (const dogpile::redis::PoolTimeout&) {
            pool_timeouts_.fetch_add(1);
            kind = "PoolTimeout";
        } catch (const dogpile::redis::TimeoutError&) {
            timeouts_.fetch_add(1);
            kind = "TimeoutError";
        } catch (const dogpile::redis::IoError&) {
            io_errors_.fetch_add(1);
            kind = "IoError";
        } catch (const dogpile::redis::ReplyError&) {
            reply_errors_.fetch_add(1);
            kind = "ReplyError";
        } catch (...) {
            foreign_.fetch_add(1);
            kind = "foreign";
        }
        kind += " in " + std::string(e.operation);
        std::lock_guard<std::mutex> lock(mutex_);
        if (samples_.size() < 16) samples_.emplace(kind, std::string(e.message));
    }

    std::atomic<std::uint64_t> total_{0}, timeouts_{0}, pool_timeouts_{0}, io_errors_{0}, reply_errors_{0}, foreign_{0},
        without_message_{0};
    mutable std::mutex mutex_;
    std::map<std::string, std::string> samples_;
};

// --- the load ---------------------------------------------------------------------------

// `threads` threads calling get_or_create over `keys` in turn, with a creator
// that returns value_of(key). Every answer is checked; the longest call is
// recorded. An epoch lets the test wait until every thread has finished a
// call that started after some point (e.g. after the fault was injected).
template <class RegionT>
class Load {
public:
    using Key = typename RegionT::key_type;
    using ValueOf = std::function<std::string(const Key&)>;

    Load(RegionT& region, std::vector<Key> keys, ValueOf value_of, int thread_count)
        : region_(region),
          keys_(std::move(keys)),
          value_of_(std::move(value_of)),
          completed_epoch_(static_cast<std::size_t>(thread_count)) {
        for (auto& e : completed_epoch_) e.store(0);
        for (int t = 0; t < thread_count; ++t) workers_.emplace_back([this, t] { run(static_cast<std::size_t>(t)); });
    }
    ~Load() { stop(); }
    Load(const Load&) = delete;
    Load& operator=(const Load&) = delete;

    void stop() {
        {
            std::lock_guard<std::mutex> lock(gate_mutex_);
            stop_.store(true);
        }
        gate_.notify_all();
        for (auto& w : workers_) {
            if (w.joinable()) w.join();
        }
    }

    // Parks every thread between two calls, so the test can check the region
    // without contention; true once all are parked.
    bool pause(std::chrono::milliseconds timeout) {
        {
            std::lock_guard<std::mutex> lock(gate_mutex_);
            paused_ = true;
        }
        return wait_for_condition([&] { return parked_.load() == workers_.size(); }, timeout);
    }
    void resume() {
        {
            std::lock_guard<std::mutex> lock(gate_mutex_);
            paused_ = false;
        }
        gate_.notify_all();
    }

    // True once every thread has completed a call that began after this was
    // called; false if that did not happen within `timeout`.
    bool every_thread_completes_a_new_call(std::chrono::milliseconds timeout) {
        const std::uint64_t epoch = epoch_.fetch_add(1) + 1;
        return wait_for_condition(
            [&] {
                return std::all_of(completed_epoch_.begin(), completed_epoch_.end(),
                                   [epoch](const std::atomic<std::uint64_t>& e) { return e.load() >= epoch; });
            },
            timeout);
    }

    std::uint64_t calls() const { return calls_.load(); }
    std::uint64_t creations() const { return creations_.load(); }
    std::uint64_t wrong() const { return wrong_.load(); }
    // Calls that threw a dogpile::BackendError (BackendErrorPolicy::raise).
    std::uint64_t backend_exceptions() const { return backend_exceptions_.load(); }
    // Calls that threw anything else.
    std::uint64_t unexpected_exceptions() const { return unexpected_.load(); }
    Clock::duration longest_call() const { return std::chrono::microseconds(longest_us_.load()); }
    std::string first_problem() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return first_problem_.empty() ? std::string("none") : first_problem_;
    }

private:
    void run(std::size_t t) {
        std::size_t i = t;  // threads start on different keys
        while (!stop_.load()) {
            {
                std::unique_lock<std::mutex> lock(gate_mutex_);
                if (paused_) {
                    parked_.fetch_add(1);
                    gate_.wait(lock, [&] { return !paused_ || stop_.load(); });
                    parked_.fetch_sub(1);
                }
            }
            const std::uint64_t epoch = epoch_.load();
            const Key& key = keys_[i++ % keys_.size()];
            const std::string want = value_of_(key);
            const auto started = Clock::now();
            try {
                const std::string got = region_.get_or_create(key, [&] {
                    creations_.fetch_add(1);
                    return want;
                });
                if (got != want) note(wrong_, "expected '" + want + "', got '" + got + "'");
            } catch (const dogpile::BackendError&) {
                backend_exceptions_.fetch_add(1);
            } catch (const std::exception& e) {
                note(unexpected_, std::string("unexpected exception: ") + e.what());
            }
            const auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
            std::int64_t longest = longest_us_.load();
            while (took > longest && !longest_us_.compare_exchange_weak(longest, took)) {
            }
            calls_.fetch_add(1);
            completed_epoch_[t].store(epoch);
        }
    }

    void note(std::atomic<std::uint64_t>& counter, const std::string& what) {
        if (counter.fetch_add(1) != 0) return;
        std::lock_guard<std::mutex> lock(mutex_);
        if (first_problem_.empty()) first_problem_ = what;
    }

    RegionT& region_;
    const std::vector<Key> keys_;
    const ValueOf value_of_;
    std::atomic<bool> stop_{false};
    std::mutex gate_mutex_;
    std::condition_variable gate_;
    bool paused_ = false;
    std::atomic<std::size_t> parked_{0};
    std::atomic<std::uint64_t> epoch_{0};
    std::vector<std::atomic<std::uint64_t>> completed_epoch_;
    std::atomic<std::uint64_t> calls_{0}, creations_{0}, wrong_{0}, backend_exceptions_{0}, unexpected_{0};
    std::atomic<std::int64_t> longest_us_{0};
    mutable std::mutex mutex_;
    std::string first_problem_;
    std::vector<std::thread> workers_;
};

// --- the two stores ------------------------------------------------------------------------

std::string value_text(const std::string& key_text) { return "value-of:" + key_text; }

// The hash store (docs/architecture.md): 2 hashes of 4 fields, raw payloads.
struct HashStore {
    using Key = HashKey;
    using Backend = dogpile::RedisHashBackend<std::string>;
    static constexpr const char* name = "hash store";

    static std::vector<Key> keys() {
        std::vector<Key> out;
        for (int a = 1; a <= 2; ++a) {
            for (int b = 1; b <= 4; ++b) out.push_back(HashKey{"calculated-a|" + std::to_string(a), std::to_string(b)});
        }
        return out;
    }
    static std::string value_of(const Key& key) { return value_text(key.hash + "/" + key.field); }

    static std::shared_ptr<Backend> backend(std::shared_ptr<dogpile::redis::Client> client) {
        dogpile::RedisHashBackendOptions o;
        o.client = std::move(client);
        o.ttl = std::chrono::hours(1);
        o.distributed_lock = lock_options();
        return std::make_shared<Backend>(o);
    }

    // What Redis holds for `key`, read and decoded without the backend.
    static std::optional<std::string> stored(const RedisServer& server, const Key& key) {
        const RawReply r = server.raw({"HGET", key.hash, key.field});
        if (r.type != REDIS_REPLY_STRING) return std::nullopt;
        return dogpile::codec::MsgpackCodec<std::string>{}.decode(r.str);
    }
};

// One Redis string per key, the envelope in front of the payload.
struct StringStore {
    using Key = std::string;
    using Backend = dogpile::RedisBackend<std::string>;
    static constexpr const char* name = "RedisBackend";
    static constexpr const char* prefix = "faults:";

    static std::vector<Key> keys() {
        std::vector<Key> out;
        for (int k = 1; k <= 8; ++k) out.push_back("k" + std::to_string(k));
        return out;
    }
    static std::string value_of(const Key& key) { return value_text(key); }

    static std::shared_ptr<Backend> backend(std::shared_ptr<dogpile::redis::Client> client) {
        dogpile::RedisBackendOptions o;
        o.client = std::move(client);
        o.key_prefix = prefix;
        o.distributed_lock = lock_options();
        return std::make_shared<Backend>(o);
    }

    static std::optional<std::string> stored(const RedisServer& server, const Key& key) {
        const RawReply r = server.raw({"GET", std::string(prefix) + key});
        if (r.type != REDIS_REPLY_STRING) return std::nullopt;
        const auto unwrapped = dogpile::codec::envelope::unwrap(r.str);
        return dogpile::codec::MsgpackCodec<std::string>{}.decode(unwrapped.payload);
    }
};

// --- the fault scenarios ----------------------------------------------------------------------

enum class Fault { not_running_at_start, killed_and_restarted, paused_past_command_timeout };
enum class StoreKind { hash, string };

struct FaultCase {
    const char* name;
    Fault fault;
    StoreKind store;
    BackendErrorPolicy policy;
};

void PrintTo(const FaultCase& c, std::ostream* out) { *out << c.name; }

// One caller, no contention: every key is served from Redis (a hit), with no
// creation and no backend error. Returns what went wrong, or "".
template <class RegionT, class Key>
std::string clean_pass(RegionT& region, const std::vector<Key>& keys, std::string (*value_of)(const Key&)) {
    const auto before = region.stats();
    int created = 0;
    for (const Key& key : keys) {
        const std::string want = value_of(key);
        std::string got;
        try {
            got = region.get_or_create(key, [&] {
                ++created;
                return want;
            });
        } catch (const std::exception& e) {
            return std::string("a call threw: ") + e.what();
        }
        if (got != want) return "expected '" + want + "', got '" + got + "'";
    }
    const auto after = region.stats();
    if (after.backend_errors != before.backend_errors) {
        return std::to_string(after.backend_errors - before.backend_errors) + " backend error(s)";
    }
    if (created != 0) return std::to_string(created) + " value(s) recomputed although Redis holds them";
    if (after.hits - before.hits != keys.size()) return "not every key was a hit";
    return {};
}

template <class Store>
void run_fault_case(const FaultCase& c) {
    using Key = typename Store::Key;
    using RegionT = Region<std::string, Key>;

    RedisServer server;
    // "Not running at start": the port is known (the region is configured
    // with it) but nothing listens until the test starts the server.
    if (c.fault == Fault::not_running_at_start) server.kill();

    ErrorLog errors;
    auto backend = Store::backend(dogpile::redis::make_client(pool_options(server)));
    RegionOptions options;
    options.lock_timeout = region_lock_timeout;
    options.on_lock_timeout = LockTimeoutPolicy::create_value;
    options.on_backend_error = c.policy;
    options.error_hook = errors.hook();
    RegionT region(backend, options);

    const std::vector<Key> keys = Store::keys();
    auto all_stored = [&] {
        return std::all_of(keys.begin(), keys.end(),
                           [&](const Key& k) { return Store::stored(server, k) == Store::value_of(k); });
    };

    Load<RegionT> load(region, keys, &Store::value_of, threads);

    // Served from Redis without errors, as one caller sees it with the load
    // parked: 16 threads on a pool of 4 with a 200 ms acquire timeout may
    // time out on a loaded machine, which says nothing about the region. A
    // pass that a scheduling hiccup spoiled is repeated; a region that does
    // not serve from Redis fails every pass.
    std::string last_pass;
    auto serves_from_redis = [&] {
        if (!load.pause(phase_deadline)) return false;
        last_pass = clean_pass(region, keys, &Store::value_of);
        load.resume();
        return last_pass.empty();
    };

    if (c.fault != Fault::not_running_at_start) {
        // Healthy first: everything stored, served from Redis, no errors.
        ASSERT_TRUE(wait_for_condition(all_stored, phase_deadline)) << "values never reached Redis";
        ASSERT_TRUE(wait_for_condition([&] { return region.stats().hits >= 1000; }, phase_deadline));
        ASSERT_TRUE(wait_for_condition(serves_from_redis, phase_deadline)) << last_pass << errors.samples();
    }

    // The fault.
    const auto fault_started = Clock::now();
    if (c.fault == Fault::killed_and_restarted) server.kill();
    if (c.fault == Fault::paused_past_command_timeout) server.pause();

    // Under it: errors are counted and reported with the fault's own kind, and
    // every thread still gets through whole calls that started under it.
    auto fault_seen = [&] {
        if (c.fault == Fault::paused_past_command_timeout) return errors.timeouts() > 0;
        return errors.io_errors() > 0;
    };
    ASSERT_TRUE(wait_for_condition([&] { return region.stats().backend_errors > 0 && fault_seen(); }, phase_deadline))
        << "no backend error reported under the fault; seen:" << errors.samples();
    const auto calls_before = load.calls();
    ASSERT_TRUE(load.every_thread_completes_a_new_call(phase_deadline)) << "a caller is stuck under the fault";
    ASSERT_TRUE(wait_for_condition([&] { return load.calls() >= calls_before + threads; }, phase_deadline));
    const auto fault_lasted = Clock::now() - fault_started;
    const auto errors_under_fault = region.stats().backend_errors;
    if (c.fault == Fault::paused_past_command_timeout) {
        EXPECT_GT(fault_lasted, command_timeout) << "the pause must outlast the command timeout";
    }

    // Back.
    if (c.fault == Fault::paused_past_command_timeout) {
        server.resume();
    } else {
        server.start();
    }
    // A restarted server is empty; a resumed one still holds the old values,
    // so they are dropped to see the region store them again.
    ASSERT_FALSE(server.raw({"FLUSHALL"}).is_error());
    ASSERT_TRUE(wait_for_condition(all_stored, phase_deadline))
        << "the region never stored in Redis again; errors:" << errors.samples();
    // Once every thread has run a whole call after that, Redis serves them:
    // hits only, no creations, no new errors.
    ASSERT_TRUE(load.every_thread_completes_a_new_call(phase_deadline));
    const auto healed = region.stats();
    ASSERT_TRUE(wait_for_condition([&] { return region.stats().hits >= healed.hits + 500; }, phase_deadline))
        << "not served from Redis after the recovery";
    ASSERT_TRUE(wait_for_condition(serves_from_redis, phase_deadline))
        << "after the recovery: " << last_pass << errors.samples();
    load.stop();
    const auto end = region.stats();

    // Over the whole run.
    EXPECT_EQ(load.wrong(), 0u) << load.first_problem();
    EXPECT_EQ(load.unexpected_exceptions(), 0u) << load.first_problem();
    EXPECT_GT(end.backend_errors, 0u);
    EXPECT_GE(end.backend_errors, errors_under_fault);
    EXPECT_EQ(errors.total(), end.backend_errors) << "every counted error is reported through the hook";
    EXPECT_EQ(errors.foreign(), 0u) << "only Redis errors expected:" << errors.samples();
    EXPECT_EQ(errors.without_message(), 0u);
    if (c.policy == BackendErrorPolicy::degrade) {
        EXPECT_EQ(load.backend_exceptions(), 0u) << "degrading: every caller gets the creator's value";
    } else {
        EXPECT_GT(load.backend_exceptions(), 0u) << "raise: callers see the backend errors";
    }
    EXPECT_LE(load.longest_call(), allowed_call_duration)
        << "a call blocked longer than the configured timeouts allow (bound " << ms(call_bound) << " ms)";

    std::cout << "[ fault    ] " << c.name << " (" << Store::name << "): longest call " << ms(load.longest_call())
              << " ms (bound " << ms(call_bound) << " ms, allowed " << ms(allowed_call_duration) << " ms); "
              << load.calls() << " calls; fault lasted " << ms(fault_lasted) << " ms; backend errors "
              << end.backend_errors << " (io " << errors.io_errors() << ", timeouts " << errors.timeouts()
              << ", pool timeouts " << errors.pool_timeouts() << ", replies " << errors.reply_errors()
              << "); exceptions to callers " << load.backend_exceptions() << std::endl;
    ::testing::Test::RecordProperty("longest_call_ms", std::to_string(ms(load.longest_call())));
}

class RedisFault : public ::testing::TestWithParam<FaultCase> {};

TEST_P(RedisFault, CallersGetTheirValuesWithinTheTimeoutsAndTheRegionHeals) {
    const FaultCase& c = GetParam();
    if (c.store == StoreKind::hash) {
        run_fault_case<HashStore>(c);
    } else {
        run_fault_case<StringStore>(c);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Faults, RedisFault,
    ::testing::Values(
        FaultCase{"HashNotRunningAtStart", Fault::not_running_at_start, StoreKind::hash, BackendErrorPolicy::degrade},
        FaultCase{"HashKilledAndRestarted", Fault::killed_and_restarted, StoreKind::hash, BackendErrorPolicy::degrade},
        FaultCase{"HashPaused", Fault::paused_past_command_timeout, StoreKind::hash, BackendErrorPolicy::degrade},
        FaultCase{"HashNotRunningAtStartRaise", Fault::not_running_at_start, StoreKind::hash,
                  BackendErrorPolicy::raise},
        FaultCase{"HashKilledAndRestartedRaise", Fault::killed_and_restarted, StoreKind::hash,
                  BackendErrorPolicy::raise},
        FaultCase{"HashPausedRaise", Fault::paused_past_command_timeout, StoreKind::hash, BackendErrorPolicy::raise},
        FaultCase{"StringKilledAndRestarted", Fault::killed_and_restarted, StoreKind::string,
                  BackendErrorPolicy::degrade},
        FaultCase{"StringPaused", Fault::paused_past_command_timeout, StoreKind::string, BackendErrorPolicy::degrade}),
    [](const ::testing::TestParamInfo<FaultCase>& info) { return std::string(info.param.name); });

// --- creators that fail while holding the distributed lock --------------------------------------

// Keys unique to the running test (ctest runs each test in its own process
// with its own server, but a --gtest_filter run shares one).
std::string test_prefix() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->test_suite_name()) + "." + info->name() + ":";
}

RedisServer& shared_server() { return RedisServer::shared(); }

RawReply raw(const std::vector<std::string>& argv) {
    RawReply r = shared_server().raw(argv);
    EXPECT_FALSE(r.is_error()) << argv.front() << ": " << r.str;
    return r;
}

bool exists(const std::string& key) { return raw({"EXISTS", key}).integer == 1; }

std::optional<std::string> raw_get(const std::string& key) {
    const RawReply r = raw({"GET", key});
    if (r.is_nil()) return std::nullopt;
    return r.str;
}

std::optional<std::string> stored_string(const HashKey& key) { return HashStore::stored(shared_server(), key); }

long long command_calls(const std::string& command) {
    const std::string info = raw({"INFO", "commandstats"}).str;
    const std::string tag = "cmdstat_" + command + ":calls=";
    const auto at = info.find(tag);
    return at == std::string::npos ? 0 : std::stoll(info.substr(at + tag.size()));
}

using StringHashBackend = dogpile::RedisHashBackend<std::string>;
using StringHashRegion = Region<std::string, HashKey>;

// One "process": its own client, backend and region (its own in-process lock
// registry), sharing only Redis with the others.
struct Process {
    std::shared_ptr<StringHashBackend> backend;
    StringHashRegion region;

    Process(const std::string& lock_prefix, std::chrono::milliseconds lock_ttl, RegionOptions options,
            dogpile::redis::BackendLimits limits = {})
        : backend(make_backend(lock_prefix, lock_ttl, limits)), region(backend, std::move(options)) {}

    static std::shared_ptr<StringHashBackend> make_backend(const std::string& lock_prefix,
                                                           std::chrono::milliseconds lock_ttl,
                                                           dogpile::redis::BackendLimits limits) {
        dogpile::RedisHashBackendOptions o;
        o.client = dogpile::redis::make_client(shared_server().url());
        o.ttl = std::chrono::hours(1);
        o.distributed_lock = lock_options(lock_prefix, lock_ttl);
        o.limits = limits;
        return std::make_shared<StringHashBackend>(o);
    }

    std::string lock_key(const HashKey& key) const {
        return backend->options().distributed_lock->prefix + StringHashBackend::lock_resource(key);
    }
};

RegionOptions waiting_options(std::chrono::milliseconds lock_timeout = 30s) {
    RegionOptions o;
    o.lock_timeout = lock_timeout;
    return o;
}

TEST(CreatorFault, ThrowingCreatorReleasesTheRedisLockStoresNothingAndAnotherProcessCreates) {
    const std::string ns = test_prefix();
    const HashKey key{"calculated-a|" + ns + "7", "42"};
    Process first(ns + "lock|", 30s, waiting_options());
    Process second(ns + "lock|", 30s, waiting_options());
    const std::string lock_key = first.lock_key(key);

    Latch entered(1);
    Latch fail(1);
    std::optional<std::string> error_seen;
    bool held_in_redis = false;
    std::thread failing([&] {
        try {
            first.region.get_or_create(key, [&]() -> std::string {
                held_in_redis = exists(lock_key);
                entered.count_down();
                fail.wait();
                throw std::runtime_error("creator failed");
            });
        } catch (const std::runtime_error& e) {
            error_seen = e.what();
        }
    });
    ASSERT_TRUE(entered.wait_for(30s));

    // The other process finds the lock taken and polls for it.
    const long long sets_before = command_calls("set");
    std::optional<std::string> stored_when_second_created = std::string("not called");
    std::string second_got;
    std::thread waiting([&] {
        second_got = second.region.get_or_create(key, [&] {
            stored_when_second_created = stored_string(key);
            return std::string("from-second");
        });
    });
    const bool polling = wait_for_condition([&] { return command_calls("set") >= sets_before + 3; }, 30s);
    fail.count_down();
    failing.join();
    waiting.join();
    ASSERT_TRUE(polling) << "the second process never polled the Redis lock";

    EXPECT_TRUE(held_in_redis) << "the creator ran without the distributed lock";
    EXPECT_EQ(error_seen, std::optional<std::string>("creator failed")) << "the creator's error reaches its caller";
    EXPECT_EQ(stored_when_second_created, std::nullopt) << "the failed creation stored something";
    EXPECT_EQ(second_got, "from-second");
    EXPECT_EQ(stored_string(key), std::optional<std::string>("from-second"));
    EXPECT_FALSE(exists(lock_key));
    EXPECT_EQ(first.region.lock_registry_size(), 0u);
    EXPECT_EQ(first.region.stats().backend_errors, 0u);
    EXPECT_EQ(second.region.stats().lock_waits, 1u);
    EXPECT_EQ(second.region.stats().creations, 1u);

    // The same for a multi creation: every key's Redis lock goes, nothing is stored.
    const std::vector<HashKey> keys{{key.hash, "1"}, {key.hash, "2"}, {"calculated-a|" + ns + "8", "1"}};
    std::vector<bool> all_held;
    EXPECT_THROW(first.region.get_or_create_multi(keys,
                                                  [&](const std::vector<HashKey>& missing) -> std::vector<std::string> {
                                                      for (const auto& k : missing) {
                                                          all_held.push_back(exists(first.lock_key(k)));
                                                      }
                                                      throw std::runtime_error("multi creator failed");
                                                  }),
                 std::runtime_error);
    EXPECT_EQ(all_held, std::vector<bool>(3, true));
    for (const auto& k : keys) {
        EXPECT_FALSE(exists(first.lock_key(k))) << k;
        EXPECT_EQ(stored_string(k), std::nullopt) << k;
    }
    EXPECT_EQ(first.region.lock_registry_size(), 0u);
}

// A creator that outlives the lock's TTL has lost the lock: another process
// may create meanwhile, and the late holder's release must not delete the
// lock its successor now holds. Both values are complete values for the key
// (the late one is stored too: there is no fencing, the lock only keeps
// creators from piling up); nothing torn is ever in Redis.
TEST(CreatorFault, CreatorHangingPastTheLockTtlLosesTheLockWithoutBreakingTheNextHolder) {
    const std::string ns = test_prefix();
    const HashKey key{"calculated-a|" + ns + "7", "42"};
    constexpr auto ttl = 300ms;
    RegionOptions impatient = waiting_options(200ms);
    impatient.on_lock_timeout = LockTimeoutPolicy::raise;
    Process first(ns + "lock|", ttl, impatient);
    Process second(ns + "lock|", ttl, waiting_options());
    const std::string lock_key = first.lock_key(key);

    Latch first_entered(1), first_go(1);
    std::string first_got;
    std::thread hanging([&] {
        first_got = first.region.get_or_create(key, [&] {
            first_entered.count_down();
            first_go.wait();
            return std::string("from-first");
        });
    });
    ASSERT_TRUE(first_entered.wait_for(30s));
    const std::optional<std::string> first_token = raw_get(lock_key);
    ASSERT_TRUE(first_token.has_value());

    // A caller in the same process gives up after its lock_timeout: the error reaches it.
    EXPECT_THROW(first.region.get_or_create(key, [] { return std::string("never"); }), dogpile::LockTimeout);
    EXPECT_EQ(first.region.stats().lock_timeouts, 1u);

    // The TTL frees the hung holder's lock in Redis; another process takes it.
    ASSERT_TRUE(wait_for_condition([&] { return !exists(lock_key); }, 30s)) << "the lock never expired";
    Latch second_entered(1), second_go(1);
    std::optional<std::string> second_token;
    std::optional<std::string> stored_before_second = std::string("not called");
    std::string second_got;
    std::thread next([&] {
        second_got = second.region.get_or_create(key, [&] {
            second_token = raw_get(lock_key);
            stored_before_second = stored_string(key);
            second_entered.count_down();
            second_go.wait();
            return std::string("from-second");
        });
    });
    ASSERT_TRUE(second_entered.wait_for(30s));
    ASSERT_TRUE(second_token.has_value());
    EXPECT_NE(second_token, first_token);
    EXPECT_EQ(stored_before_second, std::nullopt) << "the hung creation stored something";

    // The hung creator finishes: its caller gets its value; its late release
    // leaves the second holder's lock alone.
    first_go.count_down();
    hanging.join();
    EXPECT_EQ(first_got, "from-first");
    EXPECT_EQ(raw_get(lock_key), second_token) << "a late release deleted another holder's lock";
    EXPECT_EQ(stored_string(key), std::optional<std::string>("from-first"));

    second_go.count_down();
    next.join();
    EXPECT_EQ(second_got, "from-second");
    EXPECT_EQ(stored_string(key), std::optional<std::string>("from-second"));
    EXPECT_FALSE(exists(lock_key));
    EXPECT_EQ(first.region.lock_registry_size(), 0u);
    EXPECT_EQ(second.region.lock_registry_size(), 0u);
}

// The server stops answering while the creator runs: storing the value and
// releasing the lock both time out. The caller still gets its value; both
// failures are counted and reported (the release too, although it is never
// rethrown: it happens while the lock is dropped, possibly during unwinding);
// the lock then expires by itself and the next caller stores normally.
TEST(CreatorFault, StoreAndLockReleaseFailingUnderAPausedServerAreCountedAndReported) {
    RedisServer server;
    auto backend = HashStore::backend(dogpile::redis::make_client(pool_options(server)));
    std::vector<std::string> operations;
    RegionOptions options = waiting_options(region_lock_timeout);
    options.error_hook = [&](const BackendErrorEvent& e) { operations.emplace_back(e.operation); };
    StringHashRegion region(backend, options);
    const HashKey key = HashStore::keys().front();
    const std::string lock_key = "dogpile-lock|" + StringHashBackend::lock_resource(key);

    bool held = false;
    EXPECT_EQ(region.get_or_create(key,
                                   [&] {
                                       held = server.raw({"EXISTS", lock_key}).integer == 1;
                                       server.pause();
                                       return HashStore::value_of(key);
                                   }),
              HashStore::value_of(key));
    EXPECT_TRUE(held);
    EXPECT_EQ(operations, (std::vector<std::string>{"set", "unlock"}));
    EXPECT_EQ(region.stats().backend_errors, 2u);
    EXPECT_EQ(region.lock_registry_size(), 0u);

    server.resume();
    ASSERT_TRUE(wait_for_condition(
        [&] {
            return server.raw({"EXISTS", lock_key}).integer == 0;
        },
        30s))
        << "the orphaned lock never expired";
    ASSERT_FALSE(server.raw({"FLUSHALL"}).is_error());
    EXPECT_EQ(region.get_or_create(key, [&] { return HashStore::value_of(key); }), HashStore::value_of(key));
    EXPECT_EQ(HashStore::stored(server, key), HashStore::value_of(key));
    EXPECT_EQ(region.stats().backend_errors, 2u) << "healed";
}

using dogpile::codec::Flags;
using dogpile::codec::FlagsCodec;
using dogpile::codec::KeyTemplate;
using FlagsBackend = dogpile::RedisHashBackend<Flags, FlagsCodec>;

// A Flags value whose keys differ from the codec's template cannot be
// encoded; a value over max_payload_bytes is over a limit. Either is the
// caller's problem, not the store's: it reaches the caller whatever the error
// policy, after the lock is released and with nothing stored.
class UnencodableValue : public ::testing::TestWithParam<BackendErrorPolicy> {};

TEST_P(UnencodableValue, ReachesTheCallerReleasesTheLockAndStoresNothing) {
    const std::string ns = test_prefix();
    const std::string lock_prefix = ns + "lock|";
    dogpile::RedisHashBackendOptions o;
    o.client = dogpile::redis::make_client(shared_server().url());
    o.ttl = std::chrono::hours(1);
    o.distributed_lock = lock_options(lock_prefix, 30s);
    const Flags good{{"read", true}, {"write", false}};
    auto backend = std::make_shared<FlagsBackend>(o, FlagsCodec{KeyTemplate::of(good)});
    std::vector<std::string> reported;
    RegionOptions options = waiting_options();
    options.on_backend_error = GetParam();
    options.error_hook = [&](const BackendErrorEvent& e) {
        reported.push_back(std::string(e.operation) + ": " + std::string(e.message));
    };
    Region<Flags, HashKey> region(backend, options);
    const HashKey key{"calculated-a|" + ns + "7", "42"};
    const std::string lock_key = lock_prefix + FlagsBackend::lock_resource(key);

    bool held = false;
    const Flags mismatched{{"read", true}, {"delete", true}};
    EXPECT_THROW(region.get_or_create(key,
                                      [&] {
                                          held = exists(lock_key);
                                          return mismatched;
                                      }),
                 dogpile::EncodeError);
    EXPECT_TRUE(held);
    EXPECT_FALSE(exists(lock_key));
    EXPECT_FALSE(exists(key.hash)) << "nothing may be stored";
    EXPECT_EQ(region.lock_registry_size(), 0u);
    EXPECT_EQ(region.stats().backend_errors, 1u);
    ASSERT_EQ(reported.size(), 1u);
    EXPECT_EQ(reported[0].rfind("set: ", 0), 0u) << reported[0];

    // One bad value among several: the whole multi write is refused, every lock released.
    const std::vector<HashKey> keys{{key.hash, "1"}, {key.hash, "2"}, {"calculated-a|" + ns + "8", "1"}};
    EXPECT_THROW(region.get_or_create_multi(keys,
                                            [&](const std::vector<HashKey>& missing) {
                                                std::vector<Flags> values(missing.size(), good);
                                                values[1] = mismatched;
                                                return values;
                                            }),
                 dogpile::EncodeError);
    for (const auto& k : keys) {
        EXPECT_FALSE(exists(lock_prefix + FlagsBackend::lock_resource(k))) << k;
        EXPECT_FALSE(exists(k.hash)) << k;
    }
    EXPECT_EQ(region.lock_registry_size(), 0u);

    // A good value afterwards is stored and served.
    EXPECT_EQ(region.get_or_create(key, [&] { return good; }), good);
    EXPECT_EQ(raw({"HGET", key.hash, key.field}).str, FlagsCodec{KeyTemplate::of(good)}.encode(good));
    EXPECT_EQ(region.get_or_create(key, [&] { return mismatched; }), good);

    // Over the payload limit: LimitExceeded, the same way.
    dogpile::redis::BackendLimits limits;
    limits.max_payload_bytes = 64;
    RegionOptions limited_options = waiting_options();
    limited_options.on_backend_error = GetParam();
    Process limited(lock_prefix, 30s, limited_options, limits);
    const HashKey big{"calculated-a|" + ns + "9", "1"};
    EXPECT_THROW(limited.region.get_or_create(big, [] { return std::string(200, 'x'); }), dogpile::LimitExceeded);
    EXPECT_FALSE(exists(limited.lock_key(big)));
    EXPECT_FALSE(exists(big.hash));
    EXPECT_EQ(limited.region.stats().backend_errors, 1u);
    EXPECT_EQ(limited.region.get_or_create(big, [] { return std::string("small"); }), "small");
    EXPECT_EQ(stored_string(big), std::optional<std::string>("small"));
}

INSTANTIATE_TEST_SUITE_P(Policies, UnencodableValue,
                         ::testing::Values(BackendErrorPolicy::degrade, BackendErrorPolicy::raise),
                         [](const ::testing::TestParamInfo<BackendErrorPolicy>& info) {
                             return std::string(info.param == BackendErrorPolicy::degrade ? "Degrade" : "Raise");
                         });

}  // namespace
