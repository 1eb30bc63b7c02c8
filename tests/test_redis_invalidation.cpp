// RedisInvalidationStrategy against a real redis-server: options checked,
// stored times that never move backwards (nanosecond decimals compared by
// value, not text), a region picking up a time another writer stored, four
// processes (tests/programs/invalidation_worker) that all see one process's
// hard / soft invalidation, and an outage or a corrupt stored time that never
// throws from get and keeps the last times.

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <dogpile/backends/memory.hpp>
#include <dogpile/details/random.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "support/child_process.hpp"
#include "support/redis_server.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::ConfigurationError;
using dogpile::Invalidation;
using dogpile::RedisInvalidationOptions;
using dogpile::TimePoint;
using dogpile::redis::RedisInvalidationStrategy;
using dogpile::test::ChildProcess;
using dogpile::test::describe_wait_status;
using dogpile::test::RawReply;
using dogpile::test::RedisServer;
using dogpile::test::wait_for_condition;

using StringRegion = dogpile::Region<std::string>;

RedisServer& server() { return RedisServer::shared(); }

// Keys of one test never meet another test's (or an earlier run's) keys.
std::string unique_ns(const std::string& what) {
    return "inval-test:" + what + ":" + dogpile::details::random_hex(6) + ":";
}

std::optional<std::string> raw_hget(const RedisServer& s, const std::string& key, const std::string& field) {
    const RawReply r = s.raw({"HGET", key, field});
    if (r.is_nil()) return std::nullopt;
    return r.str;
}

