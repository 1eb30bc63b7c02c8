// A near cache on a real 3-master, 3-replica Redis Cluster (ClusterTracking,
// redis/cluster_tracking.hpp): a write on each node invalidates that node's
// keys; under 8 readers and 2 writers with versions in their values, no read
// is older than the last delivered invalidation, whether a node's listener
// is cut or a slot is resharded meanwhile; a SIGKILLed master promoted away
// drops the near tier, which serves near hits again once the replica took
// over. One cluster for the whole binary (its start costs seconds); the
// failover test changes its topology, so it runs last.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <dogpile/backends/near_cache.hpp>
#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis/cluster.hpp>
#include <dogpile/redis/tracking.hpp>

#include "support/latch.hpp"
#include "support/versioned_load.hpp"
#include "support/redis_cluster.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::CachedValue;
using dogpile::HashKey;
using dogpile::Metadata;
using dogpile::redis::ClusterClient;
using dogpile::redis::ClusterOptions;
using dogpile::redis::ClusterTracking;
using dogpile::test::RedisCluster;
using Version = std::uint64_t;
using Remote = dogpile::RedisHashBackend<Version>;
using Near = dogpile::NearCacheBackend<Version, HashKey>;

// Failure guards only: each is normally reached in milliseconds.
constexpr auto tracking_deadline = 30s;
constexpr auto convergence_deadline = 60s;

// A near cache over the hash store on a tracked cluster client, and a plain
// client's hash store: the other process.
struct Stack {
    explicit Stack(const RedisCluster& cluster, std::size_t capacity = 2000, ClusterOptions options = {},
                   std::chrono::milliseconds health_check_interval = 200ms) {
        if (options.seeds.empty()) options = cluster.client_options();
        options.pool.size = 12;
        dogpile::redis::ClusterTrackingOptions to;
        to.reconnect_backoff_min = 5ms;
        to.health_check_interval = health_check_interval;
        tracking = std::make_shared<ClusterTracking>(to);
        client = dogpile::redis::make_tracked_cluster(*tracking, options);
        remote = std::make_shared<Remote>(dogpile::RedisHashBackendOptions{client, std::chrono::hours(1)});
        dogpile::NearCacheOptions<HashKey> no;
        no.listener = tracking;
        no.redis_key = dogpile::redis_keys_of(*remote);
        no.capacity = capacity;
        cache = std::make_shared<Near>(remote, no);
        other = std::make_shared<Remote>(
            dogpile::RedisHashBackendOptions{std::make_shared<ClusterClient>(options), std::chrono::hours(1)});
    }

    void set_other(const HashKey& key, Version v) {
        other->set(key, CachedValue<Version>{v, Metadata::store_managed()});
    }

    std::shared_ptr<ClusterTracking> tracking;
    std::shared_ptr<ClusterClient> client;
    std::shared_ptr<Remote> remote;
    std::shared_ptr<Near> cache;
    std::shared_ptr<Remote> other;
};

Version version_of(const std::optional<CachedValue<Version>>& e) { return e ? e->value : 0; }

class ClusterNearCache : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dogpile::test::RedisClusterOptions o;
        o.node_timeout = 1000ms;                                  // the failover test promotes a replica within seconds
        o.extra_args = {"--cluster-replica-no-failover", "yes"};  // ... only when it allows it
        cluster_ = new RedisCluster(o);
    }
    static void TearDownTestSuite() {
        delete cluster_;
        cluster_ = nullptr;
    }
    static RedisCluster& cluster() { return *cluster_; }

    // A hash name ("calculated-a|<n>") served by master `m`.
    static std::string hash_on(std::size_t m, int from = 0) {
        for (int n = from;; ++n) {
            std::string name = "calculated-a|" + std::to_string(n);
            if (cluster().master_index_for_key(name) == m) return name;
        }
    }

private:
    static RedisCluster* cluster_;
};

RedisCluster* ClusterNearCache::cluster_ = nullptr;

// ------------------------------------------------- one write per node

