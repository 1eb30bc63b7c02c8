// The Redis backends on a real Redis Cluster, unchanged, through
// ClusterClient: RedisBackend's multi-key reads and deletes (split per slot),
// its distributed lock, and the symmetric A-to-B store in both of its cluster
// modes (RedisSymmetricBackendOptions::mode): atomic scripts over ids
// co-located by a hash tag, and per-node steps
// (backends/redis/details/symmetric_per_node.hpp) for ids that are not. The hash
// store's own suites run on the cluster in test_redis_hash_backend.

#include <gtest/gtest.h>

#include <dogpile/testing/backend_suite.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/backends/redis/details/symmetric_per_node.hpp>
#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/backends/redis/plain.hpp>
#include <dogpile/backends/redis/symmetric.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/details/random.hpp>
#include <dogpile/redis/cluster.hpp>
#include <dogpile/region.hpp>

#include "support/conformance_factories.hpp"
#include "support/latch.hpp"
#include "support/lock_attempt_recorder.hpp"
#include "support/redis_cluster.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::A2BKey;
using dogpile::redis::ClusterClient;
using dogpile::redis::ReplyError;
using dogpile::redis::details::SymmetricLayout;
using dogpile::redis::details::SymmetricSide;
using dogpile::redis::details::SymmetricWrite;
using dogpile::test::RawReply;
using dogpile::test::RedisCluster;

using Symmetric = dogpile::RedisSymmetricBackend<std::string>;

RedisCluster& cluster() { return RedisCluster::shared(); }

std::shared_ptr<ClusterClient> make_client() { return std::make_shared<ClusterClient>(cluster().client_options()); }

std::string test_prefix() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->name()) + ":";
}

std::string encoded(const std::string& value) { return dogpile::codec::MsgpackCodec<std::string>().encode(value); }

std::optional<std::string> raw_hget(const std::string& hash, const std::string& field) {
    const RawReply r = cluster().raw_for_key(hash, {"HGET", hash, field});
    if (r.is_nil()) return std::nullopt;
    return r.str;
}

long long raw_pttl(const std::string& key) { return cluster().raw_for_key(key, {"PTTL", key}).integer; }

std::size_t masters_of(const std::vector<std::string>& keys) {
    std::set<std::size_t> nodes;
    for (const auto& k : keys) nodes.insert(cluster().master_index_for_key(k));
    return nodes.size();
}

// ------------------------------------------------------------ RedisBackend

TEST(ClusterRedisBackend, MultiKeyOperationsSpreadOverTheMasters) {
    auto client = make_client();
    dogpile::RedisBackend<std::string> backend(dogpile::RedisBackendOptions{client, test_prefix()});
    std::vector<std::string> keys;
    std::vector<std::pair<std::string, dogpile::CachedValue<std::string>>> entries;
    for (int i = 0; i < 100; ++i) {
        keys.push_back("k" + std::to_string(i));
        entries.push_back(
            {keys.back(), {"v" + std::to_string(i), dogpile::Metadata::created_now(dogpile::WallClock::now())}});
    }
    std::vector<std::string> redis_keys;
    for (const auto& k : keys) redis_keys.push_back(backend.redis_key_of(k));
    ASSERT_EQ(masters_of(redis_keys), 3u);

    auto before = client->round_trips();
    backend.set_multi(entries);
    EXPECT_EQ(client->round_trips() - before, 3u) << "the SETs, one pipeline per master";

    keys.push_back("never-written");
    before = client->round_trips();
    const auto got = backend.get_multi(keys);
    EXPECT_EQ(client->round_trips() - before, 3u) << "one MGET, split per slot, one pipeline per master";
    ASSERT_EQ(got.size(), keys.size());
    for (int i = 0; i < 100; ++i) {
        ASSERT_TRUE(got[static_cast<std::size_t>(i)]) << i;
        EXPECT_EQ(got[static_cast<std::size_t>(i)]->value, "v" + std::to_string(i));
    }
    EXPECT_FALSE(got.back());

    backend.erase(keys[0]);
    EXPECT_FALSE(backend.get(keys[0]));
    EXPECT_TRUE(backend.get(keys[1]));
    backend.erase_multi(keys);
    for (const auto& k : redis_keys) EXPECT_EQ(cluster().raw_for_key(k, {"EXISTS", k}).integer, 0) << k;
}

