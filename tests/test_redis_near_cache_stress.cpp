// NearCacheBackend under concurrent readers and writers against a real
// redis-server: 8 readers and 2 writers over 1,000 keys (100 hashes of 10
// fields), values carrying versions, for a couple of seconds. One writer is
// another process (its own backend on an untracked client), the other writes
// through the near cache; halfway through, the listener's connection is
// killed once.
//
// The property checked: no read returns a version older than the last write
// of its key whose invalidation had been delivered before the read began.
//
// "Delivered" is tracked per key as a lower bound, delivered[k], that only
// ever names versions the near tier can no longer be older than:
//
// * Writes through the near cache: once set() returns, the near entries of
//   the hash are dropped and reads in flight are outdated, so every read
//   beginning afterwards sees at least that version. The writer raises
//   delivered[k] to it.
// * Writes by the other process are learnt through invalidation messages.
//   Two extra sinks bracket the near cache's own (sinks run in subscription
//   order on the listener thread): `before` snapshots written[f] of every
//   field f of the announced hash, *before* the near cache applies the
//   message; `after` raises delivered[f] to those snapshots once it has. A
//   write completed before the snapshot is older than the near cache's drop
//   of the hash, so any entry of f that survives or arrives later was read
//   from Redis after that write (earlier reads are dropped or refused). A
//   snapshot taken after the near cache's step instead would be unsound: a
//   write landing in between may not have been announced yet.
//
// written[k] is raised by a writer after its write returned, under a per-key
// mutex that also orders the two writers' versions of a key.
//
// That property only judges invalidations that arrived: a lost one (a data
// connection not tracked again after the kill, a message dropped on the way)
// never raises delivered[k], so it goes unseen. The run therefore ends with a
// convergence check: once the writers have stopped, every key's near read
// must come to equal the value in Redis, read directly. It is done twice:
// on the state the run left, and after the other process has written every
// key once more (so that every entry the near tier holds, all read in the
// session after the kill, needs an invalidation to stay right).

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/backends/near_cache.hpp>
#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis/tracking.hpp>

#include "support/latch.hpp"
#include "support/versioned_load.hpp"
#include "support/redis_server.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::CachedValue;
using dogpile::HashKey;
using dogpile::Metadata;
using dogpile::redis::InvalidationListener;
using Version = std::uint64_t;
using Remote = dogpile::RedisHashBackend<Version>;
using Near = dogpile::NearCacheBackend<Version, HashKey>;

constexpr std::size_t hash_count = 100;
constexpr std::size_t fields_per_hash = 10;
constexpr std::size_t key_count = hash_count * fields_per_hash;
constexpr std::size_t readers = 8;
constexpr auto run_time = 2s;
// A failure guard only: convergence takes one invalidation message per
// written hash, normally milliseconds.
constexpr auto convergence_deadline = 60s;

std::string hash_name(std::size_t h) { return "calculated-a|" + std::to_string(h); }
HashKey key_of(std::size_t k) { return HashKey{hash_name(k / fields_per_hash), std::to_string(k % fields_per_hash)}; }

using KeyState = dogpile::test::VersionedKey;
using dogpile::test::raise_to;

class Snapshots {
public:
    explicit Snapshots(std::array<KeyState, key_count>& keys) : keys_(keys) {}

    // Listener thread only, before the near cache.
    void take(const std::vector<std::string_view>& redis_keys) {
        pending_.clear();
        for (auto redis_key : redis_keys) {
            const std::string prefix = "calculated-a|";
            if (redis_key.substr(0, prefix.size()) != prefix) continue;
            const std::size_t h = std::stoul(std::string(redis_key.substr(prefix.size())));
            for (std::size_t f = 0; f < fields_per_hash; ++f) {
                const std::size_t k = h * fields_per_hash + f;
                pending_.emplace_back(k, keys_[k].written.load());
            }
        }
    }
    // Listener thread only, after the near cache.
    void publish() {
        for (const auto& [k, v] : pending_) raise_to(keys_[k].delivered, v);
        pending_.clear();
    }

private:
    std::array<KeyState, key_count>& keys_;
    std::vector<std::pair<std::size_t, Version>> pending_;
};

using Before = dogpile::test::SnapshotBefore<Snapshots>;
using After = dogpile::test::SnapshotAfter<Snapshots>;

