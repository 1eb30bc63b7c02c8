// The error model outside the region (docs/reliability.md, "Errors outside
// the region"): a region call follows RegionOptions::on_backend_error (degrade
// by default: the creator's value, the error counted), while a call made on a
// backend directly is the low-level API and throws the documented
// dogpile::redis::Error kinds; statistics never throw. A logout
// (erase_hash) that silently did nothing would leave a user's permissions
// cached, so the caller must learn that it failed.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/backends/redis/plain.hpp>
#include <dogpile/backends/redis/symmetric.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "support/redis_server.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::test::RedisServer;

using HashBackend = dogpile::RedisHashBackend<std::string>;
using SymmetricBackend = dogpile::RedisSymmetricBackend<std::string>;
using PlainBackend = dogpile::RedisBackend<std::string>;

std::shared_ptr<dogpile::redis::Client> client_of(const RedisServer& server) {
    dogpile::redis::PoolOptions pool;
    pool.size = 2;
    pool.acquire_timeout = 500ms;
    pool.connection = server.options();
    pool.connection.connect_timeout = 200ms;
    pool.connection.command_timeout = 100ms;
    return dogpile::redis::make_client(pool);
}

// The three stores over one client, and a region over the hash store.
struct Stack {
    explicit Stack(const RedisServer& server) : client(client_of(server)) {}

    std::shared_ptr<dogpile::redis::Client> client;
    std::shared_ptr<HashBackend> hash =
        std::make_shared<HashBackend>(dogpile::RedisHashBackendOptions{client, std::chrono::hours(1)});
    std::shared_ptr<SymmetricBackend> symmetric =
        std::make_shared<SymmetricBackend>(dogpile::RedisSymmetricBackendOptions{client, std::chrono::hours(1)});
    std::shared_ptr<PlainBackend> plain = std::make_shared<PlainBackend>([this] {
        dogpile::RedisBackendOptions o;
        o.client = client;
        o.ttl = std::chrono::hours(1);
        return o;
    }());
    dogpile::Region<std::string, dogpile::HashKey> region{hash};
};

const dogpile::HashKey key{"calculated-a|7", "42"};

TEST(DirectCallErrors, ServerDownRegionDegradesDirectCallsThrowIoErrorStatsDoNot) {
    RedisServer server;
    Stack s(server);
    ASSERT_EQ(s.region.get_or_create(key, [] { return std::string("stored"); }), "stored");
    s.symmetric->set(dogpile::A2BKey{"7", "42"}, dogpile::CachedValue<std::string>{"pair", {}});

    server.kill();

    // The region degrades: a failed read is a miss, the creator's value is returned.
    EXPECT_EQ(s.region.get_or_create(key, [] { return std::string("created"); }), "created");
    EXPECT_GT(s.region.stats().backend_errors, 0u);

    // Direct calls throw an IoError (refused, or CircuitOpenError once the breaker opened).
    EXPECT_THROW(s.hash->erase_hash("calculated-a|7"), dogpile::redis::IoError);
    EXPECT_THROW(s.symmetric->invalidate_a("7"), dogpile::redis::IoError);
    EXPECT_THROW(s.symmetric->invalidate_b("42"), dogpile::redis::IoError);
    EXPECT_THROW(s.hash->get(key), dogpile::redis::IoError);
    EXPECT_THROW(s.hash->erase(key), dogpile::redis::IoError);
    EXPECT_THROW(s.plain->set("k", dogpile::CachedValue<std::string>{"v", {}}), dogpile::redis::IoError);
    // Every Redis error is a dogpile::BackendError, so one catch covers them all.
    EXPECT_THROW(s.hash->erase_hash("calculated-a|8"), dogpile::BackendError);

    // Statistics never throw, and show what happened.
    dogpile::redis::RedisBackendStats stats;
    EXPECT_NO_THROW(stats = s.hash->stats());
    EXPECT_GE(stats.breaker.opened, 1u) << "six consecutive failures must have opened the breaker";
    EXPECT_EQ(stats.breaker.state, dogpile::redis::BreakerState::open);
    EXPECT_NO_THROW(s.symmetric->stats());
    EXPECT_NO_THROW(s.plain->stats());
    EXPECT_NO_THROW(s.region.stats());
    EXPECT_NO_THROW(s.client->breaker_stats());
}

TEST(DirectCallErrors, FrozenServerDirectCallsThrowTimeoutError) {
    RedisServer server;
    Stack s(server);
    ASSERT_EQ(s.region.get_or_create(key, [] { return std::string("stored"); }), "stored");

    server.pause();
    // Before the breaker's third consecutive failure: afterwards calls fail
    // fast with CircuitOpenError, an IoError but not a TimeoutError.
    EXPECT_THROW(s.hash->erase_hash("calculated-a|7"), dogpile::redis::TimeoutError);
    EXPECT_THROW(s.symmetric->invalidate_a("7"), dogpile::redis::TimeoutError);
    EXPECT_EQ(s.region.get_or_create(key, [] { return std::string("created"); }), "created");
    EXPECT_NO_THROW(s.hash->stats());
    server.resume();
}

TEST(DirectCallErrors, ErrorReplyIsReplyErrorAndOverLongKeyIsLimitExceeded) {
    RedisServer server;
    Stack s(server);
    // A string where the a-side hash of "7" lives: HKEYS answers WRONGTYPE.
    ASSERT_FALSE(server.raw({"SET", "a2b-a|7", "not a hash"}).is_error());
    EXPECT_THROW(s.symmetric->invalidate_a("7"), dogpile::redis::ReplyError);

    // Refused before anything is sent: not a Redis error, a dogpile::LimitExceeded.
    const std::string too_long(s.hash->limits().max_key_bytes + 1, 'h');
    EXPECT_THROW(s.hash->erase_hash(too_long), dogpile::LimitExceeded);

    // The connection stays usable after an error reply.
    EXPECT_NO_THROW(s.hash->erase_hash("calculated-a|7"));
}

}  // namespace
