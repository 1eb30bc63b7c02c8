// The Redis backends configured from settings (backends/redis/config.hpp)
// against a real redis-server: regions built entirely from settings read and
// write through the plain, hash and symmetric stores; the client URL, pool,
// timeouts, client name, codec by name, TTL policies and distributed lock
// reach the backend; a Redis Cluster is reached through cluster_url; and
// every malformed Redis setting (TLS settings without rediss://, a missing url, store
// options that cannot work) is refused naming the key.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>
#include <utility>

#include <dogpile/backends/redis/config.hpp>
#include <dogpile/codec/bitpacked.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/backends/config.hpp>
#include <dogpile/config.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "support/message_of.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::A2BKey;
using dogpile::BackendRegistry;
using dogpile::ConfigurationError;
using dogpile::Duration;
using dogpile::HashKey;
using dogpile::Region;
using dogpile::SettingsMap;
using dogpile::codec::BitpackedCodec;
using dogpile::codec::Flags;
using dogpile::codec::FlagsCodec;
using dogpile::codec::KeyTemplate;
using dogpile::codec::MsgpackCodec;
using dogpile::test::message_of;
using dogpile::test::RawReply;
using dogpile::test::RedisServer;

RedisServer& server() { return RedisServer::shared(); }

std::string test_prefix() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->test_suite_name()) + "." + info->name() + ":";
}

using dogpile::test::contains;

#define EXPECT_CONTAINS(text, part) EXPECT_TRUE(contains(text, part)) << "in: " << (text)

BackendRegistry<std::string> string_registry(dogpile::RedisConfigDefaults defaults = {}) {
    auto registry = dogpile::builtin_backends<std::string>();
    dogpile::register_redis_backends(registry, std::move(defaults));
    return registry;
}

std::string config_error(const SettingsMap& values, const BackendRegistry<std::string>& registry = string_registry()) {
    return message_of<ConfigurationError>(
        [&] { (void)dogpile::region_config_from_settings(values, "cache.", registry); });
}

TEST(RedisConfig, PlainRegionConfiguredEntirelyFromSettings) {
    const std::string prefix = test_prefix();
    const SettingsMap values{{"cache.backend", "redis"},
                             {"cache.expiration_time", "5min"},
                             {"cache.arguments.url", server().url()},
                             {"cache.arguments.key_prefix", prefix},
                             {"cache.arguments.ttl", "1h"},
                             {"cache.arguments.pool_size", "3"},
                             {"cache.arguments.pool_timeout", "750ms"},
                             {"cache.arguments.connect_timeout", "2s"},
                             {"cache.arguments.command_timeout", "1500ms"},
                             {"cache.arguments.client_name", "config-test"},
                             {"cache.arguments.tcp_keepalive", "false"},
                             {"cache.arguments.breaker_failure_threshold", "5"},
                             {"cache.arguments.breaker_probe_interval", "2s"},
                             {"cache.arguments.codec", "msgpack"},
                             {"cache.arguments.max_key_bytes", "4096"}};
    const auto registry = string_registry();
    Region<std::string> writer;
    dogpile::configure_from_config(writer, values, "cache.", registry);
    int calls = 0;
    EXPECT_EQ(writer.get_or_create("k",
                                   [&] {
                                       ++calls;
                                       return std::string("from settings");
                                   }),
              "from settings");

    // Another region (another client) built from the same settings reads it back from Redis.
    Region<std::string> reader;
    dogpile::configure_from_config(reader, values, "cache.", registry);
    EXPECT_EQ(reader.get_or_create("k",
                                   [&] {
                                       ++calls;
                                       return std::string("recomputed");
                                   }),
              "from settings");
    EXPECT_EQ(calls, 1);

    const RawReply ttl = server().raw({"PTTL", prefix + "k"});
    EXPECT_GT(ttl.integer, 3500 * 1000);
    EXPECT_LE(ttl.integer, 3600 * 1000);
    EXPECT_CONTAINS(server().raw({"CLIENT", "LIST"}).str, "name=config-test");

    auto& backend = dynamic_cast<dogpile::RedisBackend<std::string>&>(reader.backend());
    EXPECT_EQ(backend.options().key_prefix, prefix);
    EXPECT_EQ(backend.options().limits.max_key_bytes, 4096u);
    EXPECT_FALSE(backend.options().distributed_lock.has_value());
    auto& client = dynamic_cast<dogpile::redis::SingleServerClient&>(*backend.options().client);
    EXPECT_EQ(client.pool().options().size, 3u);
    EXPECT_EQ(client.pool().options().acquire_timeout, 750ms);
    const auto& connection = client.pool().options().connection;
    EXPECT_EQ(connection.connect_timeout, 2s);
    EXPECT_EQ(connection.command_timeout, 1500ms);
    EXPECT_FALSE(connection.tcp_keepalive);
    EXPECT_EQ(client.pool().options().breaker.failure_threshold, std::optional<std::size_t>(5));
    EXPECT_EQ(client.pool().options().breaker.probe_interval, 2s);
    EXPECT_EQ(reader.options().expiration_time, dogpile::ExpirationTime(5min));
}

