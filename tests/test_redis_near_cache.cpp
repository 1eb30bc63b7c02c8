// NearCacheBackend and the invalidation listener against a real redis-server:
// hits without round trips, invalidation by other writers (one field drops the
// whole hash, a logout DEL, FLUSHALL), the read/invalidation race forced with
// a test hook, listener and data connection loss, a server restart, broadcast
// mode, the age limit, and the client-layer hooks the listener relies on.
//
// "Writer B" is always a connection the library under test knows nothing
// about (RedisServer::raw, plain hiredis), i.e. another process.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/backends/near_cache.hpp>
#include <dogpile/backends/redis/plain.hpp>
#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis/pipelined_client.hpp>
#include <dogpile/redis/tracking.hpp>
#include <dogpile/region.hpp>

#include "support/latch.hpp"
#include "support/manual_clock.hpp"
#include "support/redis_server.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::CachedValue;
using dogpile::HashKey;
using dogpile::Metadata;
using dogpile::NearCacheBackend;
using dogpile::NearCacheOptions;
using dogpile::RedisHashBackend;
using dogpile::RedisHashBackendOptions;
using dogpile::redis::Client;
using dogpile::redis::Connection;
using dogpile::redis::FlushReason;
using dogpile::redis::InvalidationListener;
using dogpile::redis::InvalidationSink;
using dogpile::redis::PipelinedClient;
using dogpile::redis::PipelinedOptions;
using dogpile::redis::PoolOptions;
using dogpile::redis::TrackingMode;
using dogpile::redis::TrackingOptions;
using dogpile::test::Latch;
using dogpile::test::RedisServer;
using dogpile::test::wait_for_condition;

using Entry = CachedValue<std::string>;
using HashRemote = RedisHashBackend<std::string>;
using HashNear = NearCacheBackend<std::string, HashKey>;

constexpr auto deadline = 10s;

Entry entry(std::string value) { return Entry{std::move(value), Metadata::store_managed()}; }

// What the hash store keeps in a field (PayloadMode::raw): the codec's bytes.
std::string payload(const std::string& value) { return dogpile::codec::MsgpackCodec<std::string>{}.encode(value); }

// Records every key the listener announced and every flush, after the near
// caches subscribed before it have processed them (sinks run in order).
class RecordingSink final : public InvalidationSink {
public:
    void invalidate(const std::vector<std::string_view>& redis_keys) override {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto k : redis_keys) keys_.insert(std::string(k));
    }
    void flush(FlushReason reason) override {
        std::lock_guard<std::mutex> lock(mutex_);
        flushes_.push_back(reason);
    }
    bool saw(const std::string& key) const {
        std::lock_guard<std::mutex> lock(mutex_);
        return keys_.count(key) != 0;
    }
    std::size_t flushes(FlushReason reason) const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t n = 0;
        for (auto r : flushes_) n += r == reason ? 1 : 0;
        return n;
    }
    void forget() {
        std::lock_guard<std::mutex> lock(mutex_);
        keys_.clear();
        flushes_.clear();
    }

private:
    mutable std::mutex mutex_;
    std::set<std::string> keys_;
    std::vector<FlushReason> flushes_;
};

TrackingOptions tracking_options(const RedisServer& server, TrackingMode mode = TrackingMode::standard) {
    TrackingOptions o;
    o.connection = server.options();
    o.mode = mode;
    o.reconnect_backoff_min = 5ms;
    o.reconnect_backoff_max = 100ms;
    return o;
}

// A near cache over the hash store, and a recording sink behind it.
class NearCacheTest : public ::testing::Test {
protected:
    void SetUp() override { build(tracking_options(server)); }

    void build(const TrackingOptions& tracking, NearCacheOptions<HashKey> near = {}, bool instrument = true) {
        subscription_.reset();
        cache.reset();
        remote.reset();
        client.reset();
        listener.reset();
        listener = std::make_shared<InvalidationListener>(tracking);
        PoolOptions pool;
        pool.size = 4;
        pool.connection = server.options();
        if (over_pipelined_client) {
            // Instrumented, its pool has an on_acquire hook: every call is a
            // pooled one (redis/pipelined_client.hpp).
            PipelinedOptions pipelined;
            pipelined.pool = instrument ? listener->instrument(pool) : pool;
            client = std::make_shared<PipelinedClient>(pipelined);
        } else {
            client =
                instrument ? dogpile::redis::make_tracked_client(*listener, pool) : dogpile::redis::make_client(pool);
        }
        RedisHashBackendOptions ro;
        ro.client = client;
        ro.ttl = std::chrono::hours(1);
        remote = std::make_shared<HashRemote>(ro);
        near.listener = listener;
        if (!near.redis_key) near.redis_key = dogpile::redis_keys_of(*remote);
        cache = std::make_shared<HashNear>(remote, near);
        subscription_ = listener->subscribe(sink);
        ASSERT_TRUE(listener->wait_until_tracking(deadline)) << listener->last_error();
    }

