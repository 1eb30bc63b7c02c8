// SentinelClient against real servers: one master, one replica and three
// sentinels. Discovery (with the ROLE check), failures before discovery, and
// failovers followed without a restart: a manual SENTINEL FAILOVER, and a
// SIGKILLed master under load (the errors' kinds checked, time to recovery
// reported).

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis/sentinel.hpp>
#include <dogpile/region.hpp>

#include "support/failover_load.hpp"
#include "support/redis_sentinel.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::ConfigurationError;
using dogpile::HashKey;
using dogpile::redis::IoError;
using dogpile::redis::NodeAddress;
using dogpile::redis::SentinelClient;
using dogpile::redis::SentinelOptions;
using dogpile::test::ErrorTally;
using dogpile::test::Prober;
using dogpile::test::RedisSentinelGroup;

using Clock = std::chrono::steady_clock;
using HashRegion = dogpile::Region<std::string, HashKey>;
using HashBackend = dogpile::RedisHashBackend<std::string>;

RedisSentinelGroup& shared_group() {
    static RedisSentinelGroup group;
    return group;
}

std::string expected_value(const HashKey& key) { return "value-of-" + key.hash + "/" + key.field; }

std::vector<HashKey> hash_keys(std::size_t hashes, std::size_t fields) {
    std::vector<HashKey> out;
    for (std::size_t h = 0; h < hashes; ++h) {
        for (std::size_t f = 0; f < fields; ++f)
            out.push_back(HashKey{"calculated-a|" + std::to_string(h), std::to_string(f)});
    }
    return out;
}

TEST(SentinelOptionsTest, RejectsWhatCannotWork) {
    SentinelOptions o;
    EXPECT_THROW(o.validate(), ConfigurationError);
    o.master_name = "m";
    EXPECT_THROW(o.validate(), ConfigurationError);  // no sentinels
    o.sentinels = {NodeAddress{"127.0.0.1", 26379}};
    o.validate();
    o.sentinels.push_back(NodeAddress{"127.0.0.1", 0});
    EXPECT_THROW(o.validate(), ConfigurationError);
    o.sentinels.pop_back();
    o.pool.size = 0;
    EXPECT_THROW(SentinelClient{o}, ConfigurationError);
}

TEST(SentinelClientTest, DiscoversTheMasterAndWritesThere) {
    auto& group = shared_group();
    SentinelClient client(group.client_options());
    ASSERT_TRUE(client.master().has_value());
    EXPECT_EQ(client.master()->port, group.data_node(0).port());
    EXPECT_TRUE(client.command("s:k", {"SET", "s:k", "v"}).is_ok());
    EXPECT_EQ(group.data_node(0).raw({"GET", "s:k"}).str, "v");
    EXPECT_EQ(client.command("s:k", {"GET", "s:k"}).as_string(), "v");
    EXPECT_EQ(client.stats().discoveries, 1u);
    // The shared group's down-after is 30 s (RedisSentinelOptions), so a
    // loaded machine does not fail its master over under these tests.
    EXPECT_EQ(client.stats().master_changes, 0u)
        << "the sentinels now name port " << group.master_port_per_sentinel(0).value_or(-1) << ", node 0 is on "
        << group.data_node(0).port();

    // Any sentinel will do, even when the first listed is down.
    SentinelOptions o = group.client_options();
    o.sentinels.insert(o.sentinels.begin(),
                       NodeAddress{"127.0.0.1", dogpile::test::redis_server_details::pick_free_port()});
    SentinelClient second(o);
    EXPECT_EQ(second.command("s:k", {"GET", "s:k"}).as_string(), "v");
}

TEST(SentinelClientTest, UnknownMasterNameFailsOnUseWithTheReason) {
    SentinelOptions o = shared_group().client_options();
    o.master_name = "no-such-master";
    SentinelClient client(o);
    EXPECT_FALSE(client.master().has_value());
    try {
        client.command("k", {"GET", "k"});
        ADD_FAILURE() << "a command ran without a master";
    } catch (const IoError& e) {
        EXPECT_NE(std::string(e.what()).find("does not know 'no-such-master'"), std::string::npos) << e.what();
    }
}