// Every thread has its own client and its own Region, as separate processes
// would: no in-process lock is shared, so only the distributed lock can keep
// the creations to one. The creator holds the lock until each of the other 15
// threads has tried to take it and been refused by the server (a SET NX
// answered nil, recorded per thread by a forwarding client): they all really
// waited on it, however the threads were scheduled. With a lock that did not
// exclude, nobody is refused and every thread runs the creator.
TEST(ClusterRedisBackend, DistributedLockMakesThreadsCreateOnce) {
    constexpr int threads = 16;
    const std::string key = "cold-" + dogpile::details::random_hex(6);  // cold on every run (--gtest_repeat)
    const std::string lock_prefix = test_prefix() + "lock|";
    std::vector<std::shared_ptr<dogpile::test::LockAttemptRecorder>> clients;
    std::vector<std::unique_ptr<dogpile::Region<std::string>>> regions;
    for (int t = 0; t < threads; ++t) {
        clients.push_back(std::make_shared<dogpile::test::LockAttemptRecorder>(make_client(), lock_prefix));
        dogpile::RedisBackendOptions options{clients.back(), test_prefix()};
        options.distributed_lock = dogpile::redis::LockOptions{};
        options.distributed_lock->prefix = lock_prefix;
        regions.push_back(std::make_unique<dogpile::Region<std::string>>(
            std::make_shared<dogpile::RedisBackend<std::string>>(options)));
    }

    std::atomic<int> creations{0};
    std::atomic<int> wrong{0};
    std::atomic<int> threw{0};
    std::atomic<int> creator_gave_up{0};
    std::vector<std::atomic<bool>> in_creator(threads);
    std::vector<std::atomic<bool>> finished(threads);
    for (int t = 0; t < threads; ++t) {
        in_creator[static_cast<std::size_t>(t)].store(false);
        finished[static_cast<std::size_t>(t)].store(false);
    }
    // Every thread but `self` was refused the lock, or (with a lock that does
    // not exclude) is creating too or is already done.
    auto others_waited = [&](int self) {
        for (int u = 0; u < threads; ++u) {
            const auto i = static_cast<std::size_t>(u);
            if (u == self || clients[i]->attempts().missed > 0 || in_creator[i].load() || finished[i].load()) continue;
            return false;
        }
        return true;
    };
    dogpile::test::Latch start(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            start.arrive_and_wait();
            try {
                const std::string v = regions[static_cast<std::size_t>(t)]->get_or_create(key, [&] {
                    creations.fetch_add(1);
                    in_creator[static_cast<std::size_t>(t)].store(true);
                    // A generous bound, so that a broken lock fails the test instead of hanging it.
                    if (!dogpile::test::wait_for_condition([&] { return others_waited(t); }, 60s)) {
                        creator_gave_up.fetch_add(1);
                    }
                    return std::string("made-once");
                });
                if (v != "made-once") wrong.fetch_add(1);
            } catch (const std::exception&) {
                threw.fetch_add(1);
            }
            finished[static_cast<std::size_t>(t)].store(true);
        });
    }
    for (auto& t : pool) t.join();

    EXPECT_EQ(creations.load(), 1);
    EXPECT_EQ(creator_gave_up.load(), 0) << "some threads never tried the lock while the creator held it";
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(threw.load(), 0);
    int refused_threads = 0;
    std::uint64_t lock_waits = 0, backend_errors = 0;
    for (int t = 0; t < threads; ++t) {
        refused_threads += clients[static_cast<std::size_t>(t)]->attempts().missed > 0 ? 1 : 0;
        lock_waits += regions[static_cast<std::size_t>(t)]->stats().lock_waits;
        backend_errors += regions[static_cast<std::size_t>(t)]->stats().backend_errors;
    }
    EXPECT_EQ(refused_threads, threads - 1) << "all but the creator were refused the lock at least once";
    EXPECT_EQ(lock_waits, static_cast<std::uint64_t>(threads - 1));
    EXPECT_EQ(backend_errors, 0u);
}