    void TearDown() override { subscription_.reset(); }

    // The read/invalidation race: a value read before its invalidation
    // arrived must not land in the near tier after it.
    void expect_an_invalidation_during_a_read_keeps_the_older_value_out();

    // Writer B: another process, as far as the library can tell.
    void external_hset(const std::string& hash, const std::string& field, const std::string& value) {
        const auto r = server.raw({"HSET", hash, field, payload(value)});
        ASSERT_FALSE(r.is_error()) << r.str;
    }

    // Waits until the listener has delivered an invalidation of `redis_key`
    // (to the near cache first, then to the recording sink).
    void await_invalidation(const std::string& redis_key) {
        ASSERT_TRUE(wait_for_condition([&] { return sink.saw(redis_key); }, deadline))
            << "no invalidation of " << redis_key << " arrived";
    }

    std::optional<std::string> read(const HashKey& key) {
        auto e = cache->get(key);
        if (!e) return std::nullopt;
        return e->value;
    }

    // A TLS server under DOGPILE_TEST_REDIS_TLS=1 (the ctest entries tls.*):
    // the listener's push connection and the pool then speak TLS.
    RedisServer server{RedisServer::shared_options()};
    std::shared_ptr<InvalidationListener> listener;
    std::shared_ptr<Client> client;
    std::shared_ptr<HashRemote> remote;
    std::shared_ptr<HashNear> cache;
    RecordingSink sink;
    bool over_pipelined_client = false;  // build() makes a PipelinedClient

private:
    InvalidationListener::Subscription subscription_;
};

const HashKey k71{"calculated-a|7", "1"};
const HashKey k72{"calculated-a|7", "2"};
const HashKey k81{"calculated-a|8", "1"};

// ------------------------------------------------------------------ hits

TEST_F(NearCacheTest, ANearHitCostsNoRoundTrip) {
    external_hset(k71.hash, k71.field, "v1");
    EXPECT_EQ(read(k71), "v1");  // miss: one HGET, kept
    EXPECT_TRUE(cache->near_contains(k71));
    const auto before = client->round_trips();
    for (int i = 0; i < 100; ++i) EXPECT_EQ(read(k71), "v1");
    EXPECT_EQ(client->round_trips(), before);
    const auto s = cache->stats();
    EXPECT_EQ(s.hits, 100u);
    EXPECT_EQ(s.misses, 1u);
    EXPECT_EQ(s.stored, 1u);
}

TEST_F(NearCacheTest, AMissingValueIsNotKept) {
    EXPECT_EQ(read(k71), std::nullopt);
    EXPECT_FALSE(cache->near_contains(k71));
    const auto before = client->round_trips();
    EXPECT_EQ(read(k71), std::nullopt);
    EXPECT_EQ(client->round_trips(), before + 1);
}

TEST_F(NearCacheTest, GetMultiServesHitsFromMemoryAndMissesInOneRemoteCall) {
    external_hset(k71.hash, k71.field, "a");
    external_hset(k72.hash, k72.field, "b");
    external_hset(k81.hash, k81.field, "c");
    EXPECT_EQ(read(k71), "a");
    const auto before = client->round_trips();
    const auto got = cache->get_multi({k71, k72, k81, HashKey{"calculated-a|9", "1"}});
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0]->value, "a");
    EXPECT_EQ(got[1]->value, "b");
    EXPECT_EQ(got[2]->value, "c");
    EXPECT_FALSE(got[3].has_value());
    EXPECT_EQ(client->round_trips(), before + 1);  // the hash store pipelines its HMGETs
    EXPECT_TRUE(cache->near_contains(k72));
    EXPECT_TRUE(cache->near_contains(k81));
    const auto again = client->round_trips();
    const auto hits = cache->get_multi({k71, k72, k81});
    EXPECT_EQ(hits[1]->value, "b");
    EXPECT_EQ(client->round_trips(), again);
}

TEST_F(NearCacheTest, ARegionOnTopServesFromMemory) {
    dogpile::Region<std::string, HashKey> region(cache);
    int calls = 0;
    auto creator = [&] {
        ++calls;
        return std::string("computed");
    };
    EXPECT_EQ(region.get_or_create(k71, creator), "computed");
    // Read back from Redis and kept. The store's own write is announced too
    // (its script read the hash, so Redis tracked it), and may drop that copy
    // once more: hence "eventually" served from memory.
    EXPECT_TRUE(wait_for_condition(
        [&] {
            const auto before = client->round_trips();
            EXPECT_EQ(region.get_or_create(k71, creator), "computed");
            return client->round_trips() == before;
        },
        deadline));
    EXPECT_EQ(calls, 1);
}

// ------------------------------------------------------------------ invalidation

