// ClusterClient against a real 3-master, 3-replica Redis Cluster: slot
// hashing checked against the server, topology discovery, routing, batches
// that cost one round trip per node, split multi-key commands, MOVED / ASK /
// TRYAGAIN / CLUSTERDOWN handling, scripts (NOSCRIPT per node), AUTH/ACL,
// replica reads, options and URLs.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/redis.hpp>
#include <dogpile/redis/cluster.hpp>
#include <dogpile/redis/lock.hpp>
#include <dogpile/redis/slot.hpp>

#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::ConfigurationError;
using dogpile::redis::AuthError;
using dogpile::redis::ClusterClient;
using dogpile::redis::ClusterOptions;
using dogpile::redis::Command;
using dogpile::redis::Connection;
using dogpile::redis::IoError;
using dogpile::redis::KeyedCommand;
using dogpile::redis::NodeAddress;
using dogpile::redis::ReadFrom;
using dogpile::redis::Reply;
using dogpile::redis::ReplyError;
using dogpile::redis::Script;
using dogpile::redis::ScriptCall;
using dogpile::redis::key_slot;
using dogpile::test::RawReply;
using dogpile::test::RedisCluster;
using dogpile::test::RedisClusterOptions;

RedisCluster& cluster() { return RedisCluster::shared(); }

// Every test on the shared cluster starts from a converged one (see
// RedisCluster::divergence): the redirection tests move a slot about, and a
// test that ran right after one must not see the nodes still disagreeing.
class OnConvergedCluster : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_NO_THROW(cluster().wait_until_healthy()) << "the cluster a test starts from"; }
};
using ClusterClientTopology = OnConvergedCluster;
using ClusterClientRouting = OnConvergedCluster;
using ClusterClientScripts = OnConvergedCluster;
using ClusterClientLock = OnConvergedCluster;
using ClusterClientReplicas = OnConvergedCluster;

std::shared_ptr<ClusterClient> make_client(ClusterOptions options = cluster().client_options()) {
    return std::make_shared<ClusterClient>(std::move(options));
}

// Keys spread over every master: "<prefix>0", "<prefix>1", ...
std::vector<std::string> keys_named(const std::string& prefix, std::size_t n) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
    return out;
}

std::uint64_t get_calls(const RedisCluster& c, std::size_t node) {
    const auto stats = dogpile::test::redis_cluster_details::info_fields(c.raw(node, {"INFO", "commandstats"}).str);
    const auto it = stats.find("cmdstat_get");
    if (it == stats.end()) return 0;
    return std::stoull(it->second.substr(it->second.find('=') + 1));
}

// ---------------------------------------------------------------- slots

TEST(ClusterSlot, Crc16KnownVectors) {
    EXPECT_EQ(dogpile::redis::crc16("123456789"), 0x31C3);
    EXPECT_EQ(dogpile::redis::crc16(""), 0);
    EXPECT_EQ(key_slot("foo"), 12182);
    EXPECT_EQ(key_slot(""), 0);
    EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
    EXPECT_EQ(key_slot("foo{}{bar}"), dogpile::redis::crc16("foo{}{bar}") % 16384);
    EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
    EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
    EXPECT_EQ(dogpile::redis::hash_tag_of("x{"), "x{");
    EXPECT_EQ(dogpile::redis::hash_tag_of("}{a}"), "a");
}

// 10,000 random keys, the tricky shapes included, against CLUSTER KEYSLOT.
TEST(ClusterSlot, MatchesClusterKeyslotForRandomKeys) {
    std::mt19937 gen(20240607);
    std::uniform_int_distribution<int> length(0, 24);
    std::uniform_int_distribution<int> byte(0, 255);
    const std::string alphabet = "ab{}{}}{x";
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::uniform_int_distribution<int> shape(0, 3);

    std::vector<std::string> keys{"", "{", "}", "{}", "}{", "{{}}", "{a}", "{{a}}", "a{b}c{d}", "{}{a}", "a{}b", "{\0}"};
    keys.back().assign("{\0}", 3);
    while (keys.size() < 10000) {
        std::string key;
        const int n = length(gen);
        const int kind = shape(gen);
        for (int i = 0; i < n; ++i) {
            key.push_back(kind == 0 ? static_cast<char>(byte(gen)) : alphabet[pick(gen)]);
        }
        if (kind == 2) key = "user{" + key + "}:" + std::to_string(keys.size());
        keys.push_back(std::move(key));
    }

    Connection connection(cluster().node(0).options());
    std::size_t mismatches = 0;
    for (std::size_t begin = 0; begin < keys.size(); begin += 1000) {
        std::vector<Command> commands;
        for (std::size_t i = begin; i < begin + 1000; ++i) commands.push_back(Command{"CLUSTER", "KEYSLOT", keys[i]});
        const std::vector<Reply> replies = connection.pipeline(commands);
        for (std::size_t i = 0; i < replies.size(); ++i) {
            const long long server = replies[i].as_integer();
            if (server != key_slot(keys[begin + i]) && ++mismatches <= 5) {
                ADD_FAILURE() << "key of " << keys[begin + i].size() << " bytes: server slot " << server
                              << ", ours " << key_slot(keys[begin + i]);
            }
        }
    }
    EXPECT_EQ(mismatches, 0u);
}