// ------------------------------------------------------------ symmetric store

dogpile::RedisSymmetricBackendOptions symmetric_options(std::shared_ptr<ClusterClient> client) {
    dogpile::RedisSymmetricBackendOptions o{client, std::chrono::hours(1)};
    o.a_prefix = test_prefix() + "a2b-a|";
    o.b_prefix = test_prefix() + "a2b-b|";
    return o;
}

dogpile::CachedValue<std::string> entry(const std::string& v) { return {v, {}}; }

// Atomic mode: ids carrying one hash tag put both directions in one slot, so
// the backend's scripts (write, erase, invalidate) run atomically on its node.
TEST(ClusterSymmetric, AtomicModeWithIdsSharingAHashTag) {
    auto client = make_client();
    Symmetric backend(symmetric_options(client));
    const std::string u1 = "{tenant7}user1", u2 = "{tenant7}user2", o1 = "{tenant7}obj1", o2 = "{tenant7}obj2";
    backend.set(A2BKey{u1, o1}, entry("u1o1"));
    backend.set_multi({{A2BKey{u1, o2}, entry("u1o2")}, {A2BKey{u2, o1}, entry("u2o1")}});
    EXPECT_EQ(masters_of({backend.hash_of_a(u1), backend.hash_of_a(u2), backend.hash_of_b(o1), backend.hash_of_b(o2)}),
              1u);
    EXPECT_EQ(raw_hget(backend.hash_of_b(o1), u2), encoded("u2o1"));
    const auto got = backend.get_multi({A2BKey{u1, o1}, A2BKey{u1, o2}, A2BKey{u2, o1}, A2BKey{u2, o2}});
    EXPECT_EQ(got[0]->value, "u1o1");
    EXPECT_EQ(got[1]->value, "u1o2");
    EXPECT_EQ(got[2]->value, "u2o1");
    EXPECT_FALSE(got[3]);

    EXPECT_EQ(backend.invalidate_b(o1), 2u);
    EXPECT_FALSE(backend.get(A2BKey{u1, o1}));
    EXPECT_FALSE(backend.get(A2BKey{u2, o1}));
    EXPECT_TRUE(backend.get(A2BKey{u1, o2}));
    EXPECT_EQ(cluster().raw_for_key(backend.hash_of_b(o1), {"EXISTS", backend.hash_of_b(o1)}).integer, 0);
    backend.erase(A2BKey{u1, o2});
    EXPECT_FALSE(raw_hget(backend.hash_of_b(o2), u1));
    EXPECT_EQ(backend.invalidate_a(u1), 0u);
}

// Without a shared tag the scripts' keys are in different slots: the server
// refuses them (CROSSSLOT) before running anything, so nothing is half-written.
TEST(ClusterSymmetric, UntaggedPairsAreRefusedByTheAtomicScripts) {
    auto client = make_client();
    Symmetric backend(symmetric_options(client));
    std::string a = "user1", b = "obj1";
    while (dogpile::redis::key_slot(backend.hash_of_a(a)) == dogpile::redis::key_slot(backend.hash_of_b(b))) b += "x";
    try {
        backend.set(A2BKey{a, b}, entry("v"));
        ADD_FAILURE() << "a cross-slot pair was written";
    } catch (const ReplyError& e) {
        EXPECT_TRUE(e.is_crossslot()) << e.what();
    }
    EXPECT_FALSE(raw_hget(backend.hash_of_a(a), b));
    EXPECT_FALSE(raw_hget(backend.hash_of_b(b), a));
}