TEST_F(NearCacheTest, AnotherWritersChangeIsSeenOnceItsInvalidationArrived) {
    external_hset(k71.hash, k71.field, "v1");
    EXPECT_EQ(read(k71), "v1");
    EXPECT_EQ(read(k71), "v1");
    EXPECT_EQ(cache->stats().hits, 1u);

    external_hset(k71.hash, k71.field, "v2");
    await_invalidation(k71.hash);
    EXPECT_FALSE(cache->near_contains(k71));
    EXPECT_EQ(read(k71), "v2");
    EXPECT_EQ(read(k71), "v2");  // kept again, and tracked again:
    external_hset(k71.hash, k71.field, "v3");
    EXPECT_TRUE(wait_for_condition([&] { return read(k71) == std::optional<std::string>("v3"); }, deadline));
}

TEST_F(NearCacheTest, AWriteToOneFieldDropsEveryFieldOfThatHash) {
    external_hset(k71.hash, k71.field, "a");
    external_hset(k72.hash, k72.field, "b");
    external_hset(k81.hash, k81.field, "c");
    for (const auto& k : {k71, k72, k81}) ASSERT_TRUE(read(k).has_value());
    EXPECT_EQ(cache->near_size(), 3u);

    external_hset(k71.hash, "99", "new field");
    await_invalidation(k71.hash);
    EXPECT_FALSE(cache->near_contains(k71));
    EXPECT_FALSE(cache->near_contains(k72));
    EXPECT_TRUE(cache->near_contains(k81));  // another id_a: untouched
    EXPECT_EQ(cache->stats().invalidated, 2u);
}

TEST_F(NearCacheTest, LogoutDelEmptiesAllOfThatIdsNearEntries) {
    for (int b = 0; b < 20; ++b) external_hset("calculated-a|7", std::to_string(b), "x" + std::to_string(b));
    for (int b = 0; b < 5; ++b) external_hset("calculated-a|8", std::to_string(b), "y" + std::to_string(b));
    for (int b = 0; b < 20; ++b) ASSERT_TRUE(read(HashKey{"calculated-a|7", std::to_string(b)}).has_value());
    for (int b = 0; b < 5; ++b) ASSERT_TRUE(read(HashKey{"calculated-a|8", std::to_string(b)}).has_value());
    EXPECT_EQ(cache->near_size(), 25u);

    ASSERT_FALSE(server.raw({"DEL", "calculated-a|7"}).is_error());  // user 7 logs out, elsewhere
    await_invalidation("calculated-a|7");
    EXPECT_EQ(cache->near_size(), 5u);
    EXPECT_EQ(cache->near_index_size(), 5u);
    for (int b = 0; b < 20; ++b) EXPECT_FALSE(cache->near_contains(HashKey{"calculated-a|7", std::to_string(b)}));
    const auto before = client->round_trips();
    for (int b = 0; b < 5; ++b) EXPECT_TRUE(read(HashKey{"calculated-a|8", std::to_string(b)}).has_value());
    EXPECT_EQ(client->round_trips(), before);
    EXPECT_EQ(read(HashKey{"calculated-a|7", "3"}), std::nullopt);
}

TEST_F(NearCacheTest, LogoutThroughTheRemoteIsSeenAtOnceWithInvalidateNear) {
    external_hset(k71.hash, k71.field, "a");
    ASSERT_TRUE(read(k71).has_value());
    remote->erase_hash(k71.hash);
    cache->invalidate_near(k71.hash);  // no need to wait for the message (which may be first anyway)
    EXPECT_FALSE(cache->near_contains(k71));
    EXPECT_EQ(read(k71), std::nullopt);
}

TEST_F(NearCacheTest, FlushAllEmptiesEverything) {
    external_hset(k71.hash, k71.field, "a");
    external_hset(k81.hash, k81.field, "b");
    ASSERT_TRUE(read(k71).has_value());
    ASSERT_TRUE(read(k81).has_value());
    const auto messages = listener->stats().flush_messages;
    ASSERT_FALSE(server.raw({"FLUSHALL"}).is_error());
    ASSERT_TRUE(wait_for_condition([&] { return listener->stats().flush_messages > messages; }, deadline));
    EXPECT_EQ(cache->near_size(), 0u);
    EXPECT_EQ(sink.flushes(FlushReason::server_flush), 1u);
    EXPECT_EQ(read(k71), std::nullopt);
}

TEST_F(NearCacheTest, OwnWritesAreReadBackAtOnce) {
    external_hset(k71.hash, k71.field, "old");
    ASSERT_EQ(read(k71), "old");
    cache->set(k71, entry("new"));
    EXPECT_FALSE(cache->near_contains(k71));
    EXPECT_EQ(read(k71), "new");
    cache->erase(k71);
    EXPECT_EQ(read(k71), std::nullopt);
    cache->set_multi({{k71, entry("m1")}, {k81, entry("m2")}});
    EXPECT_EQ(read(k71), "m1");
    EXPECT_EQ(read(k81), "m2");
    cache->erase_multi({k71, k81});
    EXPECT_EQ(read(k71), std::nullopt);
    EXPECT_EQ(read(k81), std::nullopt);
}

