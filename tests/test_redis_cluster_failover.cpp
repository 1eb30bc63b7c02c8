// A Region over the hash store on a real Redis Cluster while the cluster
// changes under it: a live slot resharded under load (ASK and MOVED),
// a manual CLUSTER FAILOVER, a SIGKILLed master promoted away, and a
// stampede of 4 processes x 16 threads on one cold key. Each test has its own
// 3-master, 3-replica cluster. In the failover ones no replica fails its
// master over by itself (cluster-replica-no-failover) unless the test lets
// it, so a loaded machine cannot start a failover the test did not ask for.

#include <gtest/gtest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis/cluster.hpp>
#include <dogpile/region.hpp>

#include "support/failover_load.hpp"
#include "support/redis_cluster.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using dogpile::HashKey;
using dogpile::redis::ClusterClient;
using dogpile::redis::ClusterOptions;
using dogpile::test::ErrorTally;
using dogpile::test::Prober;
using dogpile::test::RawReply;
using dogpile::test::RedisCluster;

using Clock = std::chrono::steady_clock;
using HashRegion = dogpile::Region<std::string, HashKey>;
using HashBackend = dogpile::RedisHashBackend<std::string>;
using Load = dogpile::test::RegionLoad<HashRegion, HashKey>;

std::string expected_value(const HashKey& key) { return "value-of-" + key.hash + "/" + key.field; }

// What the hash store keeps in a field: the codec's bytes (msgpack).
std::string stored(const std::string& value) { return dogpile::codec::MsgpackCodec<std::string>().encode(value); }

// `hashes` hashes of `fields` fields; every hash name starts with `prefix`.
std::vector<HashKey> hash_keys(const std::string& prefix, std::size_t hashes, std::size_t fields) {
    std::vector<HashKey> out;
    for (std::size_t h = 0; h < hashes; ++h) {
        for (std::size_t f = 0; f < fields; ++f) out.push_back(HashKey{prefix + std::to_string(h), std::to_string(f)});
    }
    return out;
}

// A Region over RedisHashBackend on a ClusterClient, its errors tallied.
struct ClusterRegion {
    explicit ClusterRegion(const RedisCluster& cluster, ClusterOptions options = {}) {
        if (options.seeds.empty()) options = cluster.client_options();
        client = std::make_shared<ClusterClient>(options);
        dogpile::RegionOptions region_options;
        region_options.error_hook = errors.hook();
        backend = std::make_shared<HashBackend>(dogpile::RedisHashBackendOptions{client, std::chrono::hours(1)});
        region = std::make_unique<HashRegion>(backend, region_options);
    }

    // Every key served from Redis (a hit, never the creator) with no backend
    // error, as one caller sees it with the load stopped; see
    // serves_from_redis. `attempts` > 1 repeats a pass that a scheduling
    // hiccup spoiled (short timeouts); a region that does not serve from
    // Redis fails every pass.
    void expect_clean_pass(const std::vector<HashKey>& keys, int attempts = 1) {
        EXPECT_EQ(dogpile::test::serves_from_redis(*region, keys, expected_value, attempts), "")
            << "not served from Redis; backend errors so far: " << errors.summary();
    }

    ErrorTally errors;
    std::shared_ptr<ClusterClient> client;
    std::shared_ptr<HashBackend> backend;
    std::unique_ptr<HashRegion> region;
};

void wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout, const std::string& what) {
    RedisCluster::wait_for(done, timeout, what);
}

// ------------------------------------------------------------ resharding