// The backend's two modes on ids that are NOT co-located (no hash tag), so
// a pair's two hashes live on different nodes.
TEST(ClusterSymmetric, PerNodeModeServesUntaggedIdsWhereAtomicModeIsRefused) {
    auto client = make_client();
    auto per_node_options = symmetric_options(client);
    per_node_options.mode = dogpile::redis::SymmetricMode::per_node;
    auto per_node = std::make_shared<Symmetric>(per_node_options);
    Symmetric atomic(symmetric_options(client));  // same prefixes, atomic mode

    auto user = [](int i) { return "user" + std::to_string(i); };
    auto obj = [](int i) { return "obj" + std::to_string(i); };
    auto value = [&](int u, int o) { return user(u) + "/" + obj(o); };
    std::vector<std::string> hashes;
    for (int i = 0; i < 4; ++i) {
        hashes.push_back(per_node->hash_of_a(user(i)));
        hashes.push_back(per_node->hash_of_b(obj(i)));
    }
    ASSERT_GE(masters_of(hashes), 2u) << "the point is pairs whose hashes are on different nodes";

    // Writes: set and set_multi, read back through a Region (no creator call)
    // and get_multi; every entry has its mirror.
    per_node->set(A2BKey{user(0), obj(0)}, entry(value(0, 0)));
    std::vector<std::pair<A2BKey, dogpile::CachedValue<std::string>>> entries;
    for (int u = 0; u < 4; ++u) {
        for (int o = 0; o < 4; ++o) {
            if (u + o > 0) entries.push_back({A2BKey{user(u), obj(o)}, entry(value(u, o))});
        }
    }
    per_node->set_multi(entries);
    dogpile::Region<std::string, A2BKey> region(per_node);
    int creations = 0;
    std::vector<A2BKey> keys;
    for (int u = 0; u < 4; ++u) {
        for (int o = 0; o < 4; ++o) {
            keys.push_back(A2BKey{user(u), obj(o)});
            EXPECT_EQ(region.get_or_create(keys.back(), [&] { return ++creations, std::string("created"); }),
                      value(u, o));
            EXPECT_EQ(raw_hget(per_node->hash_of_b(obj(o)), user(u)), encoded(value(u, o))) << "mirror " << keys.back();
        }
    }
    EXPECT_EQ(creations, 0);
    const auto got = per_node->get_multi(keys);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        ASSERT_TRUE(got[i]) << keys[i];
        EXPECT_EQ(got[i]->value, keys[i].a + "/" + keys[i].b);
    }
    EXPECT_GT(raw_pttl(per_node->hash_of_a(user(1))), 3600000 - 60000);
    EXPECT_GT(raw_pttl(per_node->hash_of_b(obj(1))), 3600000 - 60000);

    // invalidate_b: every user's entry for obj1, and its mirror hash; the
    // region recomputes.
    EXPECT_EQ(per_node->invalidate_b(obj(1)), 4u);
    for (int u = 0; u < 4; ++u) {
        EXPECT_FALSE(per_node->get(A2BKey{user(u), obj(1)})) << u;
        EXPECT_TRUE(per_node->get(A2BKey{user(u), obj(2)})) << u;
    }
    EXPECT_EQ(cluster().raw_for_key(per_node->hash_of_b(obj(1)), {"EXISTS", per_node->hash_of_b(obj(1))}).integer, 0);
    EXPECT_EQ(region.get_or_create(A2BKey{user(3), obj(1)}, [&] { return ++creations, std::string("created"); }),
              "created");
    EXPECT_EQ(creations, 1);

    // invalidate_a: all of user2's entries (obj1's was recreated only for
    // user3), and user2 in every mirror; other users untouched.
    EXPECT_EQ(per_node->invalidate_a(user(2)), 3u);
    EXPECT_EQ(cluster().raw_for_key(per_node->hash_of_a(user(2)), {"EXISTS", per_node->hash_of_a(user(2))}).integer, 0);
    for (int o : {0, 2, 3}) {
        EXPECT_FALSE(raw_hget(per_node->hash_of_b(obj(o)), user(2))) << o;
        EXPECT_TRUE(raw_hget(per_node->hash_of_b(obj(o)), user(1))) << o;
    }

    // erase / erase_multi: both sides of each pair.
    per_node->erase(A2BKey{user(0), obj(0)});
    per_node->erase_multi({A2BKey{user(1), obj(2)}, A2BKey{user(3), obj(3)}});
    for (const auto& [u, o] : std::vector<std::pair<int, int>>{{0, 0}, {1, 2}, {3, 3}}) {
        EXPECT_FALSE(raw_hget(per_node->hash_of_a(user(u)), obj(o))) << u << "," << o;
        EXPECT_FALSE(raw_hget(per_node->hash_of_b(obj(o)), user(u))) << u << "," << o;
    }
    EXPECT_TRUE(per_node->get(A2BKey{user(0), obj(2)}));

    // Atomic mode on an untagged pair whose two hashes are on different
    // nodes (so in different slots): refused before anything runs.
    std::string a = "fresh-user", b = "fresh-obj";
    while (cluster().master_index_for_key(atomic.hash_of_a(a)) == cluster().master_index_for_key(atomic.hash_of_b(b))) {
        b += "x";
    }
    auto expect_crossslot = [](auto&& fn, const char* what) {
        try {
            fn();
            ADD_FAILURE() << what << ": a cross-slot script ran";
        } catch (const ReplyError& e) {
            EXPECT_TRUE(e.is_crossslot()) << what << ": " << e.what();
        }
    };
    expect_crossslot([&] { atomic.set(A2BKey{a, b}, entry("v")); }, "set");
    expect_crossslot([&] { atomic.set_multi({{A2BKey{a, b}, entry("v")}}); }, "set_multi");
    EXPECT_FALSE(raw_hget(atomic.hash_of_a(a), b));
    EXPECT_FALSE(raw_hget(atomic.hash_of_b(b), a));

    // An erase of a pair the per-node mode wrote: refused, both sides intact.
    per_node->set(A2BKey{a, b}, entry("v"));
    expect_crossslot([&] { atomic.erase(A2BKey{a, b}); }, "erase");
    expect_crossslot([&] { atomic.erase_multi({A2BKey{a, b}}); }, "erase_multi");
    EXPECT_EQ(raw_hget(atomic.hash_of_a(a), b), encoded("v"));
    EXPECT_EQ(raw_hget(atomic.hash_of_b(b), a), encoded("v"));

    // The atomic invalidation finds the mirrors inside its script, where the
    // server refuses the first one on another node (a script without flags
    // may touch other slots of its own node): the id's only pair is on two
    // nodes, so nothing is removed.
    EXPECT_THROW(atomic.invalidate_a(a), ReplyError);
    EXPECT_THROW(atomic.invalidate_b(b), ReplyError);
    EXPECT_EQ(raw_hget(atomic.hash_of_a(a), b), encoded("v"));
    EXPECT_EQ(raw_hget(atomic.hash_of_b(b), a), encoded("v"));
    EXPECT_EQ(per_node->invalidate_b(b), 1u);
    EXPECT_FALSE(raw_hget(atomic.hash_of_a(a), b));
}