// The race every client-side cache must handle, forced: the reader has its
// value from Redis and stops before the near insert; meanwhile writer B
// changes the key and the listener applies the invalidation. The reader's
// (older) value must not land in the near tier afterwards.
void NearCacheTest::expect_an_invalidation_during_a_read_keeps_the_older_value_out() {
    Latch read_done(1);
    Latch resume(1);
    std::atomic<bool> armed{true};
    NearCacheOptions<HashKey> near;
    near.before_near_insert = [&](const HashKey& key) {
        if (key == k71 && armed.exchange(false)) {
            read_done.count_down();
            if (!resume.wait_for(deadline)) ADD_FAILURE() << "the test never resumed the reader";
        }
    };
    build(tracking_options(server), near);
    external_hset(k71.hash, k71.field, "v1");

    auto reader = std::async(std::launch::async, [&] { return read(k71); });
    ASSERT_TRUE(read_done.wait_for(deadline));
    external_hset(k71.hash, k71.field, "v2");
    await_invalidation(k71.hash);  // processed by the near cache before the recording sink
    resume.count_down();
    EXPECT_EQ(reader.get(), "v1");  // what Redis held when it read: fine to return

    EXPECT_FALSE(cache->near_contains(k71)) << "the older value landed after its invalidation";
    EXPECT_EQ(cache->stats().raced, 1u);
    EXPECT_EQ(read(k71), "v2");
}

TEST_F(NearCacheTest, AnInvalidationDuringAReadKeepsTheOlderValueOut) {
    expect_an_invalidation_during_a_read_keeps_the_older_value_out();
}

// A PipelinedClient over instrumented pool options reads on its tracked pool
// connections: the race is handled as with the pool client, near hits cost
// no round trip.
TEST_F(NearCacheTest, OverAPipelinedClientAnInvalidationDuringAReadKeepsTheOlderValueOut) {
    over_pipelined_client = true;
    expect_an_invalidation_during_a_read_keeps_the_older_value_out();
    EXPECT_TRUE(cache->near_contains(k71));
    const auto before = client->round_trips();
    EXPECT_EQ(read(k71), "v2");
    EXPECT_EQ(client->round_trips(), before);
}

// Uninstrumented, its reads go through the shared connections, which are not
// tracked: the near tier never keeps what they read.
TEST_F(NearCacheTest, AnUntrackedPipelinedClientIsNeverTrusted) {
    over_pipelined_client = true;
    build(tracking_options(server), {}, /*instrument=*/false);
    external_hset(k71.hash, k71.field, "v1");
    EXPECT_EQ(read(k71), "v1");
    EXPECT_FALSE(cache->near_contains(k71));
    EXPECT_EQ(cache->stats().untracked, 1u);
}

// The same race against this process's own write.
TEST_F(NearCacheTest, AnOwnWriteDuringAReadKeepsTheOlderValueOut) {
    Latch read_done(1);
    Latch resume(1);
    std::atomic<bool> armed{true};
    NearCacheOptions<HashKey> near;
    near.before_near_insert = [&](const HashKey& key) {
        if (key == k71 && armed.exchange(false)) {
            read_done.count_down();
            if (!resume.wait_for(deadline)) ADD_FAILURE() << "the test never resumed the reader";
        }
    };
    build(tracking_options(server), near);
    external_hset(k71.hash, k71.field, "v1");
    auto reader = std::async(std::launch::async, [&] { return read(k71); });
    ASSERT_TRUE(read_done.wait_for(deadline));
    cache->set(k71, entry("v2"));
    resume.count_down();
    EXPECT_EQ(reader.get(), "v1");
    EXPECT_FALSE(cache->near_contains(k71));
    EXPECT_EQ(read(k71), "v2");
}

// ------------------------------------------------------------------ failures

TEST_F(NearCacheTest, ServerRestartFlushesAndTrackingResumes) {
    external_hset(k71.hash, k71.field, "before");
    ASSERT_EQ(read(k71), "before");
    const auto first = listener->session();

    server.kill();
    ASSERT_TRUE(wait_for_condition([&] { return sink.flushes(FlushReason::listener_down) == 1; }, deadline));
    EXPECT_FALSE(listener->tracking());
    EXPECT_EQ(cache->near_size(), 0u);
    EXPECT_THROW(cache->get(k71), dogpile::BackendError);  // bypassed: straight to the (dead) server
    EXPECT_GE(cache->stats().bypassed, 1u);

    server.start();                               // empty: persistence is off
    external_hset(k71.hash, k71.field, "after");  // possibly before the listener is back
    ASSERT_TRUE(listener->wait_for_new_session(first, deadline)) << listener->last_error();
    EXPECT_TRUE(wait_for_condition([&] { return read(k71) == std::optional<std::string>("after"); }, deadline));

    // Tracking really resumed: the data connections point at the new listener.
    ASSERT_EQ(read(k71), "after");
    ASSERT_TRUE(cache->near_contains(k71));
    external_hset(k71.hash, k71.field, "again");
    await_invalidation(k71.hash);
    EXPECT_EQ(read(k71), "again");
}

