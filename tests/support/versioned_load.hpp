#pragma once
// The versioned load of the near-cache stress tests (one server:
// test_redis_near_cache_stress.cpp, which states the property; a cluster:
// test_redis_cluster_near_cache.cpp): values are versions, writers raise
// them, readers check that no read is older than what was delivered before
// it began.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <dogpile/backend.hpp>
#include <dogpile/backends/redis/hash_key.hpp>
#include <dogpile/cached_value.hpp>
#include <dogpile/redis/tracking_options.hpp>

#include "latch.hpp"

namespace dogpile::test {

using Version = std::uint64_t;
using VersionBackend = dogpile::Backend<Version, dogpile::HashKey>;

inline void raise_to(std::atomic<Version>& target, Version v) {
    Version current = target.load();
    while (current < v && !target.compare_exchange_weak(current, v)) {
    }
}

// written: the last version a writer's set() returned for; delivered: a
// version no read beginning now may be older than.
struct VersionedKey {
    std::mutex write_order;
    std::atomic<Version> written{0};
    std::atomic<Version> delivered{0};
};

// The sinks that bracket the near cache's own (subscribed before and after
// it): `Snapshots` has take(redis_keys) and publish().
template <class Snapshots>
struct SnapshotBefore final : dogpile::redis::InvalidationSink {
    explicit SnapshotBefore(Snapshots& s) : snapshots(s) {}
    void invalidate(const std::vector<std::string_view>& redis_keys) override { snapshots.take(redis_keys); }
    void flush(dogpile::redis::FlushReason) override {}
    Snapshots& snapshots;
};

template <class Snapshots>
struct SnapshotAfter final : dogpile::redis::InvalidationSink {
    explicit SnapshotAfter(Snapshots& s) : snapshots(s) {}
    void invalidate(const std::vector<std::string_view>&) override { snapshots.publish(); }
    void flush(dogpile::redis::FlushReason) override {}
    Snapshots& snapshots;
};

// What the readers and writers count.
struct LoadTally {
    std::atomic<std::uint64_t> reads{0};
    std::atomic<std::uint64_t> violations{0};
    std::atomic<std::uint64_t> errors{0};

    void violated(const std::string& what) {
        if (violations.fetch_add(1) != 0) return;
        std::lock_guard<std::mutex> lock(mutex_);
        first_violation_ = what;
    }
    std::string first_violation() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return first_violation_;
    }

private:
    mutable std::mutex mutex_;
    std::string first_violation_;
};

// Writes the next version of random keys until `stop`; a writer through the
// near cache raises `delivered` at once (set() dropped the near entries).
template <class Keys, class KeyOf>
void write_versions(VersionBackend& target, Keys& keys, KeyOf&& key_of, bool through_near, unsigned seed, Latch& start,
                    const std::atomic<bool>& stop, LoadTally& tally) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::size_t> pick(0, keys.size() - 1);
    start.arrive_and_wait();
    while (!stop.load()) {
        const std::size_t k = pick(rng);
        VersionedKey& s = keys[k];
        std::lock_guard<std::mutex> order(s.write_order);
        const Version v = s.written.load() + 1;
        try {
            target.set(key_of(k), CachedValue<Version>{v, Metadata::store_managed()});
        } catch (const std::exception&) {
            tally.errors.fetch_add(1);
            continue;  // not written for sure: the next write reuses the version
        }
        s.written.store(v);
        if (through_near) raise_to(s.delivered, v);
    }
}

// Reads random keys through `cache` until `stop`, each checked against the
// version delivered before it began.
template <class Keys, class KeyOf>
void read_versions(VersionBackend& cache, Keys& keys, KeyOf&& key_of, unsigned seed, Latch& start,
                   const std::atomic<bool>& stop, LoadTally& tally) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::size_t> pick(0, keys.size() - 1);
    start.arrive_and_wait();
    while (!stop.load()) {
        const std::size_t k = pick(rng);
        const Version floor = keys[k].delivered.load();
        std::optional<CachedValue<Version>> got;
        try {
            got = cache.get(key_of(k));
        } catch (const std::exception&) {
            tally.errors.fetch_add(1);
            continue;
        }
        tally.reads.fetch_add(1, std::memory_order_relaxed);
        const Version seen = got ? got->value : 0;
        if (seen < floor) {
            tally.violated("key " + std::to_string(k) + ": read version " + std::to_string(seen) + " after version " +
                           std::to_string(floor) + " was delivered");
        }
    }
}

// Starts the stress load: `readers` readers through `cache`, a writer through
// `other` (another process: the near tier learns of it by invalidation) and
// one through `cache`. They wait on `start`, made for readers + 3 (the
// caller too); the caller sets `stop` and joins them.
template <class Keys, class KeyOf>
std::vector<std::thread> start_versioned_load(VersionBackend& cache, VersionBackend& other, Keys& keys,
                                              const KeyOf& key_of, std::size_t readers, Latch& start,
                                              const std::atomic<bool>& stop, LoadTally& tally) {
    std::vector<std::thread> threads;
    for (std::size_t r = 0; r < readers; ++r) {
        threads.emplace_back(
            [&, r] { read_versions(cache, keys, key_of, static_cast<unsigned>(100 + r), start, stop, tally); });
    }
    threads.emplace_back([&] { write_versions(other, keys, key_of, false, 1u, start, stop, tally); });
    threads.emplace_back([&] { write_versions(cache, keys, key_of, true, 2u, start, stop, tally); });
    return threads;
}

}  // namespace dogpile::test
