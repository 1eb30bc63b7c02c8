// ClusterClient over TLS: a 3 + 3 Redis Cluster whose nodes listen on TLS
// ports only, with `tls-cluster yes` (the cluster bus, replication, MIGRATE
// and the ports in CLUSTER SLOTS and MOVED are TLS). A rediss:// cluster URL
// builds a client; a Region over the hash store spreads its keys over
// several masters; a MOVED redirection is followed to the new owner over TLS;
// a plaintext client gets an IoError, not a hang.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>

#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis/cluster.hpp>
#include <dogpile/redis/slot.hpp>
#include <dogpile/region.hpp>

#include "support/message_of.hpp"
#include "support/redis_cluster.hpp"
#include "support/tls_certificates.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::HashKey;
using dogpile::redis::ClusterClient;
using dogpile::redis::ClusterOptions;
using dogpile::redis::IoError;
using dogpile::test::message_of;
using dogpile::test::RedisCluster;
using dogpile::test::RedisClusterOptions;
using dogpile::test::TlsCertificates;

using HashRegion = dogpile::Region<std::string, HashKey>;
using HashBackend = dogpile::RedisHashBackend<std::string>;

RedisCluster& cluster() {
    static RedisCluster tls_cluster([] {
        const TlsCertificates& certificates = TlsCertificates::shared();
        RedisClusterOptions o;
        o.tls = dogpile::test::RedisServerOptions::Tls{certificates.server_cert(), certificates.server_key(),
                                                       certificates.ca_file()};
        o.tls_bus_cert_file = certificates.client_cert();
        o.tls_bus_key_file = certificates.client_key();
        return o;
    }());
    return tls_cluster;
}

TEST(TlsCluster, SlotMapNamesTheTlsPorts) {
    // Nodes have no plaintext TCP port: every port CLUSTER SLOTS names (the
    // ones the client connects to) must be a node's TLS port.
    std::set<int> tls_ports;
    for (std::size_t i = 0; i < cluster().size(); ++i) tls_ports.insert(cluster().node(i).port());
    const dogpile::test::RawReply slots = cluster().raw(0, {"CLUSTER", "SLOTS"});
    ASSERT_FALSE(slots.elements.empty());
    for (const auto& range : slots.elements) {
        for (std::size_t n = 2; n < range.elements.size(); ++n) {
            EXPECT_EQ(tls_ports.count(static_cast<int>(range.elements[n].elements.at(1).integer)), 1u);
        }
    }
}

TEST(TlsCluster, RedissUrlBuildsAClusterClient) {
    const std::string url = cluster().url();
    ASSERT_EQ(url.rfind("rediss://", 0), 0u) << url;
    ClusterOptions options = ClusterOptions::from_url(url);
    ASSERT_TRUE(options.pool.connection.tls.has_value());
    EXPECT_EQ(options.seeds.size(), cluster().size());
    ClusterClient client(options);
    EXPECT_TRUE(client.command("tls-url", {"SET", "tls-url", "v"}).is_ok());
    EXPECT_EQ(client.command("tls-url", {"GET", "tls-url"}).as_string(), "v");
    EXPECT_EQ(cluster().raw_for_key("tls-url", {"GET", "tls-url"}).str, "v");
}

TEST(TlsCluster, HashStoreRegionOnSeveralNodes) {
    auto client = std::make_shared<ClusterClient>(cluster().client_options());
    dogpile::RedisHashBackendOptions options;
    options.client = client;
    options.ttl = std::chrono::hours(1);
    HashRegion region(std::make_shared<HashBackend>(options));
    int calls = 0;
    std::set<std::size_t> masters_used;
    for (int i = 0; i < 30; ++i) {
        const HashKey key{"tls-cluster|" + std::to_string(i), "f"};
        const std::string value = "v" + std::to_string(i);
        EXPECT_EQ(region.get_or_create(key,
                                       [&] {
                                           ++calls;
                                           return value;
                                       }),
                  value);
        EXPECT_EQ(region.get_or_create(key,
                                       [&] {
                                           ++calls;
                                           return std::string("again");
                                       }),
                  value);
        EXPECT_EQ(cluster().raw_for_key(key.hash, {"HEXISTS", key.hash, "f"}).integer, 1);
        masters_used.insert(cluster().master_index_for_key(key.hash));
    }
    EXPECT_EQ(calls, 30);
    EXPECT_GE(masters_used.size(), 2u);
    EXPECT_EQ(client->stats().moved, 0u);
}

TEST(TlsCluster, MovedIsFollowedOverTls) {
    constexpr int slot = 4242;
    const std::string tag = "{" + RedisCluster::tag_for_slot(slot) + "}";
    ClusterOptions o = cluster().client_options();
    o.refresh_interval = 0ms;
    auto client = std::make_shared<ClusterClient>(o);
    EXPECT_TRUE(client->command(tag + "k", {"SET", tag + "k", "v"}).is_ok());
    const std::size_t from = cluster().master_index_for_slot(slot);
    std::size_t to = from;
    for (std::size_t m : cluster().masters()) {
        if (m != from) to = m;
    }
    ASSERT_NE(to, from);
    cluster().move_slot(slot, to);  // MIGRATE between TLS-only nodes
    EXPECT_EQ(client->master_of(tag + "k")->port, cluster().node(from).port()) << "the client's map is stale";

    EXPECT_EQ(client->command(tag + "k", {"GET", tag + "k"}).as_string(), "v");
    EXPECT_EQ(client->stats().moved, 1u);
    EXPECT_EQ(client->master_of(tag + "k")->port, cluster().node(to).port());
}

TEST(TlsCluster, PlaintextClientGetsAnIoError) {
    ClusterOptions o = cluster().client_options();
    o.pool.connection.tls.reset();
    o.pool.connection.connect_timeout = 1000ms;
    o.pool.connection.command_timeout = 1000ms;
    ClusterClient client(o);
    const std::string message = message_of<IoError>([&] { client.command("k", {"GET", "k"}); });
    EXPECT_NE(message.find("is this a TLS port?"), std::string::npos) << message;
}

}  // namespace