// Written while the listener was down, deterministically: the listener thread
// is held inside its "down" flush while the server restarts and B writes.
TEST_F(NearCacheTest, ValuesWrittenWhileTheListenerWasDownAreSeen) {
    external_hset(k71.hash, k71.field, "v1");
    ASSERT_EQ(read(k71), "v1");

    struct Blocker final : InvalidationSink {
        Latch entered{1};
        Latch release{1};
        std::atomic<bool> armed{true};
        void invalidate(const std::vector<std::string_view>&) override {}
        void flush(FlushReason reason) override {
            if (reason == FlushReason::listener_down && armed.exchange(false)) {
                entered.count_down();
                release.wait_for(deadline);
            }
        }
    } blocker;
    auto held = listener->subscribe(blocker);

    server.kill();
    ASSERT_TRUE(blocker.entered.wait_for(deadline));
    server.start();
    external_hset(k71.hash, k71.field, "v2");
    EXPECT_FALSE(listener->tracking());
    EXPECT_EQ(read(k71), "v2");  // bypassed while the listener is down
    blocker.release.count_down();
    ASSERT_TRUE(listener->wait_until_tracking(deadline));
    EXPECT_EQ(read(k71), "v2");
    EXPECT_EQ(read(k71), "v2");
    held.reset();
}

// Only the listener's connection dies (the server stays up): the data
// connections still redirect to its old id, so they must be tracked again
// before anything they read is kept. Without that, B's write below would
// never be announced and the near tier would serve "v1" forever.
TEST_F(NearCacheTest, AListenerReconnectTracksTheDataConnectionsAgain) {
    external_hset(k71.hash, k71.field, "v1");
    ASSERT_EQ(read(k71), "v1");
    const auto first = listener->session();
    const auto tracked = listener->stats().tracked_connections;

    ASSERT_FALSE(server.raw({"CLIENT", "KILL", "TYPE", "pubsub"}).is_error());
    ASSERT_TRUE(listener->wait_for_new_session(first, deadline)) << listener->last_error();
    EXPECT_EQ(cache->near_size(), 0u);

    ASSERT_EQ(read(k71), "v1");
    ASSERT_TRUE(cache->near_contains(k71));
    EXPECT_GT(listener->stats().tracked_connections, tracked);
    external_hset(k71.hash, k71.field, "v2");
    await_invalidation(k71.hash);
    EXPECT_EQ(read(k71), "v2");
}

// A tracked data connection dies: Redis forgets what it tracked for it, so
// the near tier is flushed when the pool notices (here: at the next acquire).
TEST_F(NearCacheTest, LosingATrackedDataConnectionFlushesTheNearTier) {
    external_hset(k71.hash, k71.field, "v1");
    external_hset(k81.hash, k81.field, "w1");
    ASSERT_EQ(read(k71), "v1");
    const auto lost = listener->stats().data_connections_lost;

    ASSERT_FALSE(server.raw({"CLIENT", "KILL", "TYPE", "normal"}).is_error());
    external_hset(k71.hash, k71.field, "v2");  // nobody tracks it any more: no message
    EXPECT_EQ(read(k81), "w1");                // acquires a connection: the dead one is dropped
    EXPECT_GT(listener->stats().data_connections_lost, lost);
    EXPECT_GE(sink.flushes(FlushReason::data_connection_lost), 1u);
    EXPECT_FALSE(cache->near_contains(k71));
    EXPECT_EQ(read(k71), "v2");
}

// The same, but nothing here uses the pool afterwards: the connection sits
// dead in it (as after the server's idle `timeout`). The listener's periodic
// CLIENT LIST ID check finds it gone and flushes.
TEST_F(NearCacheTest, ADataConnectionTheServerClosedIsNoticedWithoutUsingThePool) {
    auto o = tracking_options(server);
    o.health_check_interval = 50ms;
    build(o);
    external_hset(k71.hash, k71.field, "v1");
    ASSERT_EQ(read(k71), "v1");
    ASSERT_FALSE(server.raw({"CLIENT", "KILL", "TYPE", "normal"}).is_error());
    external_hset(k71.hash, k71.field, "v2");  // nobody tracks it any more: no message
    ASSERT_TRUE(wait_for_condition([&] { return sink.flushes(FlushReason::data_connection_lost) >= 1; }, deadline))
        << listener->last_error();
    EXPECT_FALSE(cache->near_contains(k71));
    EXPECT_EQ(read(k71), "v2");
}