SymmetricLayout layout_of(const Symmetric& backend) {
    return SymmetricLayout{backend.options().a_prefix, backend.options().b_prefix, "3600000",
                           dogpile::redis::details::ttl_on_create, backend.options().max_pairs_per_call};
}

// Per-node mode: the same layout written step by step, readable by the
// backend, with the TTL rule on both sides and invalidation in both directions.
TEST(ClusterSymmetric, PerNodeStepsKeepTheLayoutAcrossNodes) {
    auto client = make_client();
    Symmetric backend(symmetric_options(client));
    const SymmetricLayout layout = layout_of(backend);
    std::vector<SymmetricWrite> writes;
    for (int a = 0; a < 4; ++a) {
        SymmetricWrite w{"user" + std::to_string(a), {}};
        for (int b = 0; b < 5; ++b) {
            w.b_payloads.emplace_back("obj" + std::to_string(b),
                                      encoded("u" + std::to_string(a) + "o" + std::to_string(b)));
        }
        writes.push_back(std::move(w));
    }
    std::vector<std::string> hashes;
    for (int i = 0; i < 5; ++i) {
        hashes.push_back(backend.hash_of_a("user" + std::to_string(i)));
        hashes.push_back(backend.hash_of_b("obj" + std::to_string(i)));
    }
    ASSERT_GE(masters_of(hashes), 2u) << "the point is hashes on several nodes";

    dogpile::redis::details::symmetric_write_per_node(*client, layout, writes);
    for (int a = 0; a < 4; ++a) {
        for (int b = 0; b < 5; ++b) {
            const A2BKey key{"user" + std::to_string(a), "obj" + std::to_string(b)};
            const auto got = backend.get(key);
            ASSERT_TRUE(got) << key;
            EXPECT_EQ(got->value, "u" + std::to_string(a) + "o" + std::to_string(b));
            EXPECT_EQ(raw_hget(backend.hash_of_b(key.b), key.a), encoded(got->value)) << "the mirror";
        }
    }
    EXPECT_GT(raw_pttl(backend.hash_of_a("user0")), 3600000 - 60000);
    EXPECT_GT(raw_pttl(backend.hash_of_b("obj0")), 3600000 - 60000);

    // The TTL rule per hash: a later write never prolongs either side.
    cluster().raw_for_key(backend.hash_of_a("user0"), {"PEXPIRE", backend.hash_of_a("user0"), "5000"});
    cluster().raw_for_key(backend.hash_of_b("obj0"), {"PEXPIRE", backend.hash_of_b("obj0"), "5000"});
    dogpile::redis::details::symmetric_write_per_node(*client, layout,
                                                      {SymmetricWrite{"user0", {{"obj0", encoded("again")}}}});
    EXPECT_LE(raw_pttl(backend.hash_of_a("user0")), 5000);
    EXPECT_LE(raw_pttl(backend.hash_of_b("obj0")), 5000);

    // invalidate_b: every user's entry for obj1, and its mirror hash.
    EXPECT_EQ(dogpile::redis::details::symmetric_invalidate_per_node(*client, layout, SymmetricSide::b, "obj1"), 4u);
    for (int a = 0; a < 4; ++a) EXPECT_FALSE(backend.get(A2BKey{"user" + std::to_string(a), "obj1"})) << a;
    EXPECT_TRUE(backend.get(A2BKey{"user0", "obj2"}));
    EXPECT_EQ(cluster().raw_for_key(backend.hash_of_b("obj1"), {"EXISTS", backend.hash_of_b("obj1")}).integer, 0);

    // invalidate_a: all of user2's entries, and user2 in every mirror.
    EXPECT_EQ(dogpile::redis::details::symmetric_invalidate_per_node(*client, layout, SymmetricSide::a, "user2"), 4u);
    for (int b : {0, 2, 3, 4}) {
        EXPECT_FALSE(backend.get(A2BKey{"user2", "obj" + std::to_string(b)}));
        EXPECT_FALSE(raw_hget(backend.hash_of_b("obj" + std::to_string(b)), "user2")) << b;
        EXPECT_TRUE(raw_hget(backend.hash_of_b("obj" + std::to_string(b)), "user3")) << b;
    }

    // erase: one pair, both sides.
    dogpile::redis::details::symmetric_erase_per_node(*client, layout, {{"user3", "obj4"}});
    EXPECT_FALSE(backend.get(A2BKey{"user3", "obj4"}));
    EXPECT_FALSE(raw_hget(backend.hash_of_b("obj4"), "user3"));
    EXPECT_TRUE(backend.get(A2BKey{"user3", "obj3"}));
}

