// ClusterClient against a real 3-master, 3-replica Redis Cluster: slot
// hashing checked against the server, topology discovery, routing, batches
// that cost one round trip per node, split multi-key commands, MOVED / ASK /
// TRYAGAIN / CLUSTERDOWN handling, scripts (NOSCRIPT per node), AUTH/ACL,
// replica reads, options and URLs.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
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
// RedisCluster::divergence) with no key left on a master that does not own
// its slot: the redirection tests move slots about, and a test that ran right
// after one must not see the nodes still disagreeing or a key stranded.
class OnConvergedCluster : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_NO_THROW(cluster().wait_until_healthy()) << "the cluster a test starts from";
        std::optional<std::string> stranded;
        ASSERT_NO_THROW(stranded = cluster().stranded_key());
        ASSERT_FALSE(stranded.has_value()) << "the cluster a test starts from: " << stranded.value_or("");
    }
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

// How often node `node` ran `command` ("get", "cluster|slots") since its last CONFIG RESETSTAT.
std::uint64_t command_calls(const RedisCluster& c, std::size_t node, const std::string& command) {
    const auto stats = dogpile::test::redis_cluster_details::info_fields(c.raw(node, {"INFO", "commandstats"}).str);
    const auto it = stats.find("cmdstat_" + command);
    if (it == stats.end()) return 0;
    return std::stoull(it->second.substr(it->second.find('=') + 1));
}

std::uint64_t get_calls(const RedisCluster& c, std::size_t node) { return command_calls(c, node, "get"); }

// CLUSTER SLOTS served by all nodes together since reset_command_stats().
std::uint64_t cluster_slots_calls() {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < cluster().size(); ++i) total += command_calls(cluster(), i, "cluster|slots");
    return total;
}

void reset_command_stats() {
    for (std::size_t i = 0; i < cluster().size(); ++i) {
        RedisCluster::expect_ok(cluster().raw(i, {"CONFIG", "RESETSTAT"}), "CONFIG RESETSTAT");
    }
}

// One line of CLIENT LIST.
struct ClientInfo {
    std::string id;
    std::string flags;  // "b": blocked in a blocking command
    std::string cmd;    // the last command it ran
};

// The connections node `node` has open whose CLIENT SETNAME was `name`.
std::vector<ClientInfo> clients_named(std::size_t node, const std::string& name) {
    const RawReply list = cluster().raw(node, {"CLIENT", "LIST"});
    if (list.is_error()) throw std::runtime_error("CLIENT LIST: " + list.str);
    std::vector<ClientInfo> out;
    std::stringstream lines(list.str);
    std::string line;
    while (std::getline(lines, line)) {
        std::map<std::string, std::string> fields;
        std::stringstream words(line);
        std::string word;
        while (words >> word) {
            const auto eq = word.find('=');
            if (eq != std::string::npos) fields[word.substr(0, eq)] = word.substr(eq + 1);
        }
        if (fields["name"] == name) out.push_back(ClientInfo{fields["id"], fields["flags"], fields["cmd"]});
    }
    return out;
}

// The shared cluster's client options, its connections named `name` (to
// find them in CLIENT LIST) and bounded by `command_timeout`.
ClusterOptions options_named(const std::string& name, std::chrono::milliseconds command_timeout) {
    ClusterOptions o = cluster().client_options();
    o.pool.connection.client_name = name;
    o.pool.connection.command_timeout = command_timeout;
    return o;
}

// Whether node `node` shows a connection named `name` blocked in a BLPOP.
bool blocked_in_blpop(std::size_t node, const std::string& name) {
    for (const ClientInfo& c : clients_named(node, name)) {
        if (c.flags.find('b') != std::string::npos && c.cmd == "blpop") return true;
    }
    return false;
}