// SIGSTOP: the socket stays open but nothing answers, as in a network
// partition. The health check notices, the near tier stops serving, and
// tracking resumes when the server does.
TEST_F(NearCacheTest, AnUnresponsiveServerIsNoticedByTheHealthCheck) {
    auto o = tracking_options(server);
    o.health_check_interval = 50ms;
    o.connection.command_timeout = 200ms;
    build(o);
    external_hset(k71.hash, k71.field, "v1");
    ASSERT_EQ(read(k71), "v1");
    const auto first = listener->session();

    server.pause();
    ASSERT_TRUE(wait_for_condition([&] { return sink.flushes(FlushReason::listener_down) == 1; }, deadline));
    EXPECT_FALSE(listener->tracking());
    EXPECT_EQ(cache->near_size(), 0u);
    server.resume();
    EXPECT_TRUE(listener->wait_for_new_session(first, deadline)) << listener->last_error();
    EXPECT_EQ(read(k71), "v1");
}

// Destroys `listener` on another thread and reports whether that finished
// within `guard`. The listener's own waits are set to an hour, so only its
// wake-up pipe can end them sooner: finishing at all within the guard is the
// proof, and no speed is assumed. On failure the destruction is left running
// (detached; the process ends with the test binary).
bool destroyed_within(std::unique_ptr<InvalidationListener> listener, std::chrono::seconds guard) {
    auto done = std::make_shared<std::promise<void>>();
    std::future<void> finished = done->get_future();
    std::thread([listener = std::move(listener), done]() mutable {
        listener.reset();
        done->set_value();
    }).detach();
    return finished.wait_for(guard) == std::future_status::ready;
}

constexpr auto an_hour = std::chrono::milliseconds(std::chrono::hours(1));
// Far below an hour, far above any destruction on a loaded machine.
constexpr auto stop_guard = std::chrono::seconds(60);

// Between connection attempts the listener waits out its reconnect backoff
// (an hour here); stopping interrupts that wait.
TEST(NearCacheListener, StopsPromptlyWhileItCannotConnect) {
    RedisServer server;
    auto o = tracking_options(server);
    o.reconnect_backoff_min = an_hour;
    o.reconnect_backoff_max = an_hour;
    server.kill();
    auto listener = std::make_unique<InvalidationListener>(o);
    // A failed attempt has been counted and recorded: the thread is past it,
    // in (or about to enter) the hour-long backoff wait.
    ASSERT_TRUE(wait_for_condition(
        [&] { return listener->stats().connection_failures >= 1 && !listener->last_error().empty(); }, deadline));
    EXPECT_FALSE(listener->tracking());
    EXPECT_TRUE(destroyed_within(std::move(listener), stop_guard))
        << "the listener's destructor did not interrupt its reconnect backoff";
}

// Subscribed, the listener waits for messages up to its health check interval
// (an hour here); stopping interrupts that wait.
TEST(NearCacheListener, StopsPromptlyWhileSubscribed) {
    RedisServer server;
    auto o = tracking_options(server);
    o.health_check_interval = an_hour;
    auto listener = std::make_unique<InvalidationListener>(o);
    ASSERT_TRUE(listener->wait_until_tracking(deadline)) << listener->last_error();
    EXPECT_EQ(listener->stats().sessions, 1u);
    // Subscribed and quiet: nothing but the wake-up can end its wait now.
    const auto subscribers = server.raw({"CLIENT", "LIST", "TYPE", "pubsub"});
    ASSERT_NE(subscribers.str.find("cmd=subscribe"), std::string::npos) << subscribers.str;
    EXPECT_TRUE(destroyed_within(std::move(listener), stop_guard))
        << "the listener's destructor did not interrupt its wait for messages";
    EXPECT_TRUE(wait_for_condition(
        [&] {
            return server.raw({"CLIENT", "LIST", "TYPE", "pubsub"}).str.find("cmd=subscribe") == std::string::npos;
        },
        deadline))
        << "the listener's connection outlived it";
}

// ------------------------------------------------------------------ modes and options