// A write is two steps (mirrors, then entries), each one round trip per node.
TEST(ClusterSymmetric, PerNodeWriteCostsOneRoundTripPerNodePerStep) {
    auto client = make_client();
    Symmetric backend(symmetric_options(client));
    const SymmetricLayout layout = layout_of(backend);
    SymmetricWrite w{"user", {}};
    std::vector<std::string> mirror_hashes;
    for (int b = 0; b < 30; ++b) {
        w.b_payloads.emplace_back("obj" + std::to_string(b), encoded("x"));
        mirror_hashes.push_back(backend.hash_of_b("obj" + std::to_string(b)));
    }
    dogpile::redis::details::symmetric_write_per_node(*client, layout, {w});  // loads the script everywhere
    const auto before = client->round_trips();
    dogpile::redis::details::symmetric_write_per_node(*client, layout, {w});
    EXPECT_EQ(client->round_trips() - before, masters_of(mirror_hashes) + 1);
}

// Both modes share the layout: a per-node invalidation cleans what the
// atomic script wrote (co-located ids), and the backend reads per-node writes.
TEST(ClusterSymmetric, TheTwoModesReadEachOthersData) {
    auto client = make_client();
    Symmetric backend(symmetric_options(client));
    const SymmetricLayout layout = layout_of(backend);
    backend.set(A2BKey{"{t}u", "{t}o1"}, entry("atomic"));
    backend.set(A2BKey{"{t}u", "{t}o2"}, entry("atomic2"));
    EXPECT_EQ(dogpile::redis::details::symmetric_invalidate_per_node(*client, layout, SymmetricSide::a, "{t}u"), 2u);
    EXPECT_FALSE(backend.get(A2BKey{"{t}u", "{t}o1"}));
    EXPECT_FALSE(raw_hget(backend.hash_of_b("{t}o1"), "{t}u"));

    dogpile::redis::details::symmetric_write_per_node(*client, layout,
                                                      {SymmetricWrite{"{t}v", {{"{t}o3", encoded("per-node")}}}});
    EXPECT_EQ(backend.get(A2BKey{"{t}v", "{t}o3"})->value, "per-node");
    EXPECT_EQ(backend.invalidate_b("{t}o3"), 1u);
    EXPECT_FALSE(backend.get(A2BKey{"{t}v", "{t}o3"}));
}