// A slot holding live hashes moves to another master while 8 threads read,
// write, erase and multi-get keys in it. Every answer is right or a miss,
// no call fails, and both ASK (during the move) and MOVED (after it) happen.
TEST(ClusterResharding, LiveSlotMovesUnderLoad) {
    RedisCluster cluster;
    ClusterRegion cr(cluster);
    const int slot = 7777;
    const std::string tag = RedisCluster::tag_for_slot(slot);
    const auto keys = hash_keys("{" + tag + "}calculated-a|", 24, 8);
    for (const auto& key : keys) cr.region->set(key, expected_value(key));
    const std::size_t from = cluster.master_index_for_slot(slot);
    std::size_t to = from;
    for (std::size_t m : cluster.masters()) {
        if (m != from) to = m;
    }
    ASSERT_NE(from, to);
    cr.expect_clean_pass(keys);

    Load load(*cr.region, keys, 8, expected_value);
    wait_for([&] { return load.calls() > 1000; }, 10s, "load to run");

    cluster.begin_migration(slot, from, to);
    // One hash first; hold the slot half-migrated until a command was ASKed over.
    ASSERT_EQ(cluster.migrate_keys(slot, from, to, 1), 1u);
    wait_for([&] { return cr.client->stats().ask > 0; }, 10s, "an ASK redirection");
    std::size_t moved_keys = 1;
    while (true) {
        const std::size_t n = cluster.migrate_keys(slot, from, to, 2);
        if (n == 0) break;
        moved_keys += n;
    }
    cluster.finish_migration(slot, from, to);
    wait_for([&] { return cr.client->stats().moved > 0; }, 10s, "a MOVED redirection");
    const auto hits_after = cr.region->stats().hits;
    const auto calls_after = load.calls();
    wait_for([&] { return load.calls() > calls_after + 1000; }, 10s, "load on the new owner");
    load.stop();
    EXPECT_GT(cr.region->stats().hits, hits_after) << "served from the new owner";

    const auto stats = cr.client->stats();
    EXPECT_EQ(load.wrong(), 0u) << load.first_wrong();
    EXPECT_EQ(load.exceptions(), 0u);
    EXPECT_EQ(cr.errors.total(), 0u) << cr.errors.summary();
    EXPECT_GT(stats.ask, 0u);
    EXPECT_GT(stats.moved, 0u);
    EXPECT_EQ(cluster.raw(from, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}).integer, 0);
    EXPECT_EQ(cr.client->master_of(keys[0].hash)->port, cluster.node(to).port());
    cr.expect_clean_pass(keys);
    EXPECT_EQ(cr.errors.total(), 0u) << cr.errors.summary();

    std::cout << "[ reshard ] slot " << slot << " (" << moved_keys << " hashes) moved under load: " << load.calls()
              << " region calls, ASK " << stats.ask << ", MOVED " << stats.moved << ", TRYAGAIN " << stats.tryagain
              << ", map reloads " << stats.refreshes << ", backend errors " << cr.errors.summary() << std::endl;
    RecordProperty("ask", std::to_string(stats.ask));
    RecordProperty("moved", std::to_string(stats.moved));
}

// ------------------------------------------------------------ failover

// The master serving `key`, one of its replicas, and a probe key on it.
struct Shard {
    std::size_t master;
    std::size_t replica;
};

Shard shard_of(const RedisCluster& cluster, const std::string& key) {
    const std::size_t master = cluster.master_index_for_key(key);
    const auto replica = cluster.replica_of(master);
    if (!replica) throw std::runtime_error("the master of '" + key + "' has no replica");
    return Shard{master, *replica};
}

// No replica fails its master over by itself; the test allows one with
// allow_failover. CLUSTER FAILOVER (manual) works regardless.
std::vector<std::string> no_automatic_failover() { return {"--cluster-replica-no-failover", "yes"}; }

void allow_failover(const RedisCluster& cluster, std::size_t replica) {
    ASSERT_EQ(cluster.raw(replica, {"CONFIG", "SET", "cluster-replica-no-failover", "no"}).str, "OK");
}

// CLUSTER FAILOVER on a replica: it takes over its master's slots, the old
// master becomes its replica. docs/scaling-out.md: it switches with no errors. So the
// region and a probe on the shard see no error at all, every answer is right,
// and the load is served from the new master (hits, not the creator). The
// default cluster-node-timeout (5 s): a manual failover does not depend on
// it, and a loaded machine is then not mistaken for a dead master (which
// would answer CLUSTERDOWN, an error this test does not allow).
TEST(ClusterFailover, ManualFailoverUnderLoad) {
    dogpile::test::RedisClusterOptions cluster_options;
    cluster_options.extra_args = no_automatic_failover();
    RedisCluster cluster(cluster_options);
    ClusterRegion cr(cluster);
    const auto keys = hash_keys("calculated-a|", 30, 6);
    const Shard shard = shard_of(cluster, keys[0].hash);
    cr.expect_clean_pass(keys);

    Load load(*cr.region, keys, 8, expected_value);
    Prober probe([&] { cr.client->command(keys[0].hash, {"HSET", keys[0].hash, "probe", "1"}); });
    wait_for([&] { return load.calls() > 1000; }, 10s, "load to run");

    const auto started = Clock::now();
    ASSERT_EQ(cluster.raw(shard.replica, {"CLUSTER", "FAILOVER"}).str, "OK");
    wait_for([&] { return cluster.role(shard.replica) == "master" && cluster.role(shard.master) == "slave"; }, 30s,
             "the replica to take over");
    const auto switched = Clock::now();
    wait_for([&] { return cr.client->master_of(keys[0].hash)->port == cluster.node(shard.replica).port(); }, 30s,
             "the client to route to the new master");
    wait_for([&] { return probe.first_success_after(switched).has_value(); }, 30s, "a probe on the new master");
    const auto hits_after = cr.region->stats().hits;
    const auto calls_after = load.calls();
    wait_for([&] { return load.calls() > calls_after + 2000; }, 30s, "load on the new master");
    load.stop();
    probe.stop();

    EXPECT_EQ(load.wrong(), 0u) << load.first_wrong();
    EXPECT_EQ(load.exceptions(), 0u);
    EXPECT_EQ(cr.errors.total(), 0u) << "a manual failover is clean: " << cr.errors.summary();
    EXPECT_EQ(probe.failures(), 0u) << probe.errors().summary();
    EXPECT_GT(cr.region->stats().hits, hits_after) << "the load is served from the new master";
    EXPECT_GT(cr.client->stats().moved, 0u) << "the demoted master answers MOVED";
    cluster.wait_until_healthy();
    cr.expect_clean_pass(keys);
    EXPECT_EQ(cr.errors.total(), 0u) << cr.errors.summary();
    EXPECT_EQ(cluster.raw(shard.replica, {"HGET", keys[0].hash, keys[0].field}).str, stored(expected_value(keys[0])));

    const auto stats = cr.client->stats();
    std::cout << "[ failover ] CLUSTER FAILOVER: switched after " << dogpile::test::ms_between(started, switched)
              << " ms; " << load.calls() << " region calls; MOVED " << stats.moved << ", CLUSTERDOWN "
              << stats.clusterdown << ", map reloads " << stats.refreshes
              << "; region backend errors: " << cr.errors.summary() << "; probe errors: " << probe.errors().summary()
              << std::endl;
}