TEST(RedisConfig, DistributedLockFromSettings) {
    const std::string prefix = test_prefix();
    const SettingsMap values{{"cache.backend", "redis"},
                             {"cache.arguments.url", server().url()},
                             {"cache.arguments.key_prefix", prefix},
                             {"cache.arguments.distributed_lock", "true"},
                             {"cache.arguments.lock_prefix", prefix + "lock|"},
                             {"cache.arguments.lock_ttl", "5s"},
                             {"cache.arguments.lock_max_wait", "2s"}};
    Region<std::string> region;
    dogpile::configure_from_config(region, values, "cache.", string_registry());
    auto& backend = dynamic_cast<dogpile::RedisBackend<std::string>&>(region.backend());
    ASSERT_TRUE(backend.options().distributed_lock.has_value());
    EXPECT_EQ(backend.options().distributed_lock->prefix, prefix + "lock|");
    EXPECT_EQ(backend.options().distributed_lock->ttl, 5s);
    EXPECT_EQ(backend.options().distributed_lock->max_wait, std::chrono::milliseconds(2s));
    EXPECT_NE(backend.get_mutex("k"), nullptr);
    EXPECT_EQ(region.get_or_create("k", [] { return std::string("locked create"); }), "locked create");
}

TEST(RedisConfig, HashRegionWithACodecChosenByName) {
    const Flags flags{{"read", true}, {"write", false}, {"admin", true}};
    const KeyTemplate key_template = KeyTemplate::of(flags);
    auto registry = dogpile::builtin_backends<Flags, HashKey>();
    dogpile::register_redis_backends(registry, {}, dogpile::named_codec("values", FlagsCodec{key_template}),
                                     dogpile::named_codec("bitpacked", BitpackedCodec{key_template}));
    EXPECT_EQ(registry.names(), (std::set<std::string>{"memory", "null", "redis_hash"}));

    const std::string hash = test_prefix() + "calculated-a|7";
    const SettingsMap values{{"acl.backend", "redis_hash"},
                             {"acl.arguments.url", server().url()},
                             {"acl.arguments.ttl", "1h"},
                             {"acl.arguments.ttl_policy", "refresh_on_write"},
                             {"acl.arguments.payload", "raw"},
                             {"acl.arguments.codec", "bitpacked"},
                             {"acl.arguments.max_fields_per_call", "10"},
                             {"acl.arguments.max_fields_per_read", "20"},
                             {"acl.arguments.whole_hash_reads", "false"}};
    Region<Flags, HashKey> region;
    dogpile::configure_from_config(region, values, "acl.", registry);
    region.set(HashKey{hash, "42"}, flags);
    EXPECT_EQ(server().raw({"HGET", hash, "42"}).str, BitpackedCodec{key_template}.encode(flags));
    EXPECT_EQ(region.get(HashKey{hash, "42"}), flags);
    EXPECT_GT(server().raw({"PTTL", hash}).integer, 0);

    using Bitpacked = dogpile::RedisHashBackend<Flags, BitpackedCodec>;
    auto& backend = dynamic_cast<Bitpacked&>(region.backend());
    EXPECT_EQ(backend.options().ttl, Duration(1h));
    EXPECT_EQ(backend.options().ttl_policy, dogpile::redis::TtlPolicy::refresh_on_write);
    EXPECT_EQ(backend.options().max_fields_per_call, 10u);
    EXPECT_EQ(backend.options().max_fields_per_read, 20u);
    EXPECT_FALSE(backend.options().whole_hash_reads.has_value());

    // Without a codec setting: the first one given.
    const SettingsMap defaults{
        {"acl.backend", "redis_hash"}, {"acl.arguments.url", server().url()}, {"acl.arguments.ttl", "1h"}};
    const auto config = dogpile::region_config_from_settings(defaults, "acl.", registry);
    using Values = dogpile::RedisHashBackend<Flags, FlagsCodec>;
    EXPECT_NE(dynamic_cast<Values*>(config.backend.get()), nullptr);

    SettingsMap unknown_codec = defaults;
    unknown_codec["acl.arguments.codec"] = "json";
    EXPECT_EQ(message_of<ConfigurationError>(
                  [&] { (void)dogpile::region_config_from_settings(unknown_codec, "acl.", registry); }),
              "setting 'acl.arguments.codec' = 'json': expected one of bitpacked, values");

    // The store's own validation (a ttl policy needs a ttl), with the backend and section named.
    const SettingsMap no_ttl{{"acl.backend", "redis_hash"}, {"acl.arguments.url", server().url()}};
    EXPECT_CONTAINS(
        message_of<ConfigurationError>([&] { (void)dogpile::region_config_from_settings(no_ttl, "acl.", registry); }),
        "backend 'redis_hash' (settings 'acl.arguments.*'): ");
}