TEST_F(ClusterNearCache, AWriteOnEachNodeInvalidatesThatNodesKeys) {
    Stack s(cluster());
    ASSERT_TRUE(s.tracking->wait_until_tracking(tracking_deadline)) << s.tracking->last_error();
    const auto masters = cluster().masters();
    ASSERT_EQ(masters.size(), 3u);
    std::vector<HashKey> keys;
    for (std::size_t m : masters) keys.push_back(HashKey{hash_on(m), "f"});
    for (const auto& key : keys) s.set_other(key, 1);
    // Read twice: the second read is a near hit on every node.
    for (const auto& key : keys) EXPECT_EQ(version_of(s.cache->get(key)), 1u);
    const auto hits_before = s.cache->stats().hits;
    for (const auto& key : keys) {
        EXPECT_EQ(version_of(s.cache->get(key)), 1u);
        EXPECT_TRUE(s.cache->near_contains(key)) << key.hash << " was not kept: " << s.tracking->last_error();
    }
    EXPECT_EQ(s.cache->stats().hits, hits_before + keys.size());

    const auto flushes_before = s.cache->stats().flushes;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        SCOPED_TRACE(keys[i].hash);
        s.set_other(keys[i], 2);
        EXPECT_TRUE(dogpile::test::wait_for_condition([&] { return !s.cache->near_contains(keys[i]); }, 10s))
            << "the write on its node was not announced";
        for (std::size_t j = i + 1; j < keys.size(); ++j) {
            EXPECT_TRUE(s.cache->near_contains(keys[j])) << keys[j].hash << " (another node) was dropped too";
        }
        EXPECT_EQ(version_of(s.cache->get(keys[i])), 2u);
    }
    EXPECT_EQ(s.cache->stats().flushes, flushes_before) << "invalidations, not flushes, dropped the entries";
    const auto nodes = s.tracking->nodes();
    ASSERT_EQ(nodes.size(), 3u);
    for (const auto& node : nodes) {
        EXPECT_TRUE(node.tracking) << node.address.to_string();
        EXPECT_GT(node.stats.invalidation_messages, 0u) << node.address.to_string() << " delivered nothing";
    }
}

// A master's listener reconnects (CLIENT KILL TYPE pubsub): its new
// connection has a new CLIENT ID, so the cluster's session ends at once and
// the data connections of that node redirect to the new one before their
// reads are kept again; a write on the node is then announced. The health
// check interval is long, so no periodic check can hide a missed edge.
TEST_F(ClusterNearCache, AListenerThatReconnectsIsRedirectedToAgain) {
    Stack s(cluster(), 2000, {}, 60s);
    ASSERT_TRUE(s.tracking->wait_until_tracking(tracking_deadline)) << s.tracking->last_error();
    const std::size_t m = cluster().masters().front();
    const HashKey key{hash_on(m, 500), "f"};
    s.set_other(key, 1);
    s.cache->get(key);
    ASSERT_TRUE(s.cache->near_contains(key)) << s.tracking->last_error();

    const auto session = s.tracking->session();
    ASSERT_FALSE(cluster().raw(m, {"CLIENT", "KILL", "TYPE", "pubsub"}).is_error());
    ASSERT_TRUE(s.tracking->wait_for_new_session(session, tracking_deadline)) << s.tracking->last_error();
    EXPECT_FALSE(s.cache->near_contains(key)) << "the listener's edges flush the near tier";
    // Kept again, through a data connection of the node, then written by the other process.
    RedisCluster::wait_for(
        [&] {
            s.cache->get(key);
            return s.cache->near_contains(key);
        },
        30s, "the key to be kept again");
    s.set_other(key, 2);
    EXPECT_TRUE(dogpile::test::wait_for_condition([&] { return !s.cache->near_contains(key); }, 10s))
        << "the write was not announced: the data connection still redirects to the old listener";
    EXPECT_EQ(version_of(s.cache->get(key)), 2u);
}

// ----------------------------------------- versioned load (stress, resharding)

constexpr std::size_t hash_count = 60;
constexpr std::size_t fields_per_hash = 10;
constexpr std::size_t key_count = hash_count * fields_per_hash;
constexpr std::size_t readers = 8;
// The hashes 0..tagged_hashes-1 share one slot (a hash tag), the one the
// resharding test moves; the rest spread over every master.
constexpr std::size_t tagged_hashes = 15;
constexpr int moved_slot = 4242;