// Until `call` is ready (or `limit` passes), CLIENT KILLs every connection
// named `name` that node `node` shows blocked in a BLPOP, after running
// `before_kill(kills so far)`. Returns how many it killed.
template <class Future>
int kill_blocked_until_ready(Future& call, std::size_t node, const std::string& name, std::chrono::milliseconds limit,
                             const std::function<void(int)>& before_kill = {}) {
    int kills = 0;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (call.wait_for(5ms) != std::future_status::ready && std::chrono::steady_clock::now() < deadline) {
        for (const ClientInfo& c : clients_named(node, name)) {
            if (c.flags.find('b') == std::string::npos || c.cmd != "blpop") continue;
            if (before_kill) before_kill(kills);
            RedisCluster::expect_ok(cluster().raw(node, {"CLIENT", "KILL", "ID", c.id}), "CLIENT KILL");
            ++kills;
        }
    }
    return kills;
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

    std::vector<std::string> keys{"",    "{",     "}",        "{}",    "}{",   "{{}}",
                                  "{a}", "{{a}}", "a{b}c{d}", "{}{a}", "a{}b", "{\0}"};
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
                ADD_FAILURE() << "key of " << keys[begin + i].size() << " bytes: server slot " << server << ", ours "
                              << key_slot(keys[begin + i]);
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

// The recovery client.hpp and script.hpp share: per node, each script is
// loaded once and only the calls that failed are sent again; a script that
// does not compile gives its calls the compile error.
TEST_F(ClusterClientScripts, NoscriptRecoveryLoadsEachScriptOncePerNode) {
    auto client = make_client();
    const Script incr("return redis.call('INCR', KEYS[1])");
    const Script echo("return ARGV[1]");
    for (std::size_t m : cluster().masters()) cluster().raw(m, {"SCRIPT", "FLUSH"});
    reset_command_stats();

    const auto keys = keys_named("noscript-once:", 60);
    std::vector<KeyedCommand> commands;
    for (const auto& k : keys) {
        commands.push_back(KeyedCommand{k, incr.evalsha_command({k}, {})});
        commands.push_back(KeyedCommand{k, echo.evalsha_command({k}, {k})});
        commands.push_back(KeyedCommand{k, Command{"INCR", k}});
    }
    const auto before = client->round_trips();
    const auto replies = client->batch(commands, {&incr, &echo});
    EXPECT_EQ(client->round_trips() - before, 2 * cluster().masters().size()) << "per node: NOSCRIPT, then one retry";
    ASSERT_EQ(replies.size(), commands.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        // The re-sent calls run after the rest of their node's batch.
        EXPECT_EQ(replies[3 * i].as_integer(), 2) << keys[i] << ": the script ran once, after the plain INCR";
        EXPECT_EQ(replies[3 * i + 1].as_string(), keys[i]);
        EXPECT_EQ(replies[3 * i + 2].as_integer(), 1) << keys[i];
    }
    for (std::size_t m : cluster().masters()) {
        EXPECT_EQ(command_calls(cluster(), m, "script|load"), 2u) << "node " << m;
    }

    const Script broken("return +");
    const auto failed = client->eval_batch(broken, {ScriptCall{{keys[0]}, {}}, ScriptCall{{keys[1]}, {}}});
    for (const auto& r : failed) {
        ASSERT_TRUE(r.is_error());
        EXPECT_EQ(std::string(r.error_message()).find("NOSCRIPT"), std::string::npos) << r.error_message();
    }
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
    options.ttl = 5s;
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

// Slots of one master `from_`, emptied (the tests count redirections of
// keys they expect to be new), and another master `to_`.
class OnEmptiedSlots : public OnConvergedCluster {
protected:
    explicit OnEmptiedSlots(std::vector<int> slots) : slots_(std::move(slots)) {}

    void SetUp() override {
        OnConvergedCluster::SetUp();
        if (HasFatalFailure()) return;
        const auto masters = cluster().masters();
        ASSERT_EQ(masters.size(), 3u);
        from_ = cluster().master_index_for_slot(slots_.front());
        for (int slot : slots_) {
            ASSERT_EQ(cluster().master_index_for_slot(slot), from_) << "slot " << slot;
            cluster().clear_slot(slot);
        }
        to_ = masters[0] == from_ ? masters[1] : masters[0];
        set_up_ = true;
    }
    // Whatever the test did (a migration left open, keys moved half way),
    // each slot ends up served by `from_` with all its keys, on a converged
    // cluster, or the test fails here instead of the next one.
    void TearDown() override {
        if (!set_up_) return;
        for (int slot : slots_) {
            try {
                cluster().restore_slot(slot, from_);
            } catch (const std::exception& e) {
                ADD_FAILURE() << "could not restore slot " << slot << ": " << e.what();
            }
        }
    }

    const std::vector<int> slots_;
    std::size_t from_ = 0;
    std::size_t to_ = 0;
    bool set_up_ = false;
};

class ClusterRedirects : public OnEmptiedSlots {
protected:
    ClusterRedirects() : OnEmptiedSlots({slot_}) {}
    std::string key(const std::string& name) const { return "{" + tag_ + "}" + name; }

    static constexpr int slot_ = 4242;
    const std::string tag_ = RedisCluster::tag_for_slot(slot_);
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
    for (int i = 1; i < 5; ++i)
        EXPECT_EQ(client->command(key("k"), {"GET", key("k" + std::to_string(i))}).as_string(), "v");
    EXPECT_EQ(client->stats().moved, 1u) << "later commands use the patched map";
    EXPECT_GE(client->stats().refreshes, 2u);
}

TEST_F(ClusterRedirects, AskFollowsAMigratingSlotWithoutChangingTheMap) {
    auto client = make_client();
    client->command(key("moved"), {"SET", key("moved"), "m"});
    client->command(key("stays"), {"SET", key("stays"), "s"});
    cluster().begin_migration(slot_, from_, to_);
    ASSERT_TRUE(cluster()
                    .raw(from_, {"MIGRATE", "127.0.0.1", std::to_string(cluster().node(to_).port()), "", "0", "5000",
                                 "KEYS", key("moved")})
                    .str == "OK");

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
    ASSERT_EQ(cluster()
                  .raw(from_, {"MIGRATE", "127.0.0.1", std::to_string(cluster().node(to_).port()), "", "0", "5000",
                               "KEYS", key("a")})
                  .str,
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
    cluster().raw(
        from_, {"MIGRATE", "127.0.0.1", std::to_string(cluster().node(to_).port()), "", "0", "5000", "KEYS", key("a")});
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

// ---------------------------------------------------------------- the refresh rate limit

// Several slots of one master, to move to another.
class ClusterSlotMoves : public OnEmptiedSlots {
protected:
    ClusterSlotMoves() : OnEmptiedSlots({4300, 4301, 4302, 4303, 4304, 4305}) {}
    static std::string key_in(int slot) { return "{" + RedisCluster::tag_for_slot(slot) + "}n"; }
    int port_of(std::size_t node) const { return cluster().node(node).port(); }
};

// MOVED patches the one slot at once and reloads the whole map at most once
// per refresh_interval: four stale slots hit within the interval cost four
// MOVED and no CLUSTER SLOTS; the first MOVED after the interval reloads the
// map (one CLUSTER SLOTS), which fixes the other stale slots too.
//
// Nothing here depends on speed: the bound on reloads is computed from the
// time the calls really took (on a machine slow enough to need more than the
// interval, a reload is allowed, and the MOVED count is then not checked), and
// the second part waits until the interval has certainly passed.
TEST_F(ClusterSlotMoves, MovedReloadsTheMapAtMostOncePerRefreshInterval) {
    using Clock = std::chrono::steady_clock;
    constexpr auto interval = 2s;
    ClusterOptions o = cluster().client_options();
    o.refresh_interval = interval;
    const auto before_construction = Clock::now();
    auto client = make_client(o);
    const auto constructed = Clock::now();
    ASSERT_EQ(client->stats().refreshes, 1u);

    const std::vector<int> first(slots_.begin(), slots_.begin() + 4);
    std::vector<std::string> first_keys;
    for (int slot : first) first_keys.push_back(key_in(slot));
    for (int slot : first) cluster().move_slot(slot, to_);
    for (const auto& k : first_keys) ASSERT_EQ(client->master_of(k)->port, port_of(from_)) << "stale before the test";

    reset_command_stats();
    for (const auto& k : first_keys) EXPECT_EQ(client->command(k, {"INCR", k}).as_integer(), 1);
    const auto first_done = Clock::now();
    const std::uint64_t reloads = cluster_slots_calls();
    const auto stats = client->stats();
    const auto allowed = static_cast<std::uint64_t>((first_done - before_construction) / interval);
    EXPECT_LE(reloads, allowed) << "CLUSTER SLOTS sent within " << interval.count() << " s of the last reload ("
                                << stats.moved << " MOVED)";
    EXPECT_EQ(stats.refreshes - 1, reloads) << "each reload asks one node once";
    if (reloads == 0) {
        EXPECT_EQ(stats.moved, first.size()) << "without a reload every stale slot answers MOVED once";
    }
    for (const auto& k : first_keys) EXPECT_EQ(client->master_of(k)->port, port_of(to_)) << "patched: " << k;

    // Two more slots move; both are stale in the client's map.
    const int second = slots_[4];
    const int third = slots_[5];
    cluster().move_slot(second, to_);
    cluster().move_slot(third, to_);
    ASSERT_EQ(client->master_of(key_in(second))->port, port_of(from_));
    ASSERT_EQ(client->master_of(key_in(third))->port, port_of(from_));

    // The last reload started before `constructed` (or, if the first part
    // reloaded, before `first_done`): wait until the interval has passed
    // since then. This waits for the clock the rate limit reads, not for
    // another thread.
    std::this_thread::sleep_until((reloads == 0 ? constructed : first_done) + interval);
    reset_command_stats();
    const auto moved_before = client->stats().moved;
    const auto refreshes_before = client->stats().refreshes;
    EXPECT_EQ(client->command(key_in(second), {"INCR", key_in(second)}).as_integer(), 1);
    EXPECT_EQ(client->stats().moved, moved_before + 1);
    EXPECT_EQ(cluster_slots_calls(), 1u) << "the first MOVED after the interval reloads the map";
    EXPECT_EQ(client->stats().refreshes, refreshes_before + 1);
    // The reload brought the whole map: the other stale slot needs no MOVED.
    EXPECT_EQ(client->master_of(key_in(third))->port, port_of(to_));
    EXPECT_EQ(client->command(key_in(third), {"INCR", key_in(third)}).as_integer(), 1);
    EXPECT_EQ(client->stats().moved, moved_before + 1);
    EXPECT_EQ(cluster_slots_calls(), 1u) << "no reload without a MOVED";
}

// ---------------------------------------------------------------- resharding under load

// A live slot migrates while 4 threads, each with its own client, read fixed
// keys (one by one and in batches), write and read back their own key and
// INCR their own counter. The migration is held half done until every client
// has followed an ASK, and the test waits after it until every client has
// followed a MOVED, so what is asserted does not depend on how fast anything
// runs: no MOVED while the source still owns the slot, at least one per
// client after, not one error, not one wrong answer, and every INCR applied
// exactly once (a redirected command was not executed where it was refused).
TEST_F(ClusterRedirects, LiveSlotMigrationIsServedByAskThenMovedWithoutErrors) {
    constexpr std::size_t fixed = 24;
    std::vector<std::string> fixed_keys;
    auto seed = make_client();
    for (std::size_t i = 0; i < fixed; ++i) {
        fixed_keys.push_back(key("fixed" + std::to_string(i)));
        ASSERT_TRUE(seed->command(fixed_keys.back(), {"SET", fixed_keys.back(), "v" + std::to_string(i)}).is_ok());
    }

    struct Worker {
        std::shared_ptr<ClusterClient> client;
        std::thread thread;
        std::atomic<std::uint64_t> rounds{0};
        std::atomic<std::uint64_t> wrong{0};
        std::atomic<std::uint64_t> errors{0};
        std::mutex mutex;
        std::string first_problem;  // guarded by mutex
        void problem(std::atomic<std::uint64_t>& counter, const std::string& what) {
            counter.fetch_add(1);
            std::lock_guard<std::mutex> lock(mutex);
            if (first_problem.empty()) first_problem = what;
        }
    };
    constexpr std::size_t worker_count = 4;
    std::vector<std::unique_ptr<Worker>> workers;
    std::atomic<bool> stop{false};
    struct Joiner {
        std::atomic<bool>& stop;
        std::vector<std::unique_ptr<Worker>>& workers;
        ~Joiner() {
            stop = true;
            for (auto& w : workers) {
                if (w->thread.joinable()) w->thread.join();
            }
        }
    } joiner{stop, workers};

    for (std::size_t t = 0; t < worker_count; ++t) {
        workers.push_back(std::make_unique<Worker>());
        Worker* const wp = workers.back().get();
        wp->client = make_client();
        wp->thread = std::thread([&, t, wp] {
            Worker& w = *wp;
            const std::string own = key("own" + std::to_string(t));
            const std::string counter = key("count" + std::to_string(t));
            long long count = 0;
            try {
                while (!stop) {
                    const std::uint64_t round = w.rounds.load();
                    for (std::size_t i = 0; i < fixed; ++i) {
                        const auto v = w.client->command(fixed_keys[i], {"GET", fixed_keys[i]}).as_optional_string();
                        if (v != "v" + std::to_string(i))
                            w.problem(w.wrong, fixed_keys[i] + ": " + v.value_or("(nil)"));
                    }
                    std::vector<KeyedCommand> reads;
                    for (const auto& k : fixed_keys) reads.push_back(KeyedCommand{k, Command{"GET", k}});
                    const auto replies = w.client->batch(reads);
                    for (std::size_t i = 0; i < fixed; ++i) {
                        if (replies[i].is_error() || replies[i].as_optional_string() != "v" + std::to_string(i)) {
                            w.problem(w.wrong,
                                      "batch " + fixed_keys[i] + ": " +
                                          (replies[i].is_error() ? std::string(replies[i].error_message())
                                                                 : replies[i].as_optional_string().value_or("(nil)")));
                        }
                    }
                    const std::string value = "r" + std::to_string(round);
                    w.client->command(own, {"SET", own, value});
                    const auto back = w.client->command(own, {"GET", own}).as_optional_string();
                    if (back != value) w.problem(w.wrong, own + ": " + back.value_or("(nil)") + " after SET " + value);
                    const long long n = w.client->command(counter, {"INCR", counter}).as_integer();
                    if (n != ++count) {
                        w.problem(w.wrong,
                                  counter + " is " + std::to_string(n) + " after " + std::to_string(count) + " INCR");
                        count = n;
                    }
                    w.rounds.fetch_add(1);
                }
            } catch (const std::exception& e) {
                w.problem(w.errors, e.what());
            }
        });
    }

    auto any_problem = [&] {
        for (const auto& w : workers) {
            if (w->wrong.load() + w->errors.load() > 0) return true;
        }
        return false;
    };
    // Until every worker satisfies `done` (or one of them went wrong).
    auto wait_all = [&](const std::function<bool(Worker&)>& done, const std::string& what) {
        RedisCluster::wait_for(
            [&] {
                if (any_problem()) return true;
                for (auto& w : workers) {
                    if (!done(*w)) return false;
                }
                return true;
            },
            60s, what);
    };
    auto rounds_now = [&] {
        std::vector<std::uint64_t> out;
        for (const auto& w : workers) out.push_back(w->rounds.load());
        return out;
    };
    auto two_more_rounds = [&](const std::vector<std::uint64_t>& since) {
        return [&workers, since](Worker& w) {
            for (std::size_t i = 0; i < workers.size(); ++i) {
                if (workers[i].get() == &w) return w.rounds.load() >= since[i] + 2;
            }
            return false;
        };
    };

    ASSERT_NO_THROW(wait_all([](Worker& w) { return w.rounds.load() >= 2; }, "every worker to run"));
    cluster().begin_migration(slot_, from_, to_);
    const std::size_t first_half = cluster().migrate_keys(slot_, from_, to_, fixed / 2);
    ASSERT_GT(first_half, 0u);
    ASSERT_GT(cluster().raw(from_, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot_)}).integer, 0)
        << "the keys must be split between the two nodes";
    ASSERT_NO_THROW(wait_all([](Worker& w) { return w.client->stats().ask > 0; }, "an ASK on every client"));
    const auto half_rounds = rounds_now();
    ASSERT_NO_THROW(wait_all(two_more_rounds(half_rounds), "two more rounds on the split slot"));
    for (std::size_t t = 0; t < workers.size(); ++t) {
        const auto s = workers[t]->client->stats();
        EXPECT_GT(s.ask, 0u) << "client " << t;
        EXPECT_EQ(s.moved, 0u) << "client " << t << ": MOVED while the source still owns the slot";
        EXPECT_EQ(workers[t]->client->master_of(key("x"))->port, cluster().node(from_).port())
            << "client " << t << ": ASK changed the map";
    }

    while (cluster().migrate_keys(slot_, from_, to_, 4) > 0) {
    }
    cluster().finish_migration(slot_, from_, to_);
    const auto moved_rounds = rounds_now();
    ASSERT_NO_THROW(wait_all([](Worker& w) { return w.client->stats().moved > 0; }, "a MOVED on every client"));
    ASSERT_NO_THROW(wait_all(two_more_rounds(moved_rounds), "two more rounds on the new owner"));
    stop = true;
    for (auto& w : workers) w->thread.join();

    for (std::size_t t = 0; t < workers.size(); ++t) {
        Worker& w = *workers[t];
        const auto s = w.client->stats();
        EXPECT_EQ(w.errors.load(), 0u) << "client " << t << ": " << w.first_problem;
        EXPECT_EQ(w.wrong.load(), 0u) << "client " << t << ": " << w.first_problem;
        EXPECT_GE(s.moved, 1u) << "client " << t;
        EXPECT_EQ(w.client->master_of(key("x"))->port, cluster().node(to_).port()) << "client " << t;
        std::cout << "[ reshard ] client " << t << ": " << w.rounds.load() << " rounds, ASK " << s.ask << ", MOVED "
                  << s.moved << ", map reloads " << s.refreshes << std::endl;
    }
    EXPECT_EQ(cluster().raw(from_, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot_)}).integer, 0);
}