TEST(RedisConfig, SymmetricRegionFromSettings) {
    const std::string prefix = test_prefix();
    auto registry = dogpile::builtin_backends<std::string, A2BKey>();
    dogpile::register_redis_backends(registry);
    const SettingsMap values{{"pairs.backend", "redis_symmetric"},        {"pairs.expiration_time", "10min"},
                             {"pairs.arguments.url", server().url()},     {"pairs.arguments.ttl", "1h"},
                             {"pairs.arguments.ttl_policy", "on_create"}, {"pairs.arguments.payload", "envelope"},
                             {"pairs.arguments.a_prefix", prefix + "a|"}, {"pairs.arguments.b_prefix", prefix + "b|"},
                             {"pairs.arguments.mode", "per_node"},        {"pairs.arguments.max_pairs_per_call", "50"},
                             {"pairs.arguments.max_pairs_per_read", "60"}};
    Region<std::string, A2BKey> region;
    dogpile::configure_from_config(region, values, "pairs.", registry);
    int calls = 0;
    EXPECT_EQ(region.get_or_create(A2BKey{"u1", "o1"},
                                   [&] {
                                       ++calls;
                                       return std::string("granted");
                                   }),
              "granted");
    EXPECT_EQ(region.get_or_create(A2BKey{"u1", "o1"},
                                   [&] {
                                       ++calls;
                                       return std::string("again");
                                   }),
              "granted");
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(server().raw({"HEXISTS", prefix + "a|u1", "o1"}).integer, 1);
    EXPECT_EQ(server().raw({"HEXISTS", prefix + "b|o1", "u1"}).integer, 1);

    auto& backend = dynamic_cast<dogpile::RedisSymmetricBackend<std::string>&>(region.backend());
    EXPECT_EQ(backend.options().mode, dogpile::redis::SymmetricMode::per_node);
    EXPECT_EQ(backend.options().payload, dogpile::redis::PayloadMode::envelope);
    EXPECT_EQ(backend.options().max_pairs_per_call, 50u);
    EXPECT_EQ(backend.options().max_pairs_per_read, 60u);
}

// A plain backend at the test server, with `extra` settings.
SettingsMap plain_at_server(SettingsMap extra) {
    extra.emplace("cache.backend", "redis");
    extra.emplace("cache.arguments.url", server().url());
    return extra;
}

// TLS through settings works end to end in test_redis_tls_connection.cpp;
// here, the refusals.
TEST(RedisConfig, BadTlsUrlIsRefusedNamingTheSetting) {
    const std::string message =
        config_error({{"cache.backend", "redis"},
                      {"cache.arguments.url", "rediss://:secret@cache.example:6380?ca_file=/no/such.pem"}});
    EXPECT_CONTAINS(message, "setting 'cache.arguments.url' is refused: ");
    EXPECT_CONTAINS(message, "ca_file '/no/such.pem' does not exist");
    EXPECT_FALSE(contains(message, "secret")) << message;
}

