// RedisBackend (one Redis string per key) against a real redis-server: the
// stored bytes (envelope + codec payload), store TTL, round trips, how a
// corrupt payload is reported, limits, the Region on top, the lock hook and
// recovery after a server restart. The Backend contract (binary safety,
// corrupt payloads as misses, ...) runs in test_redis_backend_conformance.cpp.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <dogpile/backends/redis/plain.hpp>
#include <dogpile/codec/envelope.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "support/manual_clock.hpp"
#include "support/message_of.hpp"
#include "support/redis_server.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::BackendErrorEvent;
using dogpile::ConfigurationError;
using dogpile::DecodeError;
using dogpile::LimitExceeded;
using dogpile::Metadata;
using dogpile::RedisBackend;
using dogpile::RedisBackendOptions;
using dogpile::Region;
using dogpile::RegionOptions;
using dogpile::codec::MsgpackCodec;
using dogpile::test::ManualClock;
using dogpile::test::RawReply;
using dogpile::test::RedisServer;

using StringBackend = RedisBackend<std::string>;
using Scores = std::map<std::string, int>;
using ScoresBackend = RedisBackend<Scores>;
using Entry = StringBackend::entry_type;

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int v : values) out.push_back(static_cast<char>(v));
    return out;
}

std::string test_prefix() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->test_suite_name()) + "." + info->name() + ":";
}

RedisServer& server() { return RedisServer::shared(); }

RawReply raw(const RedisServer& s, const std::vector<std::string>& argv) {
    RawReply r = s.raw(argv);
    EXPECT_FALSE(r.is_error()) << argv.front() << ": " << r.str;
    return r;
}

long long command_calls(const RedisServer& s, const std::string& command) {
    const std::string info = raw(s, {"INFO", "commandstats"}).str;
    const std::string tag = "cmdstat_" + command + ":calls=";
    const auto at = info.find(tag);
    if (at == std::string::npos) return 0;
    return std::stoll(info.substr(at + tag.size()));
}

RedisBackendOptions options_for(const RedisServer& s, std::string prefix) {
    RedisBackendOptions o;
    o.client = dogpile::redis::make_client(s.url());
    o.key_prefix = std::move(prefix);
    return o;
}

Entry entry(std::string value, dogpile::TimePoint created = dogpile::WallClock::now()) {
    return Entry{std::move(value), Metadata::created_now(created)};
}

using dogpile::test::message_of;

// --- options ---------------------------------------------------------------------

TEST(RedisBackendOptions, RejectsOptionsThatCannotWork) {
    auto make = [](auto&& tweak) {
        auto o = options_for(server(), "p:");
        tweak(o);
        return message_of<ConfigurationError>([&] { StringBackend backend(o); });
    };
    EXPECT_NE(make([](auto& o) { o.client = nullptr; }).find("client"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.ttl = std::chrono::microseconds(999); }).find("ttl"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.ttl = -1s; }).find("ttl"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.limits.max_key_bytes = 1; }).find("key_prefix"), std::string::npos);
    EXPECT_NE(make([](auto& o) {
                  o.distributed_lock = dogpile::redis::LockOptions{};
                  o.distributed_lock->ttl = 0ms;
              }).find("ttl must be positive"),
              std::string::npos);
}

// --- layout ---------------------------------------------------------------------------

TEST(RedisBackendLayout, StoresTheEnvelopeAndTheCodecsBytesUnderThePrefixedKey) {
    StringBackend backend(options_for(server(), test_prefix()));
    const auto created = dogpile::WallClock::now();
    backend.set("k", entry("hello", created));

    const RawReply stored = raw(server(), {"GET", test_prefix() + "k"});
    ASSERT_EQ(stored.type, REDIS_REPLY_STRING);
    const auto unwrapped = dogpile::codec::envelope::unwrap(stored.str);
    EXPECT_EQ(unwrapped.metadata.created_at, std::chrono::floor<std::chrono::microseconds>(created));
    EXPECT_EQ(unwrapped.metadata.version, Metadata::current_version);
    EXPECT_EQ(unwrapped.payload, MsgpackCodec<std::string>{}.encode("hello"));
    EXPECT_EQ(raw(server(), {"PTTL", test_prefix() + "k"}).integer, -1) << "no ttl: no expiry";

    const auto got = backend.get("k");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->value, "hello");
    EXPECT_EQ(got->metadata.created_at, std::chrono::floor<std::chrono::microseconds>(created));
    EXPECT_EQ(got->metadata.expiry_owner, dogpile::ExpiryOwner::region);
    EXPECT_FALSE(backend.get("missing"));
}

TEST(RedisBackendLayout, DocumentedConstructionCompilesAndWorks) {
    // As in the header comment of backends/redis/plain.hpp.
    auto client = dogpile::redis::make_client(server().url());
    auto backend = std::make_shared<dogpile::RedisBackend<std::string>>(dogpile::RedisBackendOptions{client, "myapp:"});
    dogpile::RegionOptions region_options;
    region_options.expiration_time = std::chrono::minutes(5);
    dogpile::Region<std::string> region(backend, region_options);
    EXPECT_EQ(region.get_or_create(test_prefix(), [] { return std::string("v"); }), "v");
    EXPECT_EQ(raw(server(), {"EXISTS", "myapp:" + test_prefix()}).integer, 1);
}