// ---------------------------------------------------------------- what is retried after a failure

// Keys of one slot that no test moves.
class ClusterFailedSends : public OnConvergedCluster {
protected:
    void SetUp() override {
        OnConvergedCluster::SetUp();
        if (HasFatalFailure()) return;
        node_ = cluster().master_index_for_key(counter_);
        RedisCluster::expect_ok(cluster().raw(node_, {"DEL", counter_, release_}), "DEL");
    }
    std::string counter_value() const { return cluster().raw(node_, {"GET", counter_}).str; }
    // INCR, then a BLPOP on a list nobody pushes to: the INCR has certainly
    // run, and the pipeline can only end by a timeout or a closed connection.
    std::vector<Command> incr_then_block() const {
        return {Command{"INCR", counter_}, Command{"BLPOP", release_, "0"}};
    }
    // Once no connection of `name` is open on the node, the node has run
    // everything that was sent on them (a connection is dropped from CLIENT
    // LIST only after its last bytes were read).
    void wait_until_closed(const std::string& name) const {
        RedisCluster::wait_for([&] { return clients_named(node_, name).empty(); }, 30s,
                               "the connections named " + name + " to close");
    }

    const std::string counter_ = "{noretry}counter";
    const std::string release_ = "{noretry}release";
    std::size_t node_ = 0;
};