// BCAST with a prefix: the listener alone is set up, data connections are
// plain, and keys outside the prefix are never kept.
TEST_F(NearCacheTest, BroadcastModeNeedsNoDataConnectionSetup) {
    auto o = tracking_options(server, TrackingMode::broadcast);
    o.prefixes = {"calculated-a|"};
    build(o, {}, /*instrument=*/false);
    external_hset(k71.hash, k71.field, "v1");
    await_invalidation(k71.hash);  // every write under the prefix is announced, read or not
    sink.forget();
    ASSERT_EQ(read(k71), "v1");
    ASSERT_TRUE(cache->near_contains(k71));
    EXPECT_EQ(listener->stats().tracked_connections, 0u);

    external_hset(k71.hash, k71.field, "v2");
    await_invalidation(k71.hash);
    EXPECT_EQ(read(k71), "v2");

    const HashKey outside{"other|1", "1"};
    external_hset(outside.hash, outside.field, "o1");
    EXPECT_EQ(read(outside), "o1");
    EXPECT_EQ(read(outside), "o1");
    EXPECT_FALSE(cache->near_contains(outside));
    EXPECT_EQ(cache->stats().uncovered, 2u);

    // Writes nobody here read are announced too (the price of broadcast).
    external_hset("calculated-a|42", "1", "x");
    await_invalidation("calculated-a|42");
}

// A remote backend on a client the listener does not know: nothing it reads
// is provably tracked, so nothing is kept (and nothing stale is served).
TEST_F(NearCacheTest, AnUntrackedClientIsNeverTrusted) {
    build(tracking_options(server), {}, /*instrument=*/false);
    external_hset(k71.hash, k71.field, "v1");
    EXPECT_EQ(read(k71), "v1");
    EXPECT_FALSE(cache->near_contains(k71));
    EXPECT_EQ(cache->stats().untracked, 1u);
    external_hset(k71.hash, k71.field, "v2");
    EXPECT_EQ(read(k71), "v2");
}

TEST_F(NearCacheTest, MaxAgeBoundsHowLongAnEntryIsServedFromMemory) {
    dogpile::test::ManualClock clock;
    NearCacheOptions<HashKey> near;
    near.ttl = 30s;
    near.clock = clock.function();
    build(tracking_options(server), near);
    external_hset(k71.hash, k71.field, "v1");
    ASSERT_EQ(read(k71), "v1");
    clock.advance(29s);
    auto before = client->round_trips();
    EXPECT_EQ(read(k71), "v1");
    EXPECT_EQ(client->round_trips(), before);
    clock.advance(2s);
    EXPECT_EQ(read(k71), "v1");
    EXPECT_EQ(client->round_trips(), before + 1);
    EXPECT_EQ(cache->stats().expirations, 1u);
    EXPECT_EQ(cache->near_index_size(), cache->near_size());
}

TEST_F(NearCacheTest, TheNearTierAndItsIndexStayWithinTheCapacity) {
    NearCacheOptions<HashKey> near;
    near.capacity = 64;
    near.shards = 4;
    build(tracking_options(server), near);
    std::vector<HashKey> keys;
    for (int a = 0; a < 20; ++a) {
        for (int b = 0; b < 20; ++b) {
            keys.push_back(HashKey{"calculated-a|" + std::to_string(a), std::to_string(b)});
            external_hset(keys.back().hash, keys.back().field, std::to_string(a * 100 + b));
        }
    }
    for (int round = 0; round < 3; ++round) {
        for (const auto& k : keys) ASSERT_TRUE(read(k).has_value());
    }
    EXPECT_LE(cache->near_size(), 64u);
    EXPECT_EQ(cache->near_index_size(), cache->near_size());
    EXPECT_GT(cache->stats().evictions, 0u);
    // Evicted entries left the index too: invalidations still drop exactly what is held.
    for (int a = 0; a < 20; ++a) cache->invalidate_near("calculated-a|" + std::to_string(a));
    EXPECT_EQ(cache->near_size(), 0u);
    EXPECT_EQ(cache->near_index_size(), 0u);
}

// The string store: the Redis key is key_prefix + key.
TEST(NearCacheStringStore, InvalidatesByPrefixedKey) {
    RedisServer server;
    auto listener = std::make_shared<InvalidationListener>(tracking_options(server));
    PoolOptions pool;
    pool.connection = server.options();
    dogpile::RedisBackendOptions ro;
    ro.client = dogpile::redis::make_tracked_client(*listener, pool);
    ro.key_prefix = "app:";
    auto remote = std::make_shared<dogpile::RedisBackend<std::string>>(ro);
    NearCacheOptions<std::string> near;
    near.listener = listener;
    near.redis_key = dogpile::redis_keys_of(*remote);
    NearCacheBackend<std::string> cache(remote, near);
    RecordingSink sink;
    auto subscription = listener->subscribe(sink);
    ASSERT_TRUE(listener->wait_until_tracking(deadline));

    // Writer B: another process with its own (untracked) backend.
    dogpile::RedisBackendOptions bo;
    bo.client = dogpile::redis::make_client(server.url());
    bo.key_prefix = "app:";
    dogpile::RedisBackend<std::string> writer(bo);

    const auto now = dogpile::WallClock::now();
    writer.set("k", Entry{"v1", Metadata::created_now(now)});
    ASSERT_EQ(cache.get("k")->value, "v1");
    ASSERT_TRUE(cache.near_contains("k"));
    writer.set("k", Entry{"v2", Metadata::created_now(now)});
    ASSERT_TRUE(wait_for_condition([&] { return sink.saw("app:k"); }, deadline));
    EXPECT_FALSE(cache.near_contains("k"));
    EXPECT_EQ(cache.get("k")->value, "v2");
}