TEST(RedisBackendLayout, StoreTtlSetsPxOnEveryWrite) {
    auto o = options_for(server(), test_prefix());
    o.ttl = std::chrono::hours(2);
    StringBackend backend(o);
    backend.set("a", entry("1"));
    backend.set_multi({{"b", entry("2")}, {"c", entry("3")}});
    for (const char* key : {"a", "b", "c"}) {
        const long long pttl = raw(server(), {"PTTL", test_prefix() + key}).integer;
        EXPECT_GT(pttl, 7200000 - 60000) << key;
        EXPECT_LE(pttl, 7200000) << key;
    }
}

TEST(RedisBackendLayout, GenericMsgpackValues) {
    ScoresBackend backend(options_for(server(), test_prefix()));
    const Scores scores{{"alice", 3}, {"bob", -7}};
    backend.set("s", {scores, Metadata::created_now(dogpile::WallClock::now())});
    EXPECT_EQ(backend.get("s")->value, scores);
}

// --- round trips ------------------------------------------------------------------------

TEST(RedisBackendRoundTrips, MultiOperationsAreOneRoundTripEach) {
    auto o = options_for(server(), test_prefix());
    auto client = o.client;
    StringBackend backend(o);
    std::vector<std::pair<std::string, Entry>> entries;
    std::vector<std::string> keys;
    for (int i = 0; i < 1000; ++i) {
        keys.push_back("k" + std::to_string(i));
        if (i % 5 != 0) entries.emplace_back(keys.back(), entry("v" + std::to_string(i)));
    }
    raw(server(), {"CONFIG", "RESETSTAT"});
    auto before = client->round_trips();
    backend.set_multi(entries);
    EXPECT_EQ(client->round_trips() - before, 1u);

    before = client->round_trips();
    const auto got = backend.get_multi(keys);
    EXPECT_EQ(client->round_trips() - before, 1u);
    EXPECT_EQ(command_calls(server(), "mget"), 1);
    for (int i = 0; i < 1000; ++i) {
        if (i % 5 == 0) {
            EXPECT_FALSE(got[static_cast<std::size_t>(i)]) << i;
        } else {
            ASSERT_TRUE(got[static_cast<std::size_t>(i)]) << i;
            EXPECT_EQ(got[static_cast<std::size_t>(i)]->value, "v" + std::to_string(i));
        }
    }

    before = client->round_trips();
    backend.erase_multi(keys);
    EXPECT_EQ(client->round_trips() - before, 1u);
    EXPECT_EQ(command_calls(server(), "del"), 1);
    EXPECT_FALSE(backend.get("k1"));

    backend.set("single", entry("x"));
    backend.erase("single");
    EXPECT_FALSE(backend.get("single"));
    EXPECT_TRUE(backend.get_multi({}).empty());
    EXPECT_NO_THROW(backend.set_multi({}));
    EXPECT_NO_THROW(backend.erase_multi({}));
}

// --- the Region on top ----------------------------------------------------------------------

TEST(RedisBackendRegion, GetOrCreateHonoursExpirationAcrossTheStore) {
    ManualClock clock;
    auto backend = std::make_shared<StringBackend>(options_for(server(), test_prefix()));
    RegionOptions options;
    options.expiration_time = std::chrono::seconds(30);
    options.clock = clock.function();
    Region<std::string> region(backend, options);
    int calls = 0;
    auto creator = [&] { return "v" + std::to_string(++calls); };

    EXPECT_EQ(region.get_or_create("k", creator), "v1");
    EXPECT_EQ(region.get_or_create("k", creator), "v1");
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(region.stats().hits, 1u);

    // Another region (another process) sharing the store sees the same value.
    Region<std::string> other(std::make_shared<StringBackend>(options_for(server(), test_prefix())), options);
    EXPECT_EQ(other.get("k"), "v1");

    clock.advance(31s);
    EXPECT_FALSE(region.get("k"));
    EXPECT_EQ(region.get_or_create("k", creator), "v2");
    EXPECT_EQ(other.get("k"), "v2");

    clock.advance(1ms);
    region.invalidate(dogpile::Invalidation::hard);
    EXPECT_EQ(region.get_or_create("k", creator), "v3");

    const auto multi = region.get_or_create_multi({"k", "m1", "m2"}, [&](const std::vector<std::string>& missing) {
        std::vector<std::string> out;
        for (const auto& key : missing) out.push_back("made-" + key);
        return out;
    });
    EXPECT_EQ(multi, (std::vector<std::string>{"v3", "made-m1", "made-m2"}));
    EXPECT_EQ(backend->get("m2")->value, "made-m2");
}

// --- corrupt payloads ----------------------------------------------------------------------------