std::string hash_name(std::size_t h) {
    static const std::string tag = "{" + RedisCluster::tag_for_slot(moved_slot) + "}";
    return h < tagged_hashes ? tag + "calculated-a|" + std::to_string(h) : "calculated-a|" + std::to_string(h);
}

HashKey key_of(std::size_t k) { return HashKey{hash_name(k / fields_per_hash), std::to_string(k % fields_per_hash)}; }

using KeyState = dogpile::test::VersionedKey;
using dogpile::test::raise_to;

// `delivered` of a key is raised to what was written before an invalidation
// of its hash reached the near cache, once the near cache has applied it.
// Messages come from one listener thread per master: a mutex held from the
// first sink (before the near cache) to the last (after it) keeps each
// message's snapshot with its own publication.
class Snapshots {
public:
    explicit Snapshots(std::vector<KeyState>& keys) : keys_(keys) {
        for (std::size_t h = 0; h < hash_count; ++h) hash_index_.emplace(hash_name(h), h);
    }
    void take(const std::vector<std::string_view>& redis_keys) {
        delivering_.lock();
        pending_.clear();
        for (auto redis_key : redis_keys) {
            const auto it = hash_index_.find(std::string(redis_key));
            if (it == hash_index_.end()) continue;
            for (std::size_t f = 0; f < fields_per_hash; ++f) {
                const std::size_t k = it->second * fields_per_hash + f;
                pending_.emplace_back(k, keys_[k].written.load());
            }
        }
    }
    void publish() {
        for (const auto& [k, v] : pending_) raise_to(keys_[k].delivered, v);
        pending_.clear();
        delivering_.unlock();
    }

private:
    std::vector<KeyState>& keys_;
    std::unordered_map<std::string, std::size_t> hash_index_;
    std::mutex delivering_;
    std::vector<std::pair<std::size_t, Version>> pending_;
};

using Before = dogpile::test::SnapshotBefore<Snapshots>;
using After = dogpile::test::SnapshotAfter<Snapshots>;