// ------------------------------------------------------------ the Backend contract

// The hash store and the plain store on the cluster, through ClusterClient:
// keys spread over every master.
struct ClusterHash {
    using Value = std::string;
    using Key = dogpile::HashKey;
    static std::string name() { return "Hash"; }
    static dogpile::testing::BackendCapabilities capabilities() {
        dogpile::testing::BackendCapabilities c;
        c.metadata = dogpile::testing::MetadataKept::store_managed;
        c.mutex = dogpile::testing::MutexOffer::exclusive;
        return c;
    }
    std::shared_ptr<dogpile::Backend<Value, Key>> make() {
        prefix = dogpile::test::conformance::unique_prefix();
        dogpile::RedisHashBackendOptions o;
        o.client = make_client();
        o.ttl = std::chrono::hours(1);
        o.distributed_lock = dogpile::redis::LockOptions{};
        o.distributed_lock->prefix = prefix + "lock|";
        return std::make_shared<dogpile::RedisHashBackend<Value>>(o);
    }
    Key key(std::size_t i) { return {prefix + "h" + std::to_string(i % 5), std::to_string(i)}; }
    Value value(std::size_t i) { return "value " + std::to_string(i); }
    std::vector<Key> awkward_keys() { return dogpile::test::conformance::awkward_hash_keys(prefix); }
    void corrupt(const Key& key, const std::string& bytes) {
        const RawReply r = cluster().raw_for_key(key.hash, {"HSET", key.hash, key.field, bytes});
        ASSERT_FALSE(r.is_error()) << r.str;
    }

    std::string prefix;
};

struct ClusterPlain {
    using Value = std::string;
    using Key = std::string;
    static std::string name() { return "Plain"; }
    static dogpile::testing::BackendCapabilities capabilities() {
        dogpile::testing::BackendCapabilities c;
        c.mutex = dogpile::testing::MutexOffer::exclusive;
        return c;
    }
    std::shared_ptr<dogpile::Backend<Value, Key>> make() {
        prefix = dogpile::test::conformance::unique_prefix();
        dogpile::RedisBackendOptions o;
        o.client = make_client();
        o.key_prefix = prefix;
        o.distributed_lock = dogpile::redis::LockOptions{};
        o.distributed_lock->prefix = prefix + "lock|";
        return std::make_shared<dogpile::RedisBackend<Value>>(o);
    }
    Key key(std::size_t i) { return "k" + std::to_string(i); }
    Value value(std::size_t i) { return "value " + std::to_string(i); }
    void corrupt(const Key& key, const std::string& bytes) {
        const RawReply r = cluster().raw_for_key(prefix + key, {"SET", prefix + key, bytes});
        ASSERT_FALSE(r.is_error()) << r.str;
    }

    std::string prefix;
};

}  // namespace

DOGPILE_BACKEND_CONFORMANCE(Cluster, ClusterHash, ClusterPlain);