TEST(NearCacheOptionsTest, RejectsWhatCannotWork) {
    RedisServer server;
    auto listener = std::make_shared<InvalidationListener>(tracking_options(server));
    RedisHashBackendOptions ro;
    ro.client = dogpile::redis::make_tracked_client(*listener, PoolOptions{});
    ro.ttl = std::chrono::hours(1);
    auto remote = std::make_shared<HashRemote>(ro);

    NearCacheOptions<HashKey> o;
    o.redis_key = dogpile::hash_store_redis_keys();
    EXPECT_THROW((HashNear{remote, o}), dogpile::ConfigurationError);  // no listener
    o.listener = listener;
    EXPECT_THROW((HashNear{nullptr, o}), dogpile::ConfigurationError);
    o.redis_key = nullptr;
    EXPECT_THROW((HashNear{remote, o}), dogpile::ConfigurationError);
    o.redis_key = dogpile::hash_store_redis_keys();
    o.capacity = 0;
    EXPECT_THROW((HashNear{remote, o}), dogpile::ConfigurationError);
    o.capacity = 10;
    o.shards = 3;
    EXPECT_THROW((HashNear{remote, o}), dogpile::ConfigurationError);
    o.shards = 4;
    o.ttl = std::chrono::seconds(0);
    EXPECT_THROW((HashNear{remote, o}), dogpile::ConfigurationError);
    o.ttl.reset();
    EXPECT_NO_THROW((HashNear{remote, o}));

    auto t = tracking_options(server);
    t.prefixes = {"a|"};  // standard mode takes no prefixes
    EXPECT_THROW(InvalidationListener{t}, dogpile::ConfigurationError);
    t.mode = TrackingMode::broadcast;
    t.prefixes = {""};
    EXPECT_THROW(InvalidationListener{t}, dogpile::ConfigurationError);
    t.prefixes = {};
    t.health_check_interval = 0ms;
    EXPECT_THROW(InvalidationListener{t}, dogpile::ConfigurationError);
}

// ------------------------------------------------------------------ client-layer hooks

TEST(RedisClientHooks, OnConnectRunsAfterTheHandshakeOnEveryConnect) {
    RedisServer server;
    auto o = server.options();
    o.db = 3;
    int calls = 0;
    o.on_connect = [&](Connection& c) {
        ++calls;
        EXPECT_EQ(c.command({"CLIENT", "INFO"}).as_string().find("db=3") != std::string::npos, true);
        c.set_user_tag(c.user_tag() + 1);
    };
    Connection c(o);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(c.user_tag(), 1u);
    c.reconnect();
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(c.user_tag(), 2u);  // kept across reconnect

    o.on_connect = [](Connection&) { throw std::runtime_error("setup failed"); };
    EXPECT_THROW(Connection{o}, std::runtime_error);
}

TEST(RedisClientHooks, PoolRunsOnAcquireAndOnDiscard) {
    RedisServer server;
    PoolOptions p;
    p.size = 2;
    p.connection = server.options();
    p.connection.command_timeout = std::chrono::seconds(10);  // no timeout is under test: room for a loaded machine
    std::atomic<int> acquired{0};
    std::atomic<int> discarded{0};
    p.on_acquire = [&](Connection& c) {
        ++acquired;
        c.command({"PING"});  // setup round trips are not counted
    };
    p.on_discard = [&](Connection&) { ++discarded; };
    dogpile::redis::ConnectionPool pool(p);
    {
        auto lease = pool.acquire();
        lease->command({"PING"});
    }
    {
        auto lease = pool.acquire();
        lease->command({"PING"});
    }
    EXPECT_EQ(acquired.load(), 2);
    EXPECT_EQ(pool.round_trips(), 2u);
    {
        auto lease = pool.acquire();
        lease.discard();
    }
    EXPECT_EQ(discarded.load(), 1);
    {
        auto lease = pool.acquire();  // a new one
        lease->command({"PING"});
    }
    server.restart();  // the idle connection's peer is gone: dropped at the next acquire
    {
        auto lease = pool.acquire();
        lease->command({"PING"});
    }
    EXPECT_EQ(discarded.load(), 2);
    EXPECT_EQ(pool.connections_created(), 3u);

    p.on_acquire = [](Connection&) { throw std::runtime_error("no"); };
    dogpile::redis::ConnectionPool failing(p);
    EXPECT_THROW(failing.acquire(), std::runtime_error);
    EXPECT_EQ(failing.open_connections(), 0u);
}

}  // namespace