// 8 readers through the near cache, a writer through it and one through the
// other process, for `run_time`; `disturb` runs meanwhile. Every read must be
// at least as new as what was delivered before it started; then the near
// tier converges on Redis and serves from memory again.
void expect_no_stale_read(const RedisCluster& cluster, std::chrono::milliseconds run_time,
                          const std::function<void(Stack&)>& disturb) {
    std::vector<KeyState> keys(key_count);
    Snapshots snapshots(keys);
    Before before(snapshots);
    After after(snapshots);
    Stack s(cluster, 400);  // below the key count: eviction takes part too
    // The near cache subscribed when it was made; `before` must come first,
    // so the near cache is made again after it.
    auto before_subscription = s.tracking->subscribe(before);
    dogpile::NearCacheOptions<HashKey> no = s.cache->options();
    s.cache = std::make_shared<Near>(s.remote, no);
    auto after_subscription = s.tracking->subscribe(after);
    ASSERT_TRUE(s.tracking->wait_until_tracking(tracking_deadline)) << s.tracking->last_error();

    std::vector<std::pair<HashKey, CachedValue<Version>>> initial;
    for (std::size_t k = 0; k < key_count; ++k) {
        initial.emplace_back(key_of(k), CachedValue<Version>{1, Metadata::store_managed()});
    }
    s.other->set_multi(initial);
    for (auto& k : keys) {
        k.written = 1;
        k.delivered = 1;
    }

    std::atomic<bool> stop{false};
    dogpile::test::LoadTally tally;
    dogpile::test::Latch start(readers + 3);
    std::vector<std::thread> threads =
        dogpile::test::start_versioned_load(*s.cache, *s.other, keys, key_of, readers, start, stop, tally);

    start.arrive_and_wait();
    const auto t0 = std::chrono::steady_clock::now();
    disturb(s);
    std::this_thread::sleep_until(t0 + run_time);  // the workload's duration, not synchronisation
    stop = true;
    for (auto& t : threads) t.join();

    const auto cs = s.cache->stats();
    const auto ts = s.tracking->stats();
    EXPECT_EQ(tally.violations.load(), 0u) << tally.first_violation();
    EXPECT_EQ(tally.errors.load(), 0u);
    EXPECT_GT(cs.hits, 0u);
    EXPECT_GT(cs.stored, 0u);
    EXPECT_GT(ts.invalidation_messages, 0u);
    std::printf("reads %llu: near hits %llu, misses %llu, stored %llu, raced %llu, untracked %llu, bypassed %llu, "
                "flushes %llu; %llu invalidation messages, %llu cluster sessions\n",
                static_cast<unsigned long long>(tally.reads.load()), static_cast<unsigned long long>(cs.hits),
                static_cast<unsigned long long>(cs.misses), static_cast<unsigned long long>(cs.stored),
                static_cast<unsigned long long>(cs.raced), static_cast<unsigned long long>(cs.untracked),
                static_cast<unsigned long long>(cs.bypassed), static_cast<unsigned long long>(cs.flushes),
                static_cast<unsigned long long>(ts.invalidation_messages),
                static_cast<unsigned long long>(ts.sessions));

    // Convergence: every held entry equals Redis, then one near read of
    // every key does, and the near tier serves from memory again.
    auto differing = [&](bool held_only) {
        std::vector<std::string> out;
        for (std::size_t k = 0; k < key_count; ++k) {
            const HashKey key = key_of(k);
            if (held_only && !s.cache->near_contains(key)) continue;
            const Version near = version_of(s.cache->get(key));
            const Version redis = version_of(s.other->get(key));
            if (near != redis)
                out.push_back("key " + std::to_string(k) + " near " + std::to_string(near) + " redis " +
                              std::to_string(redis));
        }
        return out;
    };
    std::vector<std::string> stale;
    EXPECT_TRUE(
        dogpile::test::wait_for_condition([&] { return (stale = differing(true)).empty(); }, convergence_deadline))
        << stale.size() << " keys never converged, first: " << (stale.empty() ? "" : stale.front());
    ASSERT_TRUE(s.tracking->wait_until_tracking(tracking_deadline)) << s.tracking->last_error();
    const auto wrong = differing(false);
    EXPECT_TRUE(wrong.empty()) << wrong.size()
                               << " near reads differ from Redis, first: " << (wrong.empty() ? "" : wrong.front());
    const auto hits = s.cache->stats().hits;
    for (std::size_t k = 0; k < key_count; ++k) s.cache->get(key_of(k));
    EXPECT_GT(s.cache->stats().hits, hits) << "the near tier serves from memory again";

    s.cache.reset();
    after_subscription.reset();
    before_subscription.reset();
}

// The stress test of the near-cache issue on the cluster: one master's
// listener connection is cut half way (CLIENT KILL TYPE pubsub).
TEST_F(ClusterNearCache, NoReadIsOlderThanADeliveredInvalidation) {
    expect_no_stale_read(cluster(), 2s, [&](Stack& s) {
        std::this_thread::sleep_for(1s);  // the workload's first half, not synchronisation
        const auto session = s.tracking->session();
        const std::size_t m = cluster().masters().front();
        ASSERT_FALSE(cluster().raw(m, {"CLIENT", "KILL", "TYPE", "pubsub"}).is_error());
        EXPECT_TRUE(s.tracking->wait_for_new_session(session, tracking_deadline)) << s.tracking->last_error();
    });
}

// A slot holding a quarter of the hashes moves to another master under the
// same load (ASK during the move, MOVED after it), then back.
TEST_F(ClusterNearCache, ReshardingUnderLoadServesNoReadOlderThanADeliveredInvalidation) {
    const std::size_t from = cluster().master_index_for_slot(moved_slot);
    std::size_t to = from;
    for (std::size_t m : cluster().masters()) {
        if (m != from) to = m;
    }
    ASSERT_NE(from, to);
    expect_no_stale_read(cluster(), 3s, [&](Stack& s) {
        const auto sessions = s.tracking->stats().sessions;
        cluster().begin_migration(moved_slot, from, to);
        while (cluster().migrate_keys(moved_slot, from, to, 20) > 0) {
        }
        cluster().finish_migration(moved_slot, from, to);
        cluster().wait_until_healthy();
        cluster().move_slot(moved_slot, from);
        // The client saw the slot move: a new cluster session began.
        EXPECT_TRUE(dogpile::test::wait_for_condition(
            [&] { return s.tracking->stats().sessions > sessions && s.tracking->tracking(); }, tracking_deadline));
        EXPECT_GT(s.client->stats().moved + s.client->stats().ask, 0u);
    });
    cluster().restore_slot(moved_slot, from);
}