// A master is SIGKILLed; its replica may take over only once the region and
// a probe have seen the outage (connection refused on the dead master's
// slots), then it is promoted after cluster-node-timeout (1 s). Meanwhile the
// region degrades to the creator (never throws, never answers wrong); after
// the promotion it uses the new master without a restart: errors stop and
// the load is served from Redis again.
TEST(ClusterFailover, KilledMasterIsReplacedUnderLoad) {
    dogpile::test::RedisClusterOptions cluster_options;
    cluster_options.node_timeout = 1000ms;
    cluster_options.extra_args = no_automatic_failover();
    RedisCluster cluster(cluster_options);
    ClusterOptions options = cluster.client_options();
    options.pool.connection.connect_timeout = 200ms;
    options.pool.connection.command_timeout = 500ms;
    ClusterRegion cr(cluster, options);
    const auto keys = hash_keys("calculated-a|", 30, 6);
    const Shard shard = shard_of(cluster, keys[0].hash);
    const std::string probe_key = keys[0].hash;
    cr.expect_clean_pass(keys, 5);
    const auto errors_before_kill = cr.errors.total();

    Load load(*cr.region, keys, 8, expected_value);
    Prober probe([&] { cr.client->command(probe_key, {"HSET", probe_key, "probe", "1"}); });
    wait_for([&] { return load.calls() > 1000; }, 10s, "load to run");

    cluster.node(shard.master).kill();
    const auto killed_at = Clock::now();  // the process is reaped: nothing it answers comes later
    // docs/scaling-out.md: the dead master's slots fail fast, connection refused (an IoError).
    const std::string refused = "IoError (connect refused)";
    wait_for([&] { return cr.errors.count(refused) > 0 && probe.errors().count(refused) > 0; }, 30s,
             "the region and the probe to see the dead master refuse connections");
    const auto released_at = Clock::now();
    allow_failover(cluster, shard.replica);
    wait_for([&] { return cluster.role(shard.replica) == "master"; }, 30s, "the replica to be promoted");
    const auto promoted_at = Clock::now();
    wait_for([&] { return probe.first_success_after(promoted_at).has_value(); }, 30s, "the client to recover");
    const auto recovered_at = *probe.first_success_after(killed_at);
    // Errors stop and hits resume on the new master.
    const std::string quiet = dogpile::test::wait_for_quiet_window(*cr.region, load, cr.errors, 2000, 60s);
    load.stop();
    probe.stop();

    EXPECT_EQ(load.wrong(), 0u) << load.first_wrong();
    EXPECT_EQ(load.exceptions(), 0u) << "the region must degrade, not throw";
    EXPECT_EQ(quiet, "") << "errors did not stop, or hits did not resume, after the promotion";
    EXPECT_TRUE(recovered_at >= released_at)
        << "a probe on the dead master's slot succeeded " << dogpile::test::ms_between(recovered_at, released_at)
        << " ms before any replica could take over";
    EXPECT_GT(cr.errors.total(), errors_before_kill) << "the outage should have been seen";
    // What else the outage may show: connections cut by the kill, CLUSTERDOWN
    // from the other masters (docs/scaling-out.md: with cluster-require-full-coverage)
    // beyond retry_timeout, and timeouts a loaded machine may cause.
    const std::set<std::string> allowed{refused, "IoError (connection lost)", "ReplyError CLUSTERDOWN", "TimeoutError",
                                        "PoolTimeout"};
    EXPECT_EQ(cr.errors.kinds_outside(allowed), "") << "unexpected kinds of error: " << cr.errors.summary();
    EXPECT_EQ(probe.errors().kinds_outside(allowed), "") << probe.errors().summary();
    EXPECT_EQ(cr.client->master_of(probe_key)->port, cluster.node(shard.replica).port());
    cluster.wait_until_healthy();
    cr.expect_clean_pass(keys, 5);

    const auto stats = cr.client->stats();
    std::cout << "[ failover ] SIGKILL master: outage seen after " << dogpile::test::ms_between(killed_at, released_at)
              << " ms (failover allowed then); replica promoted after "
              << dogpile::test::ms_between(killed_at, promoted_at)
              << " ms; client recovered (first probe success) after "
              << dogpile::test::ms_between(killed_at, recovered_at) << " ms; " << load.calls() << " region calls, "
              << load.creations() << " creator runs; connect failures " << stats.connect_failures << ", CLUSTERDOWN "
              << stats.clusterdown << ", MOVED " << stats.moved << ", map reloads " << stats.refreshes
              << "; region backend errors: " << cr.errors.summary() << "; probe errors: " << probe.errors().summary()
              << std::endl;
    RecordProperty("promotion_ms", std::to_string(dogpile::test::ms_between(killed_at, promoted_at)));
    RecordProperty("recovery_ms", std::to_string(dogpile::test::ms_between(killed_at, recovered_at)));
}