// The connection breaks after the commands were sent and run: the error
// reaches the caller and nothing is sent again (the INCR ran once). The test
// breaks it itself, with CLIENT KILL once the node shows the BLPOP blocked,
// and keeps killing any blocked retry until the call returns.
TEST_F(ClusterFailedSends, AConnectionLostAfterSendingIsNotRetried) {
    const std::string name = "noretry-killed";
    auto client = make_client(options_named(name, 60s));  // only the kill ends the call
    auto call = std::async(std::launch::async, [&] { return client->pipeline(counter_, incr_then_block()); });

    const int kills = kill_blocked_until_ready(call, node_, name, 60s, [&](int killed) {
        if (killed == 0) {
            EXPECT_EQ(counter_value(), "1") << "the INCR ran before the BLPOP blocked";
        }
    });
    ASSERT_EQ(call.wait_for(0ms), std::future_status::ready) << "the call did not return";
    try {
        call.get();
        ADD_FAILURE() << "a pipeline whose connection was killed succeeded";
    } catch (const IoError& e) {
        EXPECT_EQ(dynamic_cast<const dogpile::redis::TimeoutError*>(&e), nullptr) << "not the kill: " << e.what();
    }
    EXPECT_EQ(kills, 1) << "the pipeline was sent again after its connection broke";
    ASSERT_NO_THROW(wait_until_closed(name));  // the pool discarded the connection
    EXPECT_EQ(counter_value(), "1") << "the INCR ran more than once";
    EXPECT_EQ(client->command(counter_, {"GET", counter_}).as_optional_string(), std::optional<std::string>("1"))
        << "the client still works";
}