TEST(RedisBackendCorruptGetMulti, OnlyTheCorruptEntryIsAMissAndItIsReported) {
    std::vector<std::string> reported;
    auto o = options_for(server(), test_prefix());
    o.error_hook = [&](const BackendErrorEvent& e) {
        EXPECT_EQ(e.operation, "get_multi");
        reported.emplace_back(e.message);
    };
    StringBackend backend(o);
    backend.set_multi({{"a", entry("A")}, {"c", entry("C")}});
    raw(server(), {"SET", test_prefix() + "b", bytes({0xc1, 0x01, 0x0d})});
    const auto got = backend.get_multi({"a", "b", "c", "d"});
    EXPECT_EQ(got[0]->value, "A");
    EXPECT_FALSE(got[1]);
    EXPECT_EQ(got[2]->value, "C");
    EXPECT_FALSE(got[3]);
    ASSERT_EQ(reported.size(), 1u);
    EXPECT_NE(reported[0].find(test_prefix() + "b"), std::string::npos) << reported[0];
    EXPECT_EQ(backend.stats().decode_errors, 1u);
}

// --- limits ---------------------------------------------------------------------------------------

TEST(RedisBackendLimits, KeysAndPayloadsOverTheLimits) {
    auto o = options_for(server(), test_prefix());
    o.limits.max_key_bytes = test_prefix().size() + 10;
    o.limits.max_payload_bytes = 64;
    int hooked = 0;
    o.error_hook = [&](const BackendErrorEvent& e) {
        ++hooked;
        EXPECT_THROW(std::rethrow_exception(e.error), LimitExceeded);
    };
    auto backend = std::make_shared<StringBackend>(o);
    const std::string long_key(11, 'k');

    EXPECT_THROW(backend->set(long_key, entry("v")), LimitExceeded);
    EXPECT_THROW(backend->get(long_key), LimitExceeded);
    EXPECT_THROW(backend->set("ok", entry(std::string(100, 'x'))), LimitExceeded);
    EXPECT_THROW(backend->set_multi({{"ok", entry("v")}, {long_key, entry("v")}}), LimitExceeded);
    EXPECT_EQ(raw(server(), {"EXISTS", test_prefix() + "ok"}).integer, 0) << "nothing of a refused batch is written";

    backend->set("ok", entry("v"));
    const auto got = backend->get_multi({long_key, "ok"});
    EXPECT_FALSE(got[0]);
    EXPECT_EQ(got[1]->value, "v");
    EXPECT_EQ(hooked, 1);
    EXPECT_EQ(backend->stats().rejected_keys, 1u);

    raw(server(),
        {"SET", test_prefix() + "big",
         dogpile::codec::envelope::wrap(Metadata{}, MsgpackCodec<std::string>{}.encode(std::string(100, 'y')))});
    const std::string message = message_of<DecodeError>([&] { backend->get("big"); });
    EXPECT_NE(message.find("max_payload_bytes"), std::string::npos) << message;
    Region<std::string> region(backend);
    EXPECT_EQ(region.get_or_create("big", [] { return std::string("small"); }), "small");
    EXPECT_EQ(backend->get("big")->value, "small");
}

// --- lock hook -------------------------------------------------------------------------------------

TEST(RedisBackendLock, ResourceIsThePrefixedKey) {
    auto o = options_for(server(), test_prefix());
    EXPECT_EQ(StringBackend(o).get_mutex("k"), nullptr);
    o.distributed_lock = dogpile::redis::LockOptions{};
    o.distributed_lock->prefix = "lock|";
    StringBackend backend(o);
    EXPECT_EQ(backend.lock_resource("k"), test_prefix() + "k");
    auto mutex = backend.get_mutex("k");
    ASSERT_NE(mutex, nullptr);
    ASSERT_TRUE(mutex->try_lock());
    EXPECT_EQ(raw(server(), {"EXISTS", "lock|" + test_prefix() + "k"}).integer, 1);
    mutex->unlock();
    EXPECT_EQ(raw(server(), {"EXISTS", "lock|" + test_prefix() + "k"}).integer, 0);
}

// --- recovery ----------------------------------------------------------------------------------------

TEST(RedisBackendRecovery, ServerRestartDegradesThenHeals) {
    RedisServer own;
    auto backend = std::make_shared<StringBackend>(options_for(own, ""));
    Region<std::string> region(backend);
    int calls = 0;
    auto creator = [&] { return "v" + std::to_string(++calls); };
    EXPECT_EQ(region.get_or_create("k", creator), "v1");
    own.kill();
    EXPECT_EQ(region.get_or_create("k", creator), "v2");
    EXPECT_GE(region.stats().backend_errors, 1u);
    own.start();
    // Within one probe_interval of the circuit breaker the refused connects opened.
    const bool stored = dogpile::test::wait_for_condition(
        [&] {
            region.get_or_create("k", creator);
            return own.raw({"EXISTS", "k"}).integer == 1;
        },
        30s);
    EXPECT_TRUE(stored);
    const int before = calls;
    region.get_or_create("k", creator);
    EXPECT_EQ(calls, before);
}

}  // namespace