TEST(SentinelClientTest, UnreachableSentinelsFailOnUse) {
    SentinelOptions o;
    o.master_name = "m";
    o.sentinels = {NodeAddress{"127.0.0.1", dogpile::test::redis_server_details::pick_free_port()}};
    SentinelClient client(o);
    EXPECT_THROW(client.command("k", {"GET", "k"}), IoError);
    EXPECT_FALSE(client.rediscover());
}

// SENTINEL FAILOVER promotes the replica while the old master is still up
// (the sentinels reconfigure it only when they next look at it, up to 10 s
// later). A subscribed client switches on the +switch-master message; one
// that only reacts to errors switches when the old master refuses writes
// (READONLY) or a new connection's ROLE check fails.
TEST(SentinelFailover, FollowsAManualFailover) {
    RedisSentinelGroup group;
    auto subscribed = std::make_shared<SentinelClient>(group.client_options());
    SentinelOptions on_error_options = group.client_options();
    on_error_options.watch = dogpile::redis::MasterWatch::on_error;
    auto on_error = std::make_shared<SentinelClient>(on_error_options);
    EXPECT_TRUE(subscribed->command("f:k", {"SET", "f:k", "before"}).is_ok());
    EXPECT_EQ(on_error->command("f:k", {"GET", "f:k"}).as_string(), "before");
    ASSERT_EQ(group.master_index(), std::optional<std::size_t>(0));

    ASSERT_EQ(group.sentinel(0).raw({"SENTINEL", "FAILOVER", group.group_options().master_name}).str, "OK");
    const std::size_t promoted = group.wait_for_new_master(0, 30s);
    const int promoted_port = group.data_node(promoted).port();

    dogpile::test::RedisCluster::wait_for([&] { return subscribed->master()->port == promoted_port; }, 10s,
                                          "the subscribed client to switch");
    EXPECT_GE(subscribed->stats().switch_notices, 1u);
    for (int i = 0; i < 10; ++i) {
        const std::string k = "f:after" + std::to_string(i);
        EXPECT_TRUE(subscribed->command(k, {"SET", k, "x"}).is_ok());
        EXPECT_EQ(group.data_node(promoted).raw({"GET", k}).str, "x");
    }
    EXPECT_EQ(subscribed->command("f:k", {"GET", "f:k"}).as_string(), "before");
    EXPECT_EQ(subscribed->stats().master_changes, 1u);

    // What the sentinels will do to the old master, done now.
    EXPECT_EQ(on_error->master()->port, group.data_node(0).port()) << "nothing told it yet";
    ASSERT_EQ(group.data_node(0).raw({"REPLICAOF", "127.0.0.1", std::to_string(promoted_port)}).str, "OK");
    EXPECT_TRUE(on_error->command("f:late", {"SET", "f:late", "y"}).is_ok());
    EXPECT_EQ(group.data_node(promoted).raw({"GET", "f:late"}).str, "y");
    EXPECT_EQ(on_error->master()->port, promoted_port);
    EXPECT_EQ(on_error->stats().master_changes, 1u);
    EXPECT_GE(on_error->stats().retried, 1u);
    EXPECT_EQ(on_error->stats().switch_notices, 0u);
}