// ---------------------------------------------------------------- options

TEST(ClusterOptionsTest, FromUrl) {
    const ClusterOptions o =
        ClusterOptions::from_url("redis://alice:p%40ss@127.0.0.1:7000,10.0.0.2:7001,[::1]:7002?command_timeout=250");
    ASSERT_EQ(o.seeds.size(), 3u);
    EXPECT_EQ(o.seeds[0], (NodeAddress{"127.0.0.1", 7000}));
    EXPECT_EQ(o.seeds[1], (NodeAddress{"10.0.0.2", 7001}));
    EXPECT_EQ(o.seeds[2], (NodeAddress{"::1", 7002}));
    EXPECT_EQ(o.pool.connection.username, "alice");
    EXPECT_EQ(o.pool.connection.password, std::optional<std::string>("p@ss"));
    EXPECT_EQ(o.pool.connection.command_timeout, 250ms);
    EXPECT_EQ(o.seeds[2].to_string(), "[::1]:7002");
}

TEST(ClusterOptionsTest, RejectsWhatCannotWork) {
    EXPECT_THROW(ClusterOptions::from_url("redis://127.0.0.1:7000/2"), ConfigurationError);
    EXPECT_THROW(ClusterOptions::from_url("redis://127.0.0.1:7000,,127.0.0.1:7001"), ConfigurationError);
    EXPECT_THROW(ClusterOptions::from_url("http://127.0.0.1:7000"), ConfigurationError);
    EXPECT_THROW(ClusterOptions::from_url("redis://127.0.0.1:70000"), ConfigurationError);
    ClusterOptions o;
    EXPECT_THROW(o.validate(), ConfigurationError);  // no seeds
    o.seeds = {NodeAddress{"127.0.0.1", 7000}};
    o.validate();
    o.pool.connection.db = 1;
    EXPECT_THROW(o.validate(), ConfigurationError);
    o.pool.connection.db = 0;
    o.max_redirects = 0;
    EXPECT_THROW(o.validate(), ConfigurationError);
    o.max_redirects = 5;
    o.retry_max = 1ms;
    EXPECT_THROW(o.validate(), ConfigurationError);
    EXPECT_THROW(NodeAddress::parse("nohost"), ConfigurationError);
    EXPECT_EQ(NodeAddress::parse("[::1]:6379"), (NodeAddress{"::1", 6379}));
}

TEST(ClusterClientSetup, ASingleServerSeedIsAConfigurationError) {
    dogpile::test::RedisServer single;
    ClusterOptions o;
    o.seeds = {NodeAddress{"127.0.0.1", single.port()}};
    try {
        ClusterClient client(o);
        ADD_FAILURE() << "accepted a server that is not in cluster mode";
    } catch (const ConfigurationError& e) {
        EXPECT_NE(std::string(e.what()).find("not in cluster mode"), std::string::npos) << e.what();
    }
}

TEST(ClusterClientSetup, UnreachableSeedsFailOnUseNotOnConstruction) {
    ClusterOptions o;
    o.seeds = {NodeAddress{"127.0.0.1", dogpile::test::redis_server_details::pick_free_port()}};
    o.retry_timeout = 20ms;
    ClusterClient client(o);
    EXPECT_TRUE(client.topology().empty());
    try {
        client.command("k", {"GET", "k"});
        ADD_FAILURE() << "a command without any reachable node succeeded";
    } catch (const IoError& e) {
        EXPECT_NE(std::string(e.what()).find("no known node serves slot"), std::string::npos) << e.what();
    }
}