// The same after a command timeout: the caller gets the TimeoutError, the
// INCR ran once. (The BLPOP never answers, so the timeout is certain.)
TEST_F(ClusterFailedSends, ATimeoutAfterSendingIsNotRetried) {
    const std::string name = "noretry-timeout";
    auto client = make_client(options_named(name, 200ms));
    EXPECT_THROW(client->pipeline(counter_, incr_then_block()), dogpile::redis::TimeoutError);
    ASSERT_NO_THROW(wait_until_closed(name));  // the pool discarded the connection
    EXPECT_EQ(counter_value(), "1") << "the INCR ran more than once";
    EXPECT_EQ(client->command(counter_, {"GET", counter_}).as_optional_string(), std::optional<std::string>("1"))
        << "the client still works";
}

// A node that refuses the connection got nothing, so the command is re-sent
// once the reloaded map names another owner for its slot; when no other
// owner is known, the IoError reaches the caller. The client first learns a
// map from a lone cluster-mode server that claims every slot, which is then
// killed: its slots "moved" to the real cluster the client also has as seeds.
TEST_F(ClusterFailedSends, ARefusedConnectionIsRetriedOnTheSlotsNewOwner) {
    dogpile::test::RedisServerOptions lone_options;
    lone_options.listen = dogpile::test::RedisServerOptions::Listen::Tcp;
    lone_options.extra_args = {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"};
    lone_options.port_args = [] {
        return std::vector<std::string>{"--cluster-port",
                                        std::to_string(dogpile::test::redis_server_details::pick_free_port())};
    };
    dogpile::test::RedisServer lone(lone_options);
    RedisCluster::expect_ok(lone.raw({"CLUSTER", "ADDSLOTSRANGE", "0", "16383"}), "ADDSLOTSRANGE");

    ClusterOptions o = cluster().client_options();
    o.seeds.insert(o.seeds.begin(), NodeAddress{"127.0.0.1", lone.port()});
    o.refresh_interval = 0ms;
    auto client = make_client(o);
    ClusterOptions lone_only = o;
    lone_only.seeds = {NodeAddress{"127.0.0.1", lone.port()}};
    auto stranded = make_client(lone_only);
    ASSERT_EQ(client->master_of(counter_)->port, lone.port());
    ASSERT_EQ(stranded->master_of(counter_)->port, lone.port());

    lone.kill();
    try {
        EXPECT_EQ(client->command(counter_, {"INCR", counter_}).as_integer(), 1);
    } catch (const std::exception& e) {
        ADD_FAILURE() << "not re-sent to the slot's new owner: " << e.what();
    }
    EXPECT_EQ(client->stats().connect_failures, 1u);
    EXPECT_EQ(client->stats().refreshes, 2u);
    EXPECT_EQ(client->master_of(counter_)->port, cluster().node(node_).port());
    EXPECT_EQ(counter_value(), "1");

    try {
        stranded->command(counter_, {"INCR", counter_});
        ADD_FAILURE() << "a command whose node refuses connections, with no other owner known, succeeded";
    } catch (const IoError& e) {
        EXPECT_EQ(dynamic_cast<const dogpile::redis::TimeoutError*>(&e), nullptr) << e.what();
    }
    EXPECT_GE(stranded->stats().connect_failures, 1u);
    EXPECT_EQ(counter_value(), "1");
}

// ---------------------------------------------------------------- parallel batches

// A batch writes its pipeline to every node before it reads any reply
// (docs/architecture.md, "Cluster batches"). Each test's keys name the
// master they live on, and every value carries its key, so a reply read on
// the wrong connection or sorted to the wrong job shows as a wrong value.
class ClusterParallelBatches : public OnConvergedCluster {
protected:
    void SetUp() override {
        OnConvergedCluster::SetUp();
        if (HasFatalFailure()) return;
        masters_ = cluster().masters();
        ASSERT_EQ(masters_.size(), 3u);
        for (std::size_t m : masters_) {
            for (int i = 0;; ++i) {
                const std::string tag = "{par" + std::to_string(i) + "}";
                if (cluster().master_index_for_key(tag) != m) continue;
                if (std::find(tags_.begin(), tags_.end(), tag) != tags_.end()) continue;
                tags_.push_back(tag);
                break;
            }
        }
        keys_ = keys_named("par:", 100);
        for (const auto& k : keys_) RedisCluster::expect_ok(cluster().raw_for_key(k, {"SET", k, "v-" + k}), "SET");
        for (const auto& t : tags_) cluster().raw_for_key(t, {"DEL", t + "list"});
    }

    std::vector<KeyedCommand> gets() const {
        std::vector<KeyedCommand> out;
        for (const auto& k : keys_) out.push_back(KeyedCommand{k, Command{"GET", k}});
        return out;
    }
    void expect_values(const std::vector<Reply>& replies, const std::string& when) const {
        ASSERT_GE(replies.size(), keys_.size()) << when;
        for (std::size_t i = 0; i < keys_.size(); ++i) {
            EXPECT_EQ(replies[i].as_optional_string(), std::optional<std::string>("v-" + keys_[i]))
                << when << ": " << keys_[i];
        }
    }
    // Connections the client keeps open on master `m` (idle ones included).
    static std::size_t open_on(const ClusterClient& client, std::size_t m) {
        for (const auto& n : client.node_stats()) {
            if (cluster().index_of_port(n.address.port) == m) return n.open_connections;
        }
        return 0;
    }

    std::vector<std::size_t> masters_;
    std::vector<std::string> tags_;  // tags_[i] hashes to masters_[i]
    std::vector<std::string> keys_;
};

// A BLPOP on every master, each released by the test only once all three
// are blocked at the same time: a batch that read one node before writing
// to the next would leave the first BLPOP blocked alone until its timeout,
// so this passes only if every node was written to before any reply was
// read, however fast or slow anything runs. Then: one round trip per node.
TEST_F(ClusterParallelBatches, EveryNodeIsWrittenBeforeAnyReplyIsRead) {
    const std::string name = "par-blocked";
    auto client = make_client(options_named(name, 10s));
    std::vector<KeyedCommand> batch = gets();
    for (const auto& t : tags_) batch.push_back(KeyedCommand{t, Command{"BLPOP", t + "list", "0"}});
    const auto before = client->round_trips();
    auto call = std::async(std::launch::async, [&] { return client->batch(batch); });

    auto blocked_on = [&](std::size_t m) { return blocked_in_blpop(m, name); };
    bool all_blocked = false;
    const auto deadline = std::chrono::steady_clock::now() + 8s;
    while (!all_blocked && std::chrono::steady_clock::now() < deadline &&
           call.wait_for(5ms) != std::future_status::ready) {
        all_blocked = std::all_of(masters_.begin(), masters_.end(), blocked_on);
    }
    // Released either way, so a failing run ends now rather than at its timeout.
    for (const auto& t : tags_) cluster().raw_for_key(t, {"RPUSH", t + "list", "item-" + t});
    EXPECT_TRUE(all_blocked) << "the three BLPOPs were never blocked at the same time: a node was read before "
                                "the next one was written to";
    std::vector<Reply> replies;
    ASSERT_NO_THROW(replies = call.get());
    EXPECT_EQ(client->round_trips() - before, 3u) << "one write per node";
    expect_values(replies, "the batch");
    for (std::size_t i = 0; i < tags_.size(); ++i) {
        const Reply& popped = replies[keys_.size() + i];
        ASSERT_EQ(popped.size(), 2u);
        EXPECT_EQ(popped.at(1).as_string(), "item-" + tags_[i]);
    }
}

// Every node stalls (a BLPOP nobody releases on each master): the batch
// waits for all of them at once, so it fails after one command_timeout, not
// one per node as when the nodes were read one after the other.
TEST_F(ClusterParallelBatches, StalledNodesCostOneCommandTimeoutForTheWholeBatch) {
    ClusterOptions o = cluster().client_options();
    // Three stalled nodes with a timeout each would take 6 s; the bound
    // leaves 3 s to a loaded machine's scheduler.
    o.pool.connection.command_timeout = 2s;
    auto client = make_client(o);
    std::vector<KeyedCommand> batch = gets();
    for (const auto& t : tags_) batch.push_back(KeyedCommand{t, Command{"BLPOP", t + "list", "0"}});
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(client->batch(batch), dogpile::redis::TimeoutError);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 1800ms);
    EXPECT_LT(took, 5000ms) << "each stalled node was given its own command_timeout";
    expect_values(client->batch(gets()), "the next batch");
}

