// SentinelClient over TLS: a master, a replica and three sentinels that all
// listen on TLS ports only, with `tls-replication yes` (replication, the
// sentinels' monitoring and their hello messages over TLS). A Region over the
// hash store works through the sentinels; a failover is followed to the new
// master over TLS (the +switch-master subscription is a TLS connection too);
// a plaintext client gets an IoError, not a hang.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis/sentinel.hpp>
#include <dogpile/region.hpp>

#include "support/message_of.hpp"
#include "support/redis_sentinel.hpp"
#include "support/tls_certificates.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::HashKey;
using dogpile::redis::IoError;
using dogpile::redis::SentinelClient;
using dogpile::redis::SentinelOptions;
using dogpile::test::message_of;
using dogpile::test::RedisSentinelGroup;
using dogpile::test::RedisSentinelOptions;
using dogpile::test::TlsCertificates;

using HashRegion = dogpile::Region<std::string, HashKey>;
using HashBackend = dogpile::RedisHashBackend<std::string>;

RedisSentinelOptions tls_group_options() {
    const TlsCertificates& certificates = TlsCertificates::shared();
    RedisSentinelOptions o;
    o.tls = dogpile::test::RedisServerOptions::Tls{certificates.server_cert(), certificates.server_key(),
                                                   certificates.ca_file()};
    return o;
}

std::shared_ptr<HashBackend> hash_backend(std::shared_ptr<SentinelClient> client) {
    dogpile::RedisHashBackendOptions options;
    options.client = std::move(client);
    options.ttl = std::chrono::hours(1);
    return std::make_shared<HashBackend>(options);
}

RedisSentinelGroup& shared_group() {
    static RedisSentinelGroup group(tls_group_options());
    return group;
}

TEST(TlsSentinel, SentinelsNameTheMastersTlsPort) {
    auto& group = shared_group();
    // Only TLS ports exist: the sentinels learned the master and each other
    // over TLS, and name the port the client must reach with TLS.
    EXPECT_EQ(group.master_port_per_sentinel(0), std::optional<int>(group.data_node(0).port()));
    SentinelClient client(group.client_options());
    ASSERT_TRUE(client.master().has_value());
    EXPECT_EQ(client.master()->port, group.data_node(0).port());
}

TEST(TlsSentinel, HashStoreRegionOverTls) {
    auto& group = shared_group();
    auto client = std::make_shared<SentinelClient>(group.client_options());
    HashRegion region(hash_backend(client));
    int calls = 0;
    for (int i = 0; i < 5; ++i) {
        const HashKey key{"tls-sentinel|" + std::to_string(i), "f"};
        EXPECT_EQ(region.get_or_create(key,
                                       [&] {
                                           ++calls;
                                           return "v" + std::to_string(i);
                                       }),
                  "v" + std::to_string(i));
        EXPECT_EQ(region.get_or_create(key,
                                       [&] {
                                           ++calls;
                                           return std::string("again");
                                       }),
                  "v" + std::to_string(i));
    }
    EXPECT_EQ(calls, 5);
    EXPECT_EQ(group.data_node(0).raw({"HEXISTS", "tls-sentinel|3", "f"}).integer, 1);
    EXPECT_EQ(client->stats().master_changes, 0u);
}

TEST(TlsSentinel, PlaintextClientGetsAnIoError) {
    auto& group = shared_group();
    SentinelOptions plain = group.client_options();
    plain.sentinel_connection.tls.reset();
    plain.pool.connection.tls.reset();
    plain.sentinel_connection.connect_timeout = 1000ms;
    plain.sentinel_connection.command_timeout = 1000ms;
    SentinelClient client(plain);
    EXPECT_FALSE(client.master().has_value());
    const std::string message = message_of<IoError>([&] { client.command("k", {"GET", "k"}); });
    EXPECT_NE(message.find("no master known"), std::string::npos) << message;
    EXPECT_NE(message.find("is this a TLS port?"), std::string::npos) << message;

    // TLS to the sentinels but not to the master: the master's TLS port
    // refuses the plaintext connection, again an IoError.
    SentinelOptions plain_data = group.client_options();
    plain_data.pool.connection.tls.reset();
    plain_data.pool.connection.connect_timeout = 1000ms;
    plain_data.pool.connection.command_timeout = 1000ms;
    SentinelClient mixed(plain_data);
    const std::string mixed_message = message_of<IoError>([&] { mixed.command("k", {"GET", "k"}); });
    EXPECT_NE(mixed_message.find("is this a TLS port?"), std::string::npos) << mixed_message;
}

// SENTINEL FAILOVER: the subscribed client hears +switch-master on its TLS
// subscription and writes to the promoted replica over TLS.
TEST(TlsSentinelFailover, FollowsAFailoverToTheNewMasterOverTls) {
    RedisSentinelGroup group(tls_group_options());
    auto client = std::make_shared<SentinelClient>(group.client_options());
    HashRegion region(hash_backend(client));
    int calls = 0;
    const HashKey before{"tls-failover|before", "f"};
    EXPECT_EQ(region.get_or_create(before,
                                   [&] {
                                       ++calls;
                                       return std::string("before");
                                   }),
              "before");
    ASSERT_EQ(group.master_index(), std::optional<std::size_t>(0));

    ASSERT_EQ(group.sentinel(0).raw({"SENTINEL", "FAILOVER", group.group_options().master_name}).str, "OK");
    const std::size_t promoted = group.wait_for_new_master(0, 30s);
    const int promoted_port = group.data_node(promoted).port();
    dogpile::test::RedisCluster::wait_for([&] { return client->master()->port == promoted_port; }, 10s,
                                          "the client to switch to the promoted replica");
    EXPECT_GE(client->stats().switch_notices, 1u);

    const HashKey after{"tls-failover|after", "f"};
    EXPECT_EQ(region.get_or_create(after,
                                   [&] {
                                       ++calls;
                                       return std::string("after");
                                   }),
              "after");
    EXPECT_EQ(group.data_node(promoted).raw({"HEXISTS", "tls-failover|after", "f"}).integer, 1);
    // Replicated over TLS before the failover, read from the new master.
    EXPECT_EQ(region.get_or_create(before,
                                   [&] {
                                       ++calls;
                                       return std::string("recreated");
                                   }),
              "before");
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(client->stats().master_changes, 1u);
}

}  // namespace