// ---------------------------------------------------------------- topology and routing

TEST_F(ClusterClientTopology, LearnsAllMastersAndReplicasFromOneSeed) {
    ClusterOptions o = cluster().client_options();
    o.seeds = {o.seeds.back()};  // a replica, even
    auto client = make_client(o);
    const auto shards = client->topology();
    ASSERT_EQ(shards.size(), 3u);
    int covered = 0;
    std::set<int> master_ports;
    for (const auto& shard : shards) {
        EXPECT_EQ(shard.replicas.size(), 1u) << shard.master.to_string();
        master_ports.insert(shard.master.port);
        for (const auto& [first, last] : shard.slot_ranges) covered += last - first + 1;
    }
    EXPECT_EQ(covered, 16384);
    std::set<int> expected;
    for (std::size_t m : cluster().masters()) expected.insert(cluster().node(m).port());
    EXPECT_EQ(master_ports, expected);
}

TEST_F(ClusterClientRouting, EveryKeyLandsOnTheMasterOfItsSlot) {
    auto client = make_client();
    const auto keys = keys_named("route:", 300);
    for (const auto& k : keys) EXPECT_TRUE(client->command(k, {"SET", k, "v-" + k}).is_ok());
    std::map<std::size_t, int> per_master;
    for (const auto& k : keys) {
        const std::size_t owner = cluster().master_index_for_key(k);
        ++per_master[owner];
        const RawReply r = cluster().raw(owner, {"GET", k});
        EXPECT_EQ(r.str, "v-" + k);
        ASSERT_TRUE(client->master_of(k).has_value());
        EXPECT_EQ(client->master_of(k)->port, cluster().node(owner).port());
    }
    EXPECT_EQ(per_master.size(), 3u) << "300 keys should reach all three masters";
    EXPECT_EQ(client->stats().moved, 0u);
    EXPECT_EQ(client->stats().ask, 0u);
    for (const auto& k : keys) EXPECT_EQ(client->command(k, {"GET", k}).as_string(), "v-" + k);
}

TEST_F(ClusterClientRouting, BatchCostsOneRoundTripPerNode) {
    auto client = make_client();
    const auto keys = keys_named("batch:", 100);
    std::vector<KeyedCommand> writes;
    for (const auto& k : keys) writes.push_back(KeyedCommand{k, Command{"SET", k, k + "!"}});
    std::set<std::size_t> nodes;
    for (const auto& k : keys) nodes.insert(cluster().master_index_for_key(k));
    ASSERT_EQ(nodes.size(), 3u);

    const auto before = client->round_trips();
    const auto replies = client->batch(writes);
    EXPECT_EQ(client->round_trips() - before, 3u);
    ASSERT_EQ(replies.size(), keys.size());
    for (const auto& r : replies) EXPECT_TRUE(r.is_ok());

    std::vector<KeyedCommand> reads;
    for (const auto& k : keys) reads.push_back(KeyedCommand{k, Command{"GET", k}});
    const auto mid = client->round_trips();
    const auto values = client->batch(reads);
    EXPECT_EQ(client->round_trips() - mid, 3u);
    for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(values[i].as_string(), keys[i] + "!") << keys[i];
}

TEST_F(ClusterClientRouting, ErrorRepliesStayInPlaceInABatch) {
    auto client = make_client();
    client->command("typed:list", {"DEL", "typed:list"});
    client->command("typed:list", {"RPUSH", "typed:list", "x"});
    std::vector<KeyedCommand> commands{{"typed:a", Command{"SET", "typed:a", "1"}},
                                       {"typed:list", Command{"GET", "typed:list"}},
                                       {"typed:b", Command{"SET", "typed:b", "2"}}};
    const auto replies = client->batch(commands);
    EXPECT_TRUE(replies[0].is_ok());
    ASSERT_TRUE(replies[1].is_error());
    EXPECT_EQ(ReplyError::code_of(replies[1].error_message()), "WRONGTYPE");
    EXPECT_TRUE(replies[2].is_ok());
    EXPECT_THROW(client->command("typed:list", {"GET", "typed:list"}), ReplyError);
}