TEST(RedisConfig, TlsSettingsNeedARedissUrl) {
    EXPECT_CONTAINS(config_error(plain_at_server({{"cache.arguments.tls.ca_file", "/etc/ssl/ca.pem"}})),
                    "setting 'cache.arguments.tls.ca_file' is a TLS setting: the url must be rediss://");
    EXPECT_CONTAINS(config_error({{"cache.backend", "redis"},
                                  {"cache.arguments.url", "rediss://cache.example:6380"},
                                  {"cache.arguments.tls.min_protocol", "1.1"}}),
                    "setting 'cache.arguments.tls.min_protocol' = '1.1': expected one of 1.2, 1.3");
    EXPECT_CONTAINS(config_error({{"cache.backend", "redis"},
                                  {"cache.arguments.url", "rediss://cache.example:6380"},
                                  {"cache.arguments.tls.cert_file", "/no/such/client.pem"}}),
                    "settings 'cache.arguments.*' (Redis client): ");
    EXPECT_CONTAINS(config_error({{"cache.backend", "redis"},
                                  {"cache.arguments.url", "rediss://cache.example:6380"},
                                  {"cache.arguments.tls.ca_fil", "/etc/ssl/ca.pem"}}),
                    "unknown setting 'cache.arguments.tls.ca_fil'");
}

TEST(RedisConfig, MalformedClientSettingsNameTheKey) {
    EXPECT_EQ(
        config_error({{"cache.backend", "redis"}}),
        "setting 'cache.arguments.url' is required: expected redis://[[user]:password@]host[:port][/db] or "
        "unix:///path/to.sock (or cache.arguments.cluster_url = redis://host:port,host:port for a Redis Cluster)");
    EXPECT_EQ(config_error(plain_at_server({{"cache.arguments.cluster_url", "redis://127.0.0.1:7000"}})),
              "setting 'cache.arguments.cluster_url' and cache.arguments.url are both set: expected one of them");
    EXPECT_CONTAINS(
        config_error({{"cache.backend", "redis"}, {"cache.arguments.cluster_url", "redis://127.0.0.1:7000/2"}}),
        "setting 'cache.arguments.cluster_url' is refused: ");
    EXPECT_CONTAINS(config_error({{"cache.backend", "redis"},
                                  {"cache.arguments.cluster_url", "rediss://127.0.0.1:7000?min_tls=1.1"}}),
                    "setting 'cache.arguments.cluster_url' is refused: ");
    EXPECT_CONTAINS(config_error(plain_at_server({{"cache.arguments.url", "http://x"}})),
                    "setting 'cache.arguments.url' is refused: ");
    EXPECT_CONTAINS(config_error(plain_at_server({{"cache.arguments.pool_size", "0"}})),
                    "setting 'cache.arguments.pool_size' = '0': expected a whole number from 1 to 100000");
    EXPECT_CONTAINS(config_error(plain_at_server({{"cache.arguments.command_timeout", "fast"}})),
                    "setting 'cache.arguments.command_timeout' = 'fast': expected a duration");
    EXPECT_CONTAINS(config_error(plain_at_server({{"cache.arguments.command_timeout", "0ms"}})),
                    "settings 'cache.arguments.*' (Redis client): ");
    EXPECT_CONTAINS(config_error(plain_at_server({{"cache.arguments.ttl_policy", "none"}})),
                    "unknown setting 'cache.arguments.ttl_policy' (expected one of: ");
    EXPECT_CONTAINS(config_error(plain_at_server({{"cache.arguments.codec", "pickle"}})),
                    "setting 'cache.arguments.codec' = 'pickle': expected one of msgpack");
    EXPECT_EQ(config_error(plain_at_server({{"cache.arguments.lock_ttl", "5s"}})),
              "setting 'cache.arguments.lock_ttl' needs cache.arguments.distributed_lock = true");
}