std::string nanoseconds_of(TimePoint t) {
    return std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

RedisInvalidationOptions invalidation_options(const std::string& url, const std::string& name,
                                              std::chrono::milliseconds refresh) {
    RedisInvalidationOptions o;
    o.client = dogpile::redis::make_client(url);
    o.region_name = name;
    o.refresh_interval = refresh;
    return o;
}

// Records what the region reports, from any thread.
struct Reports {
    std::mutex mutex;
    std::vector<std::string> lines;
    std::function<void(const dogpile::BackendErrorEvent&)> hook() {
        return [this](const dogpile::BackendErrorEvent& e) {
            std::lock_guard<std::mutex> guard(mutex);
            lines.push_back(std::string(e.operation) + ": " + std::string(e.message));
        };
    }
    std::vector<std::string> copy() {
        std::lock_guard<std::mutex> guard(mutex);
        return lines;
    }
};

TEST(RedisInvalidationOptions, BadOptionsAreRejected) {
    const auto valid = invalidation_options(server().url(), "r", 1000ms);
    EXPECT_NO_THROW(RedisInvalidationStrategy{valid});

    auto no_client = valid;
    no_client.client = nullptr;
    EXPECT_THROW(RedisInvalidationStrategy{no_client}, ConfigurationError);
    auto no_name = valid;
    no_name.region_name.clear();
    EXPECT_THROW(RedisInvalidationStrategy{no_name}, ConfigurationError);
    auto empty_key = valid;
    empty_key.key = "";
    EXPECT_THROW(RedisInvalidationStrategy{empty_key}, ConfigurationError);
    auto no_refresh = valid;
    no_refresh.refresh_interval = 0ms;
    EXPECT_THROW(RedisInvalidationStrategy{no_refresh}, ConfigurationError);

    EXPECT_EQ(RedisInvalidationStrategy(valid).key(), "dogpile:invalidation:r");
    auto own_key = no_name;
    own_key.key = "myapp:times";
    EXPECT_EQ(RedisInvalidationStrategy(own_key).key(), "myapp:times");
    EXPECT_EQ(RedisInvalidationStrategy(valid).refresh_interval(), 1000ms);
}

TEST(RedisInvalidationStrategy, StoredTimesNeverMoveBackwards) {
    RedisInvalidationStrategy strategy(invalidation_options(server().url(), unique_ns("max"), 1000ms));
    // 10 digits then 9: as text, "999999999" sorts after "1000000000".
    const TimePoint ten_digits{std::chrono::nanoseconds(1'000'000'000)};
    const TimePoint nine_digits{std::chrono::nanoseconds(999'999'999)};
    strategy.invalidate(Invalidation::hard, ten_digits);
    EXPECT_EQ(raw_hget(server(), strategy.key(), "hard"), "1000000000");
    strategy.invalidate(Invalidation::hard, nine_digits);
    EXPECT_EQ(raw_hget(server(), strategy.key(), "hard"), "1000000000");
    EXPECT_EQ(raw_hget(server(), strategy.key(), "soft"), std::nullopt);

    const TimePoint now = dogpile::precise_now();
    strategy.invalidate(Invalidation::soft, now);
    strategy.invalidate(Invalidation::soft, now - 1ns);
    EXPECT_EQ(raw_hget(server(), strategy.key(), "soft"), nanoseconds_of(now));
    strategy.invalidate(Invalidation::hard, now);
    EXPECT_EQ(raw_hget(server(), strategy.key(), "hard"), nanoseconds_of(now));
}

TEST(RedisInvalidationStrategy, ARegionPicksUpATimeAnotherWriterStored) {
    const std::string ns = unique_ns("pickup");
    auto strategy = std::make_shared<RedisInvalidationStrategy>(invalidation_options(server().url(), ns, 1ms));
    dogpile::RegionOptions options;
    options.invalidation = strategy;
    StringRegion region(std::make_shared<dogpile::MemoryBackend<std::string>>(), options);
    region.set("k", "v");
    EXPECT_EQ(region.get("k"), "v");
    // Another process's invalidation, one nanosecond from now.
    const TimePoint later = dogpile::precise_now() + 1ns;
    ASSERT_FALSE(server().raw({"HSET", strategy->key(), "soft", nanoseconds_of(later)}).is_error());
    ASSERT_TRUE(wait_for_condition([&] { return !region.get("k").has_value(); }, 30s));
    EXPECT_EQ(region.invalidation().times().soft, later);
    EXPECT_FALSE(region.invalidation().times().was_hard_invalidated());
    EXPECT_EQ(region.stats().backend_errors, 0u);
}

// ------------------------------------------------------------ four processes

void four_processes_observe(const std::string& kind, const std::string& expected) {
    constexpr int workers = 4;
    const std::string ns = unique_ns("procs-" + kind);
    {
        auto client = dogpile::redis::make_client(server().url());
        StringRegion writer(
            std::make_shared<dogpile::RedisBackend<std::string>>(dogpile::RedisBackendOptions{client, ns}));
        writer.set("value", "before");
    }
    std::vector<std::unique_ptr<ChildProcess>> children;
    for (int i = 0; i < workers; ++i) {
        children.push_back(std::make_unique<ChildProcess>(
            std::vector<std::string>{DOGPILE_INVALIDATION_WORKER, "observe", "--url", server().url(), "--ns", ns,
                                     "--index", std::to_string(i), "--workers", std::to_string(workers), "--kind", kind,
                                     "--refresh-ms", "20", "--parent", std::to_string(::getpid())}));
    }
    for (int i = 0; i < workers; ++i) {
        const auto status = children[static_cast<std::size_t>(i)]->wait(120s);
        ASSERT_TRUE(status.has_value()) << "worker " << i << " did not finish within 120 s";
        EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
            << "worker " << i << " " << describe_wait_status(*status);
    }
    const RawReply observed = server().raw({"LRANGE", ns + "observed", "0", "-1"});
    std::vector<std::string> got;
    for (const auto& e : observed.elements) got.push_back(e.str);
    std::sort(got.begin(), got.end());
    std::vector<std::string> want;
    for (int i = 0; i < workers; ++i) want.push_back(std::to_string(i) + ":" + expected);
    EXPECT_EQ(got, want);
    EXPECT_TRUE(raw_hget(server(), "dogpile:invalidation:" + ns, kind).has_value());
}

TEST(RedisInvalidationProcesses, HardInvalidationInOneIsAMissInAllFour) { four_processes_observe("hard", "miss"); }

TEST(RedisInvalidationProcesses, SoftInvalidationInOneIsStaleInAllFour) { four_processes_observe("soft", "stale"); }

// ------------------------------------------------------------ failures

TEST(RedisInvalidationFaults, AnOutageNeverThrowsFromGetAndKeepsTheLastTimes) {
    RedisServer own;
    const std::string ns = unique_ns("outage");
    auto invalidation = invalidation_options(own.url(), ns, 1ms);
    dogpile::redis::PoolOptions pool;
    pool.connection = own.options();
    pool.connection.connect_timeout = 200ms;
    pool.connection.command_timeout = 200ms;
    invalidation.client = dogpile::redis::make_client(pool);
    auto strategy = std::make_shared<RedisInvalidationStrategy>(invalidation);
    Reports reports;
    dogpile::RegionOptions options;
    options.invalidation = strategy;
    options.error_hook = reports.hook();
    options.on_backend_error = dogpile::BackendErrorPolicy::raise;  // even so: not from get
    StringRegion region(std::make_shared<dogpile::MemoryBackend<std::string>>(), options);

    region.set("old", "v");
    region.invalidate(Invalidation::hard);
    const auto invalidated_at = region.invalidation().times().hard;
    ASSERT_TRUE(invalidated_at.has_value());
    region.set("new", "v");
    EXPECT_EQ(region.get("new"), "v");
    EXPECT_EQ(region.stats().backend_errors, 0u);

    own.stop();
    ASSERT_TRUE(wait_for_condition(
        [&] {
            EXPECT_NO_THROW(EXPECT_EQ(region.get("old"), std::nullopt));
            EXPECT_NO_THROW(EXPECT_EQ(region.get("new"), "v"));
            return region.stats().backend_errors >= 2;
        },
        30s));
    EXPECT_EQ(region.invalidation().times().hard, invalidated_at);
    const auto lines = reports.copy();
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines.front().rfind("invalidation_load: ", 0), 0u) << lines.front();

    // invalidate() does throw: the other processes did not get it. It still
    // takes effect here.
    EXPECT_ANY_THROW(region.invalidate(Invalidation::hard));
    EXPECT_EQ(region.get("new"), std::nullopt);

    // Back up (empty: no persistence): a newer stored time is picked up
    // again; the local times never went backwards meanwhile.
    own.start();
    region.set("newest", "v");
    const TimePoint later = dogpile::precise_now() + 1ns;
    ASSERT_FALSE(own.raw({"HSET", strategy->key(), "soft", nanoseconds_of(later)}).is_error());
    ASSERT_TRUE(wait_for_condition([&] { return !region.get("newest").has_value(); }, 30s));
    EXPECT_EQ(region.invalidation().times().soft, later);
    EXPECT_GT(*region.invalidation().times().hard, *invalidated_at);
}

TEST(RedisInvalidationFaults, ACorruptStoredTimeIsReportedNotThrown) {
    const std::string ns = unique_ns("corrupt");
    auto strategy = std::make_shared<RedisInvalidationStrategy>(invalidation_options(server().url(), ns, 1ms));
    ASSERT_FALSE(server().raw({"HSET", strategy->key(), "hard", "yesterday"}).is_error());
    Reports reports;
    dogpile::RegionOptions options;
    options.invalidation = strategy;
    options.error_hook = reports.hook();
    StringRegion region(std::make_shared<dogpile::MemoryBackend<std::string>>(), options);
    region.set("k", "v");
    EXPECT_NO_THROW(EXPECT_EQ(region.get("k"), "v"));
    EXPECT_GE(region.stats().backend_errors, 1u);
    const auto lines = reports.copy();
    ASSERT_FALSE(lines.empty());
    EXPECT_NE(lines.front().find(strategy->key()), std::string::npos) << lines.front();
    EXPECT_NE(lines.front().find("yesterday"), std::string::npos) << lines.front();
}

}  // namespace