// The master dies under load. The sentinels may fail it over only once the
// region and a probe have seen the outage (connection refused: down-after is
// 30 s until then, 1 s after). The region keeps answering (degrading to the
// creator while there is no master, never throwing, never answering wrong),
// the client follows the promoted replica by itself, and then errors stop and
// the load is served from Redis again.
TEST(SentinelFailover, SigkillOfTheMasterUnderLoad) {
    RedisSentinelGroup group;
    SentinelOptions o = group.client_options();
    o.pool.connection.connect_timeout = 200ms;
    o.pool.connection.command_timeout = 200ms;
    auto client = std::make_shared<SentinelClient>(o);

    ErrorTally errors;
    dogpile::RegionOptions region_options;
    region_options.error_hook = errors.hook();
    HashRegion region(std::make_shared<HashBackend>(dogpile::RedisHashBackendOptions{client, std::chrono::hours(1)}),
                      region_options);
    const auto keys = hash_keys(20, 10);
    // Served from Redis before the fault (a pass that a 200 ms timeout on a
    // loaded machine spoiled is repeated; a region that misses fails each).
    ASSERT_EQ(dogpile::test::serves_from_redis(region, keys, expected_value, 5), "") << errors.summary();
    const auto errors_before_kill = errors.total();

    dogpile::test::RegionLoad<HashRegion, HashKey> load(region, keys, 8, expected_value);
    Prober probe([&] { client->command("probe", {"SET", "probe", "1"}); });
    dogpile::test::RedisCluster::wait_for([&] { return load.calls() > 500; }, 10s, "load to run");

    group.data_node(0).kill();
    const auto killed_at = Clock::now();  // the process is reaped: nothing it answers comes later
    const std::string refused = "IoError (connect refused)";
    dogpile::test::RedisCluster::wait_for(
        [&] { return errors.count(refused) > 0 && probe.errors().count(refused) > 0; }, 20s,
        "the region and the probe to see the dead master refuse connections");
    const auto released_at = Clock::now();
    group.set_down_after(1000ms);
    const std::size_t promoted = group.wait_for_new_master(0, 60s);
    const auto promoted_at = Clock::now();
    dogpile::test::RedisCluster::wait_for(
        [&] {
            return probe.first_success_after(promoted_at).has_value() &&
                   client->master()->port == group.data_node(promoted).port();
        },
        30s, "the client to use the promoted replica");
    const auto recovered_at = *probe.first_success_after(killed_at);
    // Errors stop and hits resume on the new master.
    const std::string quiet = dogpile::test::wait_for_quiet_window(region, load, errors, 2000, 60s);
    load.stop();
    probe.stop();

    EXPECT_EQ(load.wrong(), 0u) << load.first_wrong();
    EXPECT_EQ(load.exceptions(), 0u) << "the region must degrade, not throw";
    EXPECT_EQ(quiet, "") << "errors did not stop, or hits did not resume, after the promotion";
    EXPECT_TRUE(recovered_at >= released_at)
        << "a probe succeeded " << dogpile::test::ms_between(recovered_at, released_at)
        << " ms before the sentinels could fail the dead master over";
    EXPECT_GT(errors.total(), errors_before_kill) << "the outage should have been seen";
    // What else the outage may show: connections cut by the kill, and
    // timeouts a loaded machine may cause.
    const std::set<std::string> allowed{refused, "IoError (connection lost)", "TimeoutError", "PoolTimeout"};
    EXPECT_EQ(errors.kinds_outside(allowed), "") << "unexpected kinds of error: " << errors.summary();
    EXPECT_EQ(probe.errors().kinds_outside(allowed), "") << probe.errors().summary();
    EXPECT_EQ(client->master()->port, group.data_node(promoted).port());
    // One replica: once it is promoted there is nothing left to fail over to.
    EXPECT_EQ(client->stats().master_changes, 1u);

    EXPECT_EQ(dogpile::test::serves_from_redis(region, keys, expected_value, 5), "")
        << "after recovery; backend errors: " << errors.summary();

    std::cout << "[ sentinel ] SIGKILL master: outage seen after " << dogpile::test::ms_between(killed_at, released_at)
              << " ms (down-after set to 1000 ms then); sentinels promoted the replica after "
              << dogpile::test::ms_between(killed_at, promoted_at)
              << " ms; client recovered (first probe success) after "
              << dogpile::test::ms_between(killed_at, recovered_at) << " ms; region calls " << load.calls()
              << ", creator runs " << load.creations() << "; backend errors seen by the region: " << errors.summary()
              << "; by the probe: " << probe.errors().summary() << std::endl;
    RecordProperty("promotion_ms", std::to_string(dogpile::test::ms_between(killed_at, promoted_at)));
    RecordProperty("recovery_ms", std::to_string(dogpile::test::ms_between(killed_at, recovered_at)));
}

}  // namespace