TEST(NearCacheStress, NoReadIsOlderThanADeliveredInvalidation) {
    dogpile::test::RedisServer server;
    auto keys = std::make_unique<std::array<KeyState, key_count>>();
    Snapshots snapshots(*keys);
    Before before(snapshots);
    After after(snapshots);

    dogpile::redis::TrackingOptions tracking;
    tracking.connection = server.options();
    tracking.reconnect_backoff_min = 5ms;
    auto listener = std::make_shared<InvalidationListener>(tracking);
    auto before_subscription = listener->subscribe(before);

    dogpile::redis::PoolOptions pool;
    pool.size = readers + 2;
    pool.connection = server.options();
    dogpile::RedisHashBackendOptions ro;
    ro.client = dogpile::redis::make_tracked_client(*listener, pool);
    ro.ttl = std::chrono::hours(1);
    auto remote = std::make_shared<Remote>(ro);
    dogpile::NearCacheOptions<HashKey> no;
    no.listener = listener;
    no.redis_key = dogpile::redis_keys_of(*remote);
    no.capacity = 600;  // below the key count: eviction takes part too
    auto cache = std::make_shared<Near>(remote, no);
    auto after_subscription = listener->subscribe(after);
    ASSERT_TRUE(listener->wait_until_tracking(10s)) << listener->last_error();

    // The other process.
    dogpile::RedisHashBackendOptions wo;
    wo.client = dogpile::redis::make_client(server.url());
    wo.ttl = std::chrono::hours(1);
    Remote other(wo);

    std::vector<std::pair<HashKey, CachedValue<Version>>> initial;
    for (std::size_t k = 0; k < key_count; ++k)
        initial.emplace_back(key_of(k), CachedValue<Version>{1, Metadata::store_managed()});
    other.set_multi(initial);
    for (auto& s : *keys) {
        s.written = 1;
        s.delivered = 1;  // the near tier is empty: every read goes to Redis
    }

    std::atomic<bool> stop{false};
    dogpile::test::LoadTally tally;
    dogpile::test::Latch start(readers + 3);
    std::vector<std::thread> threads =
        dogpile::test::start_versioned_load(*cache, other, *keys, key_of, readers, start, stop, tally);

    start.arrive_and_wait();
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(run_time / 2);  // the workload's duration, not synchronisation
    const auto session = listener->session();
    ASSERT_FALSE(server.raw({"CLIENT", "KILL", "TYPE", "pubsub"}).is_error());
    EXPECT_TRUE(listener->wait_for_new_session(session, 10s));
    std::this_thread::sleep_until(t0 + run_time);
    stop = true;
    for (auto& t : threads) t.join();

    const auto s = cache->stats();
    const auto ls = listener->stats();
    EXPECT_EQ(tally.violations.load(), 0u) << tally.first_violation();
    EXPECT_EQ(tally.errors.load(), 0u);
    // The run exercised what it claims to.
    EXPECT_GT(s.hits, 0u);
    EXPECT_GT(s.stored, 0u);
    EXPECT_GT(s.invalidated, 0u);
    EXPECT_GT(ls.invalidation_messages, 0u);
    EXPECT_GE(ls.sessions, 2u);
    EXPECT_LE(cache->near_size(), no.capacity);
    std::printf("reads %llu: near hits %llu, misses %llu, stored %llu, raced %llu, untracked %llu, bypassed %llu, "
                "invalidated %llu, evictions %llu; %llu invalidation messages, %llu sessions\n",
                static_cast<unsigned long long>(tally.reads.load()), static_cast<unsigned long long>(s.hits),
                static_cast<unsigned long long>(s.misses), static_cast<unsigned long long>(s.stored),
                static_cast<unsigned long long>(s.raced), static_cast<unsigned long long>(s.untracked),
                static_cast<unsigned long long>(s.bypassed), static_cast<unsigned long long>(s.invalidated),
                static_cast<unsigned long long>(s.evictions), static_cast<unsigned long long>(ls.invalidation_messages),
                static_cast<unsigned long long>(ls.sessions));

    // --- convergence ------------------------------------------------------
    auto version_of = [](const std::optional<CachedValue<Version>>& e) -> Version { return e ? e->value : 0; };
    // The keys whose near read differs from Redis; with `held_only`, only
    // among those the near tier holds: reading the others through it would go
    // to Redis anyway, and keeping the result could evict, and so hide, a
    // stale entry.
    enum class Keys { held_only, all };
    auto differing = [&](Keys which) {
        std::vector<std::string> out;
        for (std::size_t k = 0; k < key_count; ++k) {
            const HashKey key = key_of(k);
            if (which == Keys::held_only && !cache->near_contains(key)) continue;
            const Version near = version_of(cache->get(key));
            const Version redis = version_of(other.get(key));
            if (near != redis) {
                out.push_back("key " + std::to_string(k) + " near " + std::to_string(near) + " redis " +
                              std::to_string(redis));
            }
        }
        return out;
    };
    auto listed = [](const std::vector<std::string>& keys) {
        std::string text;
        for (std::size_t i = 0; i < keys.size() && i < 20; ++i) text += (i == 0 ? "" : "; ") + keys[i];
        if (keys.size() > 20) text += "; ...";
        return text;
    };
    auto expect_convergence = [&](const char* when) {
        SCOPED_TRACE(when);
        std::vector<std::string> stale;
        const bool converged = dogpile::test::wait_for_condition(
            [&] { return (stale = differing(Keys::held_only)).empty(); }, convergence_deadline);
        EXPECT_TRUE(converged) << stale.size() << " keys never converged: " << listed(stale);
        // Then one near read of every key: held entries are right by now and
        // Redis no longer changes, so each must equal Redis at once.
        ASSERT_TRUE(listener->wait_until_tracking(convergence_deadline)) << listener->last_error();
        const std::vector<std::string> wrong = differing(Keys::all);
        EXPECT_TRUE(wrong.empty()) << wrong.size() << " near reads differ from Redis: " << listed(wrong);
        // Not vacuous: the near tier serves from memory again (a bypassed near
        // tier would equal Redis trivially).
        EXPECT_GT(cache->near_size(), 0u);
    };
    expect_convergence("after the run");

    // Every key written once more by the other process. Every entry the near
    // tier now holds was read in the session after the kill, so it stays right
    // only if that session's invalidations arrive.
    std::vector<std::pair<HashKey, CachedValue<Version>>> final_writes;
    for (std::size_t k = 0; k < key_count; ++k) {
        const Version v = (*keys)[k].written.load() + 1;
        final_writes.emplace_back(key_of(k), CachedValue<Version>{v, Metadata::store_managed()});
    }
    other.set_multi(final_writes);
    for (std::size_t k = 0; k < key_count; ++k) (*keys)[k].written.store(final_writes[k].second.value);
    expect_convergence("after a final write of every key by the other process");

    after_subscription.reset();
    before_subscription.reset();
}

}  // namespace