// Some keys' slot moves to another master after the client learnt the map:
// their GETs come back MOVED from the old owner amid the other nodes' replies
// and are sent again to the new one; every key gets its own value.
class ClusterParallelMoved : public ClusterRedirects {};

TEST_F(ClusterParallelMoved, MovedKeysInAParallelBatchStillLand) {
    ClusterOptions o = cluster().client_options();
    o.refresh_interval = 0ms;
    auto client = make_client(o);
    std::vector<std::string> keys = keys_named("parmoved:", 60);
    for (int i = 0; i < 10; ++i) keys.push_back(key("m" + std::to_string(i)));
    std::vector<KeyedCommand> sets;
    std::vector<KeyedCommand> gets;
    for (const auto& k : keys) {
        sets.push_back(KeyedCommand{k, Command{"SET", k, "v-" + k}});
        gets.push_back(KeyedCommand{k, Command{"GET", k}});
    }
    for (const auto& r : client->batch(sets)) ASSERT_TRUE(r.is_ok());
    cluster().move_slot(slot_, to_);
    ASSERT_EQ(client->master_of(key("m0"))->port, cluster().node(from_).port()) << "the client's map is stale";

    const auto replies = client->batch(gets);
    ASSERT_EQ(replies.size(), keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        EXPECT_EQ(replies[i].as_optional_string(), std::optional<std::string>("v-" + keys[i])) << keys[i];
    }
    EXPECT_GE(client->stats().moved, 1u);
    EXPECT_EQ(client->master_of(key("m0"))->port, cluster().node(to_).port());
}