// ------------------------------------------------------------ stampede

// A worker process, killed and reaped if still running when destroyed.
class Child {
public:
    explicit Child(std::vector<std::string> args) : args_(std::move(args)) {
        std::vector<char*> argv;
        for (auto& a : args_) argv.push_back(a.data());
        argv.push_back(nullptr);
        const int rc = ::posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ);
        if (rc != 0) throw std::runtime_error("posix_spawn " + args_[0] + ": " + std::strerror(rc));
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }
    std::optional<int> wait(std::chrono::milliseconds timeout) {
        int status = 0;
        const auto deadline = Clock::now() + timeout;
        while (::waitpid(pid_, &status, WNOHANG) != pid_) {
            if (Clock::now() >= deadline) return std::nullopt;
            std::this_thread::sleep_for(5ms);
        }
        pid_ = -1;
        return status;
    }

private:
    std::vector<std::string> args_;
    pid_t pid_ = -1;
};

// 4 processes x 16 threads ask for one cold key: the creator runs once in
// all, guarded by a RedisLock whose key lives on another master than the data.
TEST(ClusterStampede, FourProcessesSixteenThreadsCreateOnce) {
    RedisCluster cluster;
    constexpr int processes = 4;
    constexpr int threads = 16;
    const std::string ns = "stampede:";
    const std::string hash = ns + "hash";
    std::vector<std::unique_ptr<Child>> workers;
    for (int p = 0; p < processes; ++p) {
        workers.push_back(std::make_unique<Child>(std::vector<std::string>{
            DOGPILE_CLUSTER_STAMPEDE_WORKER, "--url", cluster.url(), "--ns", ns, "--threads", std::to_string(threads),
            "--callers", std::to_string(processes * threads), "--parent", std::to_string(::getpid())}));
    }
    for (int p = 0; p < processes; ++p) {
        const auto status = workers[static_cast<std::size_t>(p)]->wait(90s);
        ASSERT_TRUE(status.has_value()) << "worker " << p << " did not finish within 90 s";
        EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "worker " << p << " status " << *status;
    }

    EXPECT_EQ(cluster.raw_for_key(ns + "arrived", {"GET", ns + "arrived"}).str, std::to_string(processes * threads));
    EXPECT_EQ(cluster.raw_for_key(ns + "creations", {"GET", ns + "creations"}).str, "1");
    const RawReply results = cluster.raw_for_key(ns + "results", {"LRANGE", ns + "results", "0", "-1"});
    ASSERT_EQ(results.elements.size(), static_cast<std::size_t>(processes * threads));
    const std::string first = results.elements.front().str;
    EXPECT_EQ(first.rfind("created-by-", 0), 0u) << first;
    for (const auto& r : results.elements) EXPECT_EQ(r.str, first);
    EXPECT_EQ(cluster.raw_for_key(hash, {"HGET", hash, "field"}).str, stored(first));
    // The data, the lock and the bookkeeping were spread over the masters.
    const std::string lock_key = ns + "lock|" + HashBackend::lock_resource(HashKey{hash, "field"});
    EXPECT_EQ(cluster.raw_for_key(lock_key, {"EXISTS", lock_key}).integer, 0) << "the lock was released";
    std::set<std::size_t> nodes{cluster.master_index_for_key(hash), cluster.master_index_for_key(lock_key),
                                cluster.master_index_for_key(ns + "arrived"),
                                cluster.master_index_for_key(ns + "results")};
    EXPECT_GE(nodes.size(), 2u);
}

}  // namespace
