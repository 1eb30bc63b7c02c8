// The window climber's mini-simulation (backends/details/window_climber.hpp)
// and its ghost caches (ghost_cache.hpp): a ghost whose window is all of it
// is an exact LRU, a small-window ghost admits by frequency, and the climber
// picks a large window on a recency-biased stream and keeps the small one on
// a frequency-biased one. Counted exactly: no timing.

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include <dogpile/backends/details/frequency_sketch.hpp>
#include <dogpile/backends/details/ghost_cache.hpp>
#include <dogpile/backends/details/shard_batch.hpp>
#include <dogpile/backends/details/table_node.hpp>
#include <dogpile/backends/details/window_climber.hpp>

namespace {

using dogpile::details::FrequencySketch;
using dogpile::details::GhostCache;
using dogpile::details::mix_hash;
using dogpile::details::WindowClimber;

std::uint64_t key_hash(std::uint64_t key) { return mix_hash(key); }

// A small pseudo-random stream over `keys` keys, skewed towards low keys.
std::vector<std::uint64_t> skewed_stream(std::size_t length, std::uint64_t keys) {
    std::vector<std::uint64_t> out;
    std::uint64_t x = 12345;
    for (std::size_t i = 0; i < length; ++i) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const std::uint64_t a = (x >> 33) % keys;
        const std::uint64_t b = (x >> 13) % keys;
        out.push_back(a < b ? a : b);
    }
    return out;
}

TEST(GhostCache, AllWindowIsExactlyAnLru) {
    constexpr std::size_t capacity = 50;
    FrequencySketch sketch(capacity);
    GhostCache ghost(capacity, 1.0);
    std::list<std::uint64_t> order;
    std::unordered_map<std::uint64_t, std::list<std::uint64_t>::iterator> where;
    std::size_t ghost_hits = 0;
    std::size_t lru_hits = 0;
    for (const std::uint64_t key : skewed_stream(20000, 400)) {
        sketch.increment(key_hash(key));
        const bool ghost_hit = ghost.access(key_hash(key), sketch);
        const auto it = where.find(key);
        const bool lru_hit = it != where.end();
        if (lru_hit) {
            order.splice(order.begin(), order, it->second);
        } else {
            if (where.size() == capacity) {
                where.erase(order.back());
                order.pop_back();
            }
            order.push_front(key);
            where.emplace(key, order.begin());
        }
        ASSERT_EQ(ghost_hit, lru_hit) << "key " << key;
        ghost_hits += ghost_hit;
        lru_hits += lru_hit;
    }
    EXPECT_EQ(ghost_hits, lru_hits);
    EXPECT_GT(lru_hits, 1000u);
}

// A key seen often holds its place in a small-window ghost while keys seen
// once stream through; the all-window ghost (LRU) loses it.
TEST(GhostCache, ASmallWindowAdmitsByFrequency) {
    constexpr std::size_t capacity = 20;
    FrequencySketch sketch(capacity);
    GhostCache small_window(capacity, 0.05);
    GhostCache lru(capacity, 1.0);
    const std::uint64_t popular = key_hash(7);
    for (int i = 0; i < 6; ++i) {
        sketch.increment(popular);
        small_window.access(popular, sketch);
        lru.access(popular, sketch);
    }
    std::size_t small_hits = 0;
    std::size_t lru_hits = 0;
    for (std::uint64_t n = 0; n < 500; ++n) {
        const std::uint64_t once = key_hash(1000 + n);
        sketch.increment(once);
        small_window.access(once, sketch);
        lru.access(once, sketch);
        if (n % 50 == 49) {
            sketch.increment(popular);
            small_hits += small_window.access(popular, sketch);
            lru_hits += lru.access(popular, sketch);
        }
    }
    EXPECT_EQ(small_hits, 10u);
    EXPECT_EQ(lru_hits, 0u);
}

// Keys reused a few times shortly after their first access, then never.
TEST(WindowClimber, PicksALargeWindowOnARecencyBiasedStream) {
    constexpr std::size_t capacity = 1000;
    FrequencySketch sketch(capacity);
    WindowClimber climber(capacity, 1, sketch);
    EXPECT_DOUBLE_EQ(climber.window_fraction(), WindowClimber::candidate_fractions.front());
    for (std::uint64_t n = 0; n < 40000; ++n) {
        for (const std::uint64_t age : {0, 30, 150, 400}) {
            if (n < age) continue;
            const std::uint64_t h = key_hash(n - age);
            sketch.increment(h);
            sketch.add_samples(1);
            climber.record(h);
        }
    }
    EXPECT_GE(climber.window_fraction(), 0.5);
    EXPECT_GT(climber.epoch(), 0u);
}