// ------------------------------------------------------------- failover

// Last: the topology stays changed. A master is SIGKILLed: the near tier
// drops everything and serves nothing from memory; its replica is promoted,
// the slot map reloaded, a listener started on it, and near hits resume.
TEST_F(ClusterNearCache, ZKilledMasterIsDroppedAndTheNearTierRecovers) {
    ClusterOptions options = cluster().client_options();
    options.pool.connection.connect_timeout = 200ms;
    options.pool.connection.command_timeout = 500ms;
    Stack s(cluster(), 2000, options);
    ASSERT_TRUE(s.tracking->wait_until_tracking(tracking_deadline)) << s.tracking->last_error();
    std::vector<HashKey> keys;
    for (std::size_t m : cluster().masters()) {
        for (int i = 0; i < 5; ++i) keys.push_back(HashKey{hash_on(m, i * 1000), "f"});
    }
    for (const auto& key : keys) s.set_other(key, 7);
    for (const auto& key : keys) s.cache->get(key);
    for (const auto& key : keys) ASSERT_TRUE(s.cache->near_contains(key)) << s.tracking->last_error();

    const std::size_t master = cluster().master_index_for_key(keys.front().hash);
    const auto replica = cluster().replica_of(master);
    ASSERT_TRUE(replica.has_value());
    cluster().node(master).kill();
    // The session ends, then the sinks are flushed: wait for both.
    EXPECT_TRUE(dogpile::test::wait_for_condition([&] { return !s.tracking->tracking() && s.cache->near_size() == 0; },
                                                  tracking_deadline))
        << "the near tier must stop serving, and drop, what it cannot vouch for; near size " << s.cache->near_size();
    // Not tracking: reads are bypassed (and may fail while the slot is down).
    try {
        s.cache->get(keys.back());
    } catch (const std::exception&) {
    }
    EXPECT_FALSE(s.cache->near_contains(keys.back()));

    ASSERT_EQ(cluster().raw(*replica, {"CONFIG", "SET", "cluster-replica-no-failover", "no"}).str, "OK");
    RedisCluster::wait_for([&] { return cluster().role(*replica) == "master"; }, 30s, "the replica to be promoted");
    // The tracking notices the promotion itself (it reloads the slot map
    // while a listener is down), without a command failing.
    EXPECT_TRUE(s.tracking->wait_until_tracking(tracking_deadline)) << s.tracking->last_error();
    const auto nodes = s.tracking->nodes();
    EXPECT_TRUE(std::any_of(nodes.begin(), nodes.end(), [&](const auto& n) {
        return n.address.port == cluster().node(*replica).port() && n.tracking;
    })) << "no listener on the promoted replica";
    EXPECT_FALSE(std::any_of(nodes.begin(), nodes.end(), [&](const auto& n) {
        return n.address.port == cluster().node(master).port();
    })) << "the dead master still has a listener";

    // Near hits again, on the promoted replica's keys too.
    const auto hits = s.cache->stats().hits;
    RedisCluster::wait_for(
        [&] {
            for (const auto& key : keys) {
                if (version_of(s.cache->get(key)) != 7u) return false;
            }
            return std::all_of(keys.begin(), keys.end(), [&](const HashKey& k) { return s.cache->near_contains(k); });
        },
        30s, "the near tier to keep every key again");
    for (const auto& key : keys) EXPECT_EQ(version_of(s.cache->get(key)), 7u);
    EXPECT_GE(s.cache->stats().hits, hits + keys.size());
    // And the promoted node's invalidations arrive.
    s.set_other(keys.front(), 8);
    EXPECT_TRUE(dogpile::test::wait_for_condition([&] { return !s.cache->near_contains(keys.front()); }, 10s));
    EXPECT_EQ(version_of(s.cache->get(keys.front())), 8u);
}

}  // namespace
