// The library's clients beyond a single connection over TLS, against a
// redis-server whose TCP port speaks TLS only: the distributed lock (two
// clients contend, one creation), the near cache (the server's invalidation
// pushes arrive over the TLS tracking connection, where decrypted records can
// wait in OpenSSL's buffer unseen by poll()), and a Region over the plain
// store. The whole lock and near-cache suites also run over TLS: the ctest
// entries tls.* (DOGPILE_TEST_REDIS_TLS=1, tests/CMakeLists.txt).
//
// raw() goes through the server's plaintext unix socket: the server's own view.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include <dogpile/backends/near_cache.hpp>
#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/backends/redis/plain.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/redis/tracking.hpp>
#include <dogpile/region.hpp>

#include "support/latch.hpp"
#include "support/near_cache_stack.hpp"
#include "support/redis_server.hpp"
#include "support/tls_certificates.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::HashKey;
using dogpile::Region;
using dogpile::RedisHashBackend;
using dogpile::RedisHashBackendOptions;
using dogpile::test::Latch;
using dogpile::test::RedisServer;
using dogpile::test::wait_for_condition;

constexpr auto deadline = 30s;

RedisServer& server() {
    static RedisServer tls(dogpile::test::tls_server_options(dogpile::test::TlsCertificates::shared().server_cert()));
    return tls;
}

std::string test_prefix() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string("tls-clients:") + info->name() + ":";
}

// How often the server ran `command` (INFO commandstats).
long long command_calls(const std::string& command) {
    const std::string info = server().raw({"INFO", "commandstats"}).str;
    const std::string tag = "cmdstat_" + command + ":calls=";
    const auto at = info.find(tag);
    return at == std::string::npos ? 0 : std::stoll(info.substr(at + tag.size()));
}

std::shared_ptr<RedisHashBackend<std::string>> locked_hash_store(const std::string& prefix) {
    RedisHashBackendOptions o;
    o.client = dogpile::redis::make_client(server().url());  // a client of its own: another process, to Redis
    o.ttl = std::chrono::hours(1);
    dogpile::redis::LockOptions lock;
    lock.prefix = prefix + "lock|";
    o.distributed_lock = lock;
    return std::make_shared<RedisHashBackend<std::string>>(o);
}

TEST(TlsClients, TheServerSpeaksTlsOnly) {
    ASSERT_TRUE(server().options().tls.has_value());
    dogpile::redis::ConnectionOptions plaintext = server().options();
    plaintext.tls.reset();
    plaintext.connect_timeout = 2s;
    plaintext.command_timeout = 2s;
    EXPECT_THROW(
        {
            dogpile::redis::Connection c(plaintext);
            c.command({"PING"});
        },
        dogpile::redis::IoError);
}

// Region A creates under the distributed lock and does not return before the
// server has refused region B's lock attempt at least once; B then waits for
// A's value. One creation, both see it.
TEST(TlsClients, TwoClientsContendingForTheLockCreateOnce) {
    const std::string prefix = test_prefix();
    dogpile::RegionOptions options;
    options.lock_timeout = deadline;
    options.on_backend_error = dogpile::BackendErrorPolicy::raise;
    Region<std::string, HashKey> a(locked_hash_store(prefix), options);
    Region<std::string, HashKey> b(locked_hash_store(prefix), options);
    const HashKey key{prefix + "h", "f"};

    std::atomic<int> creations{0};
    Latch a_creating(1);
    const long long sets_before = command_calls("set");
    auto first = std::async(std::launch::async, [&] {
        return a.get_or_create(key, [&] {
            ++creations;
            a_creating.count_down();
            // A's own lock SET, then at least one of B's (refused: A holds it).
            EXPECT_TRUE(wait_for_condition([&] { return command_calls("set") >= sets_before + 2; }, deadline))
                << "region B never tried the lock";
            return std::string("from a");
        });
    });
    ASSERT_TRUE(a_creating.wait_for(deadline));
    const std::string seen_by_b = b.get_or_create(key, [&] {
        ++creations;
        return std::string("from b");
    });
    EXPECT_EQ(first.get(), "from a");
    EXPECT_EQ(seen_by_b, "from a");
    EXPECT_EQ(creations.load(), 1);
}

// The near tier learns of a second client's write only through the server's
// invalidation push on the TLS tracking connection.
TEST(TlsClients, ANearCacheSeesAnotherClientsWriteThroughItsInvalidation) {
    const std::string prefix = test_prefix();
    dogpile::redis::TrackingOptions tracking;
    tracking.connection = server().options();
    // No health-check PING in the test's time: only the server's push can
    // wake the listener, so a push left in OpenSSL's buffer would stay unseen.
    tracking.health_check_interval = std::chrono::hours(1);
    const dogpile::test::NearCacheStack stack = dogpile::test::make_near_cache_stack(tracking, 2);
    const auto& listener = stack.listener;
    const auto& cache = stack.cache;
    ASSERT_TRUE(listener->wait_until_tracking(deadline)) << listener->last_error();

    const HashKey key{prefix + "h", "f"};
    const auto payload = [](const std::string& v) { return dogpile::codec::MsgpackCodec<std::string>{}.encode(v); };
    dogpile::redis::Connection writer(server().options());  // the second client, over TLS too
    ASSERT_TRUE(writer.command({"HSET", key.hash, key.field, payload("v1")}).is_integer());

    auto read = [&]() -> std::optional<std::string> {
        auto e = cache->get(key);
        if (!e) return std::nullopt;
        return e->value;
    };
    EXPECT_EQ(read(), "v1");
    ASSERT_TRUE(cache->near_contains(key));
    EXPECT_EQ(read(), "v1");
    EXPECT_EQ(cache->stats().hits, 1u) << "the second read came from the near tier";

    ASSERT_TRUE(writer.command({"HSET", key.hash, key.field, payload("v2")}).is_integer());
    EXPECT_TRUE(wait_for_condition([&] { return !cache->near_contains(key); }, deadline))
        << "no invalidation reached the near tier; listener: " << listener->last_error();
    EXPECT_EQ(read(), "v2");
}

TEST(TlsClients, ARegionOverThePlainStore) {
    const std::string prefix = test_prefix();
    dogpile::RedisBackendOptions o;
    o.client = dogpile::redis::make_client(server().url());
    o.key_prefix = prefix;
    dogpile::RegionOptions options;
    options.on_backend_error = dogpile::BackendErrorPolicy::raise;
    Region<std::string> region(std::make_shared<dogpile::RedisBackend<std::string>>(o), options);
    int creations = 0;
    const auto create = [&] {
        ++creations;
        return std::string(50000, 'v');  // several TLS records
    };
    EXPECT_EQ(region.get_or_create("k", create), std::string(50000, 'v'));
    EXPECT_EQ(region.get_or_create("k", create), std::string(50000, 'v'));
    EXPECT_EQ(creations, 1);
    EXPECT_EQ(region.stats().backend_errors, 0u);
    EXPECT_EQ(server().raw({"EXISTS", prefix + "k"}).integer, 1) << "stored in Redis, not only in memory";
}

}  // namespace