TEST(WindowClimber, KeepsTheSmallWindowOnAFrequencyBiasedStream) {
    constexpr std::size_t capacity = 1000;
    FrequencySketch sketch(capacity);
    WindowClimber climber(capacity, 1, sketch);
    // A fixed popular set of 800 keys mixed with a stream of keys seen once.
    for (std::uint64_t n = 0; n < 40000; ++n) {
        for (const std::uint64_t key : {(n * 7919) % 800, 1000000 + n}) {
            const std::uint64_t h = key_hash(key);
            sketch.increment(h);
            sketch.add_samples(1);
            climber.record(h);
        }
    }
    EXPECT_DOUBLE_EQ(climber.window_fraction(), WindowClimber::candidate_fractions.front());
    // Cold ghosts differ by a few hits: no switch on those (switch_significance).
    EXPECT_EQ(climber.epoch(), 0u) << "the window moved on an insignificant lead";
}

// A hot set that every ghost holds, and `reuses` times a period a fresh key
// seen again two accesses later: a hit for every ghost but the 1%-window one
// (its one-entry window has already passed the key on, and a fresh key loses
// its contest with a hot one). Returns the climber's epoch after 400 periods.
std::uint32_t epoch_after_steady_lead(int reuses_per_period) {
    constexpr std::size_t capacity = 128;  // one period: 128 accesses
    FrequencySketch sketch(capacity);
    WindowClimber climber(capacity, 1, sketch);
    std::uint64_t hot = 0;
    std::uint64_t fresh = 1000000;
    const auto access = [&](std::uint64_t key) {
        sketch.increment(key_hash(key));
        sketch.add_samples(1);
        climber.record(key_hash(key));
    };
    for (int period = 0; period < 400; ++period) {
        for (int i = 0; i < 128; ++i) {
            if (i % (128 / reuses_per_period) == 0) {
                access(fresh);
                access(fresh + 1);
                access(fresh);
                fresh += 2;
                i += 2;
            } else {
                access(hot++ % 100);
            }
        }
    }
    return climber.epoch();
}

// A switch costs hits, so a lead within one standard deviation of the hit
// count (switch_significance) keeps the window; a clear one moves it.
TEST(WindowClimber, MovesTheWindowOnlyOnASignificantLead) {
    EXPECT_EQ(epoch_after_steady_lead(1), 0u) << "one hit a period is noise";
    EXPECT_GT(epoch_after_steady_lead(8), 0u) << "eight hits a period are not";
}

// The ghosts simulate the table's first shards (shard_batch.hpp's index):
// a recency-biased stream on the other shards' keys moves nothing, the same
// stream on the first shard's keys grows the window.
double fraction_after_recency_stream(bool on_first_shard) {
    constexpr std::size_t capacity = 1024;  // 16 shards of 64: the ghosts hold two
    FrequencySketch sketch(capacity);
    WindowClimber climber(capacity, 16, sketch);
    std::vector<std::uint64_t> hashes;
    for (std::uint64_t key = 0; hashes.size() < 20000; ++key) {
        const std::uint64_t h = key_hash(key);
        const std::size_t shard = dogpile::details::shard_index(h, 15);
        if (on_first_shard ? shard == 0 : shard >= 2) hashes.push_back(h);
    }
    for (std::size_t n = 0; n < hashes.size(); ++n) {
        for (const std::size_t age : {0, 10, 40, 100}) {
            if (n < age) continue;
            sketch.increment(hashes[n - age]);
            sketch.add_samples(1);
            climber.record(hashes[n - age]);
        }
    }
    return climber.window_fraction();
}

TEST(WindowClimber, SimulatesTheTablesFirstShards) {
    EXPECT_DOUBLE_EQ(fraction_after_recency_stream(false), WindowClimber::candidate_fractions.front());
    EXPECT_GE(fraction_after_recency_stream(true), 0.5);
}

// A large table simulates a sample of its keys: the ghosts stay bounded.
TEST(WindowClimber, BoundsTheGhostsOfALargeTable) {
    FrequencySketch small_sketch(100);
    FrequencySketch large_sketch(1000000);
    const WindowClimber small(100, 1, small_sketch);
    const WindowClimber large(1000000, 16, large_sketch);
    EXPECT_EQ(small.period(), 100u);
    EXPECT_EQ(large.period(), WindowClimber::max_ghost_entries);
    EXPECT_LE(large.bytes(), WindowClimber::candidate_fractions.size() * WindowClimber::max_ghost_entries * 32);
}

}  // namespace