// MGET / DEL / EXISTS / MSET over keys of many slots are split per slot,
// one pipeline per node, and merged back in order.
TEST_F(ClusterClientRouting, MultiKeyCommandsAreSplitPerSlotAndMerged) {
    auto client = make_client();
    const auto keys = keys_named("multi:", 60);
    Command mset{"MSET"};
    for (const auto& k : keys) mset.arg(k).arg("m-" + k);
    EXPECT_TRUE(client->command(keys[0], mset).is_ok());

    Command mget{"MGET"};
    for (const auto& k : keys) mget.arg(k);
    mget.arg("multi:missing");
    const auto before = client->round_trips();
    const Reply values = client->command(keys[0], mget);
    EXPECT_EQ(client->round_trips() - before, 3u);
    ASSERT_EQ(values.size(), keys.size() + 1);
    for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(values[i].as_string(), "m-" + keys[i]);
    EXPECT_TRUE(values[keys.size()].is_nil());

    Command exists{"EXISTS"};
    for (const auto& k : keys) exists.arg(k);
    EXPECT_EQ(client->command(keys[0], exists).as_integer(), static_cast<long long>(keys.size()));
    Command del{"DEL"};
    for (const auto& k : keys) del.arg(k);
    del.arg("multi:missing");
    EXPECT_EQ(client->command(keys[0], del).as_integer(), static_cast<long long>(keys.size()));
    EXPECT_EQ(client->command(keys[0], exists).as_integer(), 0);

    // Keys sharing a hash tag stay one command.
    EXPECT_TRUE(client->command("{tag}a", {"MSET", "{tag}a", "1", "{tag}b", "2"}).is_ok());
    const auto one = client->round_trips();
    EXPECT_EQ(client->command("{tag}a", {"MGET", "{tag}a", "{tag}b"}).as_optional_strings(),
              (std::vector<std::optional<std::string>>{"1", "2"}));
    EXPECT_EQ(client->round_trips() - one, 1u);
}