// One node's connection is killed while the batch waits for its replies,
// the other nodes' replies already sent: the batch fails with that IoError
// (it may have run, so it is not retried), the other nodes' connections were
// read to the end and stay pooled, and the next batch gets every key's own
// value. Done with each master as the failing one, so the failing node is
// read before, between and after the others whatever their order.
TEST_F(ClusterParallelBatches, ANodeLostMidBatchFailsTheCallAndLeavesTheOthersInStep) {
    for (std::size_t victim = 0; victim < masters_.size(); ++victim) {
        SCOPED_TRACE("master " + std::to_string(masters_[victim]) + " fails");
        const std::string name = "par-lost-" + std::to_string(victim);
        auto client = make_client(options_named(name, 30s));  // only the kill ends the call
        expect_values(client->batch(gets()), "warm-up");      // a pooled connection on every master

        std::vector<KeyedCommand> batch = gets();
        batch.push_back(KeyedCommand{tags_[victim], Command{"BLPOP", tags_[victim] + "list", "0"}});
        auto call = std::async(std::launch::async, [&] { return client->batch(batch); });
        const int kills = kill_blocked_until_ready(call, masters_[victim], name, 30s);
        ASSERT_EQ(call.wait_for(0ms), std::future_status::ready) << "the batch did not return";
        try {
            call.get();
            ADD_FAILURE() << "a batch whose node connection was killed succeeded";
        } catch (const IoError& e) {
            EXPECT_EQ(dynamic_cast<const dogpile::redis::TimeoutError*>(&e), nullptr) << e.what();
        }
        EXPECT_EQ(kills, 1) << "the batch was sent again after its connection broke";
        for (std::size_t m = 0; m < masters_.size(); ++m) {
            if (m == victim) continue;
            EXPECT_EQ(open_on(*client, masters_[m]), 1u)
                << "master " << masters_[m] << ": its connection, read to the end, went back to the pool";
        }
        expect_values(client->batch(gets()), "the next batch");
        expect_values(client->batch(gets()), "the batch after");
    }
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
        RedisCluster::wait_for(
            [&] {
                return from_replicas->command(k, {"GET", k}).as_optional_string() == "r-" + k;
            },
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