TEST(RedisConfig, SharedClientFromDefaults) {
    dogpile::RedisConfigDefaults defaults;
    defaults.client = dogpile::redis::make_client(server().url());
    const auto registry = string_registry(defaults);
    const std::string prefix = test_prefix();
    const SettingsMap values{{"cache.backend", "redis"}, {"cache.arguments.key_prefix", prefix}};
    Region<std::string> region;
    dogpile::configure_from_config(region, values, "cache.", registry);
    region.set("k", "shared");
    EXPECT_EQ(dynamic_cast<dogpile::RedisBackend<std::string>&>(region.backend()).options().client, defaults.client);
    EXPECT_EQ(server().raw({"EXISTS", prefix + "k"}).integer, 1);
    // The client keys belong to a url: without one they are unknown.
    EXPECT_CONTAINS(config_error({{"cache.backend", "redis"}, {"cache.arguments.pool_size", "4"}}, registry),
                    "unknown setting 'cache.arguments.pool_size'");
}

TEST(RedisConfig, BreakerFromSettingsReportsToTheDefaultsErrorHook) {
    dogpile::RedisConfigDefaults defaults;
    std::vector<std::string> reported;
    defaults.error_hook = [&](const dogpile::BackendErrorEvent& e) { reported.emplace_back(e.operation); };
    const auto registry = string_registry(defaults);
    Region<std::string> region;
    dogpile::configure_from_config(
        region, SettingsMap{{"cache.backend", "redis"}, {"cache.arguments.url", server().url()}}, "cache.", registry);
    auto& client = dynamic_cast<dogpile::redis::SingleServerClient&>(
        *dynamic_cast<dogpile::RedisBackend<std::string>&>(region.backend()).options().client);
    const auto& breaker = client.pool().options().breaker;
    ASSERT_TRUE(breaker.on_state_change) << "the breaker must be wired to RedisConfigDefaults::error_hook";
    breaker.on_state_change(dogpile::redis::BreakerEvent{dogpile::redis::BreakerState::closed,
                                                         dogpile::redis::BreakerState::open, "x", "test", 1});
    EXPECT_EQ(reported, std::vector<std::string>{"circuit_breaker"});

    Region<std::string> unbroken;
    dogpile::configure_from_config(unbroken,
                                   SettingsMap{{"cache.backend", "redis"},
                                               {"cache.arguments.url", server().url()},
                                               {"cache.arguments.breaker", "false"}},
                                   "cache.", registry);
    auto& unbroken_client = dynamic_cast<dogpile::redis::SingleServerClient&>(
        *dynamic_cast<dogpile::RedisBackend<std::string>&>(unbroken.backend()).options().client);
    EXPECT_FALSE(unbroken_client.pool().options().breaker.failure_threshold.has_value());
}

TEST(RedisConfig, ClusterRegionFromSettings) {
    dogpile::test::RedisCluster& cluster = dogpile::test::RedisCluster::shared();
    auto registry = dogpile::builtin_backends<std::string, HashKey>();
    dogpile::register_redis_backends(registry);
    const SettingsMap values{{"acl.backend", "redis_hash"},
                             {"acl.arguments.cluster_url", cluster.url() + "?connect_timeout=5000"},
                             {"acl.arguments.command_timeout", "5s"},
                             {"acl.arguments.pool_timeout", "5s"},
                             {"acl.arguments.pool_size", "2"},
                             {"acl.arguments.read_from", "primary"},
                             {"acl.arguments.ttl", "1h"}};
    Region<std::string, HashKey> region;
    dogpile::configure_from_config(region, values, "acl.", registry);
    const std::string hash = test_prefix() + "calculated-a|7";
    int calls = 0;
    EXPECT_EQ(region.get_or_create(HashKey{hash, "42"},
                                   [&] {
                                       ++calls;
                                       return std::string("on the cluster");
                                   }),
              "on the cluster");
    EXPECT_EQ(region.get(HashKey{hash, "42"}), "on the cluster");
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(cluster.raw_for_key(hash, {"HGET", hash, "42"}).str,
              MsgpackCodec<std::string>{}.encode("on the cluster"));

    auto& backend = dynamic_cast<dogpile::RedisHashBackend<std::string>&>(region.backend());
    EXPECT_NE(dynamic_cast<dogpile::redis::ClusterClient*>(backend.options().client.get()), nullptr);
    const auto connection = backend.options().client->connection_options(hash);
    EXPECT_EQ(connection.connect_timeout, 5s);
    EXPECT_EQ(connection.command_timeout, 5s);
}

}  // namespace