TEST_F(ClusterClientRouting, PoolsAreBoundedPerNode) {
    ClusterOptions o = cluster().client_options();
    o.pool.size = 2;
    o.pool.acquire_timeout = 10s;
    auto client = make_client(o);
    const auto keys = keys_named("bounded:", 30);
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 12; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                const auto& k = keys[static_cast<std::size_t>(t * 7 + i) % keys.size()];
                try {
                    client->command(k, {"SET", k, "x"});
                } catch (const std::exception&) {
                    failures.fetch_add(1);
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    std::size_t used = 0;
    for (const auto& node : client->node_stats()) {
        EXPECT_LE(node.open_connections, 2u) << node.address.to_string();
        if (node.round_trips > 0) ++used;
    }
    EXPECT_EQ(used, 3u);
}

// ---------------------------------------------------------------- scripts

TEST_F(ClusterClientScripts, NoscriptIsHandledPerNode) {
    auto client = make_client();
    const Script script("redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])");
    for (std::size_t m : cluster().masters()) cluster().raw(m, {"SCRIPT", "FLUSH"});
    const auto keys = keys_named("script:", 30);

    std::vector<ScriptCall> calls;
    for (const auto& k : keys) calls.push_back(ScriptCall{{k}, {"s-" + k}});
    const auto before = client->round_trips();
    const auto replies = client->eval_batch(script, calls);
    // Every node: one round trip, NOSCRIPT, then one more with SCRIPT LOAD.
    EXPECT_EQ(client->round_trips() - before, 6u);
    for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(replies[i].as_string(), "s-" + keys[i]);
    for (std::size_t m : cluster().masters()) {
        const RawReply exists = cluster().raw(m, {"SCRIPT", "EXISTS", script.sha1()});
        EXPECT_EQ(exists.elements.at(0).integer, 1) << "node " << m;
    }
    const auto loaded = client->round_trips();
    client->eval_batch(script, calls);
    EXPECT_EQ(client->round_trips() - loaded, 3u);

    // A single eval goes to the node of its first key, loading it there only.
    cluster().raw(cluster().master_index_for_key(keys[0]), {"SCRIPT", "FLUSH"});
    EXPECT_EQ(client->eval(script, {keys[0]}, {"again"}).as_string(), "again");
}

TEST_F(ClusterClientScripts, MultiKeyScriptsNeedOneSlot) {
    auto client = make_client();
    const Script script("return redis.call('MSET', KEYS[1], ARGV[1], KEYS[2], ARGV[1])");
    EXPECT_TRUE(client->eval(script, {"{u7}a", "{u7}b"}, {"x"}).is_ok());
    std::string other = "u7-other";
    while (key_slot(other) == key_slot("{u7}a")) other += "x";
    try {
        client->eval(script, {std::string("{u7}a"), other}, {std::string("x")});
        ADD_FAILURE() << "a script over two slots ran";
    } catch (const ReplyError& e) {
        EXPECT_TRUE(e.is_crossslot()) << e.what();
    }
}

// ---------------------------------------------------------------- the lock

TEST_F(ClusterClientLock, RedisLockWorksOnEveryNode) {
    auto client = make_client();
    dogpile::redis::LockOptions options;
    options.prefix = "cluster-lock|";
    options.lock_timeout = 5s;
    std::set<std::size_t> nodes;
    for (int i = 0; i < 20; ++i) {
        const std::string resource = "res" + std::to_string(i);
        nodes.insert(cluster().master_index_for_key(options.prefix + resource));
        dogpile::redis::RedisLock a(client, resource, options);
        dogpile::redis::RedisLock b(client, resource, options);
        ASSERT_TRUE(a.try_lock());
        EXPECT_FALSE(b.try_lock());
        EXPECT_TRUE(a.extend(10s));
        a.unlock();
        EXPECT_TRUE(b.try_lock());
        b.unlock();
    }
    EXPECT_EQ(nodes.size(), 3u);
}

// ---------------------------------------------------------------- redirections

class ClusterRedirects : public OnConvergedCluster {
protected:
    // A slot of master `from`, empty, and another master `to`.
    void SetUp() override {
        OnConvergedCluster::SetUp();
        if (HasFatalFailure()) return;
        const auto masters = cluster().masters();
        ASSERT_EQ(masters.size(), 3u);
        tag_ = RedisCluster::tag_for_slot(slot_);
        from_ = cluster().master_index_for_slot(slot_);
        to_ = masters[0] == from_ ? masters[1] : masters[0];
        cluster().clear_slot(slot_);  // the tests count redirections of keys they expect to be new
        set_up_ = true;
    }
    // Whatever the test did (a migration left open, keys moved half way), the
    // slot ends up served by `from_` with all its keys, on a converged
    // cluster, or the test fails here instead of the next one.
    void TearDown() override {
        if (!set_up_) return;
        try {
            cluster().restore_slot(slot_, from_);
        } catch (const std::exception& e) {
            ADD_FAILURE() << "could not restore slot " << slot_ << ": " << e.what();
        }
    }
    std::string key(const std::string& name) const { return "{" + tag_ + "}" + name; }

    const int slot_ = 4242;
    std::string tag_;
    std::size_t from_ = 0;
    std::size_t to_ = 0;
    bool set_up_ = false;
};

TEST_F(ClusterRedirects, MovedPatchesTheMapAndRetries) {
    ClusterOptions o = cluster().client_options();
    o.refresh_interval = 0ms;
    auto client = make_client(o);
    for (int i = 0; i < 5; ++i) client->command(key("k"), {"SET", key("k" + std::to_string(i)), "v"});
    cluster().move_slot(slot_, to_);
    EXPECT_EQ(client->master_of(key("k"))->port, cluster().node(from_).port()) << "the client's map is stale";

    EXPECT_EQ(client->command(key("k0"), {"GET", key("k0")}).as_string(), "v");
    EXPECT_EQ(client->stats().moved, 1u);
    EXPECT_EQ(client->master_of(key("k"))->port, cluster().node(to_).port());
    for (int i = 1; i < 5; ++i) EXPECT_EQ(client->command(key("k"), {"GET", key("k" + std::to_string(i))}).as_string(), "v");
    EXPECT_EQ(client->stats().moved, 1u) << "later commands use the patched map";
    EXPECT_GE(client->stats().refreshes, 2u);
}

TEST_F(ClusterRedirects, AskFollowsAMigratingSlotWithoutChangingTheMap) {
    auto client = make_client();
    client->command(key("moved"), {"SET", key("moved"), "m"});
    client->command(key("stays"), {"SET", key("stays"), "s"});
    cluster().begin_migration(slot_, from_, to_);
    ASSERT_TRUE(cluster().raw(from_, {"MIGRATE", "127.0.0.1", std::to_string(cluster().node(to_).port()), "", "0",
                                      "5000", "KEYS", key("moved")}).str == "OK");

    EXPECT_EQ(client->command(key("moved"), {"GET", key("moved")}).as_string(), "m");
    EXPECT_EQ(client->stats().ask, 1u);
    EXPECT_EQ(client->command(key("stays"), {"GET", key("stays")}).as_string(), "s");
    EXPECT_EQ(client->stats().ask, 1u) << "a key still on the source needs no redirection";
    // A new key of a migrating slot is created on the target.
    EXPECT_TRUE(client->command(key("new"), {"SET", key("new"), "n"}).is_ok());
    EXPECT_EQ(client->stats().ask, 2u);
    // Batches follow ASK per command, in the same round trip as ASKING.
    const auto replies = client->batch({{key("moved"), Command{"GET", key("moved")}},
                                        {key("stays"), Command{"GET", key("stays")}},
                                        {key("new"), Command{"GET", key("new")}}});
    EXPECT_EQ(replies[0].as_string(), "m");
    EXPECT_EQ(replies[1].as_string(), "s");
    EXPECT_EQ(replies[2].as_string(), "n");
    EXPECT_EQ(client->stats().moved, 0u);
    EXPECT_EQ(client->master_of(key("x"))->port, cluster().node(from_).port()) << "ASK must not change the map";

    while (cluster().migrate_keys(slot_, from_, to_, 10) > 0) {
    }
    cluster().finish_migration(slot_, from_, to_);
    EXPECT_EQ(client->command(key("new"), {"GET", key("new")}).as_string(), "n");
    EXPECT_EQ(client->stats().moved, 1u);
}

TEST_F(ClusterRedirects, RedirectionsAreBounded) {
    ClusterOptions o = cluster().client_options();
    o.max_redirects = 1;
    auto client = make_client(o);
    auto batch_client = make_client(o);
    client->command(key("a"), {"SET", key("a"), "1"});
    // A stale map (MOVED to `to_`), and `to_` migrating the slot back: ASK. Two hops, one allowed.
    cluster().move_slot(slot_, to_);
    cluster().begin_migration(slot_, to_, from_);
    while (cluster().migrate_keys(slot_, to_, from_, 10) > 0) {
    }
    try {
        client->command(key("a"), {"GET", key("a")});
        ADD_FAILURE() << "followed more redirections than allowed";
    } catch (const ReplyError& e) {
        EXPECT_TRUE(e.is_ask()) << e.what();
    }
    const auto replies = batch_client->batch({{key("a"), Command{"GET", key("a")}}});
    ASSERT_TRUE(replies[0].is_error());
    EXPECT_EQ(ReplyError::code_of(replies[0].error_message()), "ASK");
}

TEST_F(ClusterRedirects, TryagainIsRetriedUntilTheMigrationSettles) {
    ClusterOptions o = cluster().client_options();
    o.retry_timeout = 10s;
    auto client = make_client(o);
    client->command(key("a"), {"SET", key("a"), "1"});
    client->command(key("b"), {"SET", key("b"), "2"});
    cluster().begin_migration(slot_, from_, to_);
    ASSERT_EQ(cluster().raw(from_, {"MIGRATE", "127.0.0.1", std::to_string(cluster().node(to_).port()), "", "0", "5000",
                                    "KEYS", key("a")}).str,
              "OK");
    // MGET of one key here and one there is TRYAGAIN until the slot settles.
    auto finished = std::async(std::launch::async, [&] {
        RedisCluster::wait_for([&] { return client->stats().tryagain > 0; }, 10s, "a TRYAGAIN");
        while (cluster().migrate_keys(slot_, from_, to_, 10) > 0) {
        }
        cluster().finish_migration(slot_, from_, to_);
    });
    const Reply values = client->command(key("a"), {"MGET", key("a"), key("b")});
    finished.get();
    EXPECT_EQ(values.as_optional_strings(), (std::vector<std::optional<std::string>>{"1", "2"}));
    EXPECT_GT(client->stats().tryagain, 0u);
}

TEST_F(ClusterRedirects, TryagainGivesUpAfterTheRetryTimeout) {
    ClusterOptions o = cluster().client_options();
    o.retry_timeout = 100ms;
    auto client = make_client(o);
    client->command(key("a"), {"SET", key("a"), "1"});
    client->command(key("b"), {"SET", key("b"), "2"});
    cluster().begin_migration(slot_, from_, to_);
    cluster().raw(from_, {"MIGRATE", "127.0.0.1", std::to_string(cluster().node(to_).port()), "", "0", "5000", "KEYS",
                          key("a")});
    try {
        client->command(key("a"), {"MGET", key("a"), key("b")});
        ADD_FAILURE() << "a TRYAGAIN was not reported";
    } catch (const ReplyError& e) {
        EXPECT_TRUE(e.is_tryagain()) << e.what();
    }
    EXPECT_GE(client->stats().tryagain, 2u) << "retried at least once with backoff";
}

// A master that lost one of its slots reports CLUSTERDOWN for all of them
// until it gets it back; commands are retried meanwhile.
TEST_F(ClusterRedirects, ClusterdownIsRetriedWithBackoff) {
    ClusterOptions o = cluster().client_options();
    o.retry_timeout = 10s;
    auto client = make_client(o);
    client->command(key("a"), {"SET", key("a"), "1"});
    ASSERT_EQ(cluster().raw(from_, {"CLUSTER", "DELSLOTS", std::to_string(slot_)}).str, "OK");
    auto restored = std::async(std::launch::async, [&] {
        RedisCluster::wait_for([&] { return client->stats().clusterdown > 0; }, 10s, "a CLUSTERDOWN");
        cluster().raw(from_, {"CLUSTER", "ADDSLOTS", std::to_string(slot_)});
    });
    EXPECT_EQ(client->command(key("a"), {"GET", key("a")}).as_string(), "1");
    restored.get();
    EXPECT_GT(client->stats().clusterdown, 0u);
}

// ---------------------------------------------------------------- replicas

TEST_F(ClusterClientReplicas, ReadsGoToMastersByDefaultAndToReplicasWhenAsked) {
    std::vector<std::size_t> replicas;
    for (std::size_t m : cluster().masters()) replicas.push_back(*cluster().replica_of(m));
    auto calls_on_replicas = [&] {
        std::uint64_t total = 0;
        for (std::size_t r : replicas) total += get_calls(cluster(), r);
        return total;
    };
    const auto keys = keys_named("replica:", 30);
    auto primary = make_client();
    for (const auto& k : keys) primary->command(k, {"SET", k, "r-" + k});

    const auto before = calls_on_replicas();
    for (const auto& k : keys) primary->command(k, {"GET", k});
    EXPECT_EQ(calls_on_replicas(), before) << "the default must never read from a replica";

    ClusterOptions o = cluster().client_options();
    o.read_from = ReadFrom::replica;
    auto from_replicas = make_client(o);
    // Replication is asynchronous: wait until each replica has each value.
    for (const auto& k : keys) {
        RedisCluster::wait_for([&] { return from_replicas->command(k, {"GET", k}).as_optional_string() == "r-" + k; },
                               5s, "replication of " + k);
    }
    const auto mid = calls_on_replicas();
    for (const auto& k : keys) EXPECT_EQ(from_replicas->command(k, {"GET", k}).as_string(), "r-" + k);
    EXPECT_GE(calls_on_replicas() - mid, keys.size());
    EXPECT_GE(from_replicas->stats().replica_reads, keys.size());
    // Writes still go to masters.
    EXPECT_TRUE(from_replicas->command(keys[0], {"SET", keys[0], "w"}).is_ok());
    EXPECT_EQ(cluster().raw_for_key(keys[0], {"GET", keys[0]}).str, "w");
}

// ---------------------------------------------------------------- AUTH / ACL

TEST(ClusterClientAuth, PasswordAndAclUserAsForOneServer) {
    RedisClusterOptions options;
    options.password = "cluster secret";
    options.acl_users = {dogpile::test::RedisAclUser{"cacher", "cacher-pw", {"~*", "&*", "+@all"}}};
    RedisCluster secured(options);

    ClusterClient with_password(secured.client_options());
    EXPECT_TRUE(with_password.command("auth:k", {"SET", "auth:k", "1"}).is_ok());

    ClusterOptions acl = secured.client_options();
    acl.pool.connection.username = "cacher";
    acl.pool.connection.password = "cacher-pw";
    ClusterClient as_user(acl);
    EXPECT_EQ(as_user.command("auth:k", {"GET", "auth:k"}).as_string(), "1");

    auto url_options = ClusterOptions::from_url(secured.url());
    EXPECT_EQ(url_options.seeds.size(), secured.size());
    ClusterClient from_url(url_options);
    EXPECT_EQ(from_url.command("auth:k", {"GET", "auth:k"}).as_string(), "1");

    ClusterOptions wrong = secured.client_options();
    wrong.pool.connection.password = "nope";
    EXPECT_THROW(ClusterClient{wrong}, AuthError);
}

}  // namespace
