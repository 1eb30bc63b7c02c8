// MemoryBackend under concurrent use: threads mix every operation on a small
// set of overlapping keys with a capacity far below the key count, so
// evictions, overwrites, erases and expiries race with readers. Every value
// carries its key, so a value served for the wrong key (or a torn copy) is
// detected. Runs under TSan in CI: keep it short.

#include <dogpile/backends/memory.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/latch.hpp"
#include "support/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::CachedValue;
using dogpile::EvictionPolicy;
using dogpile::MemoryBackend;
using dogpile::MemoryBackendOptions;
using dogpile::Metadata;
using dogpile::test::Latch;
using dogpile::test::ManualClock;

using Entry = CachedValue<std::string>;

constexpr int thread_count = 8;
constexpr int ops_per_thread = 3000;
// A bounded table splits only into shards of at least 128 entries
// (sharded_table_options.hpp): 512 entries are 4 shards, so operations race
// across shards as well as within one.
constexpr int key_count = 1536;

std::string key_name(int i) { return "key-" + std::to_string(i); }

// The key at both ends: a copy of another key's value, or a torn one, fails.
std::string value_for(const std::string& key, int thread, int op) {
    return key + "|t" + std::to_string(thread) + "#" + std::to_string(op) + "|" + key;
}

bool belongs_to(const std::string& value, const std::string& key) {
    const std::string head = key + "|";
    const std::string tail = "|" + key;
    return value.size() >= head.size() + tail.size() && value.compare(0, head.size(), head) == 0 &&
           value.compare(value.size() - tail.size(), tail.size(), tail) == 0;
}

struct Scenario {
    const char* name;
    EvictionPolicy eviction;
    std::optional<std::size_t> capacity;
    bool ttl;
};

// gtest prints parameters of failed tests; the name is what matters.
void PrintTo(const Scenario& scenario, std::ostream* os) { *os << scenario.name; }

class MemoryBackendConcurrency : public ::testing::TestWithParam<Scenario> {};

TEST_P(MemoryBackendConcurrency, MixedOperationsNeverServeAnotherKeysValue) {
    const Scenario scenario = GetParam();
    ManualClock clock;
    MemoryBackendOptions options;
    options.capacity = scenario.capacity;
    options.eviction = scenario.eviction;
    options.shards = 4;
    if (scenario.ttl) {
        options.ttl = 60s;  // about 3,000 operations: long enough to fill 512 entries, short enough to expire
        options.clock = clock.function();
    }
    MemoryBackend<std::string> backend(options);
    ASSERT_EQ(backend.shard_count(), 4u) << "the scenario must race across shards";

    std::atomic<int> wrong_values{0};
    std::atomic<int> over_capacity{0};
    std::atomic<long> hits{0};
    std::atomic<bool> writers_done{false};
    Latch start(thread_count + 1);

    auto check = [&](const std::string& key, const std::optional<Entry>& got) {
        if (!got) return;
        hits.fetch_add(1, std::memory_order_relaxed);
        if (!belongs_to(got->value, key)) wrong_values.fetch_add(1);
    };

    std::vector<std::thread> threads;
    for (int t = 0; t < thread_count; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(1000 + t));
            start.arrive_and_wait();
            for (int op = 0; op < ops_per_thread; ++op) {
                const std::string key = key_name(static_cast<int>(rng() % key_count));
                const unsigned dice = rng() % 100;
                if (dice < 45) {
                    check(key, backend.get(key));
                } else if (dice < 75) {
                    backend.set(key, Entry{value_for(key, t, op), Metadata::created_now(clock.now())});
                } else if (dice < 83) {
                    backend.erase(key);
                } else if (dice < 90) {
                    std::vector<std::string> keys;
                    for (int i = 0; i < 6; ++i) keys.push_back(key_name(static_cast<int>(rng() % key_count)));
                    auto got = backend.get_multi(keys);
                    if (got.size() != keys.size()) {
                        wrong_values.fetch_add(1);
                        continue;
                    }
                    for (std::size_t i = 0; i < keys.size(); ++i) check(keys[i], got[i]);
                } else if (dice < 96) {
                    std::vector<std::pair<std::string, Entry>> entries;
                    for (int i = 0; i < 6; ++i) {
                        std::string k = key_name(static_cast<int>(rng() % key_count));
                        Entry e{value_for(k, t, op), Metadata::created_now(clock.now())};
                        entries.emplace_back(std::move(k), std::move(e));
                    }
                    backend.set_multi(entries);
                } else if (dice < 98) {
                    backend.erase_multi({key, key_name(static_cast<int>(rng() % key_count))});
                } else if (scenario.ttl) {
                    clock.advance(1s);  // ages everything: entries expire during the run
                    backend.purge_expired();
                } else {
                    (void)backend.stats();
                }
            }
        });
    }
    // Watches the bound while the others work: each shard is bounded on its
    // own, so even a sum taken shard by shard never exceeds the capacity.
    std::thread watcher([&] {
        start.arrive_and_wait();
        while (!writers_done.load()) {
            if (scenario.capacity && backend.size() > *scenario.capacity) over_capacity.fetch_add(1);
            std::this_thread::yield();
        }
    });
    for (auto& thread : threads) thread.join();
    writers_done.store(true);
    watcher.join();

    EXPECT_EQ(wrong_values.load(), 0);
    EXPECT_EQ(over_capacity.load(), 0);
    EXPECT_GT(hits.load(), 0) << "the test never hit: it checked nothing";
    if (scenario.capacity) {
        EXPECT_LE(backend.size(), *scenario.capacity);
        EXPECT_GT(backend.stats().evictions, 0u) << "capacity never reached: eviction not exercised";
    }
    if (scenario.ttl) {
        EXPECT_GT(backend.stats().expirations, 0u) << "nothing expired: ttl not exercised";
    }
    for (int i = 0; i < key_count; ++i) {
        const std::string key = key_name(i);
        auto got = backend.get(key);
        if (got) {
            EXPECT_TRUE(belongs_to(got->value, key)) << key << " -> " << got->value;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, MemoryBackendConcurrency,
                         ::testing::Values(Scenario{"tiny_lfu_bounded", EvictionPolicy::tiny_lfu, 512, false},
                                           Scenario{"tiny_lfu_bounded_ttl", EvictionPolicy::tiny_lfu, 512, true},
                                           Scenario{"clock_bounded", EvictionPolicy::clock, 512, false},
                                           Scenario{"lru_bounded", EvictionPolicy::lru, 512, false},
                                           Scenario{"clock_bounded_ttl", EvictionPolicy::clock, 512, true},
                                           Scenario{"lru_bounded_ttl", EvictionPolicy::lru, 512, true},
                                           Scenario{"unbounded_ttl", EvictionPolicy::clock, std::nullopt, true}),
                         [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });

// Readers hammer a few hot keys while a writer streams cold keys through a
// tiny cache. CLOCK: reference bits are set under the shared lock while the
// writer clears them under the exclusive one. W-TinyLFU: readers append to
// the read buffer under the shared lock and try to drain it, while the
// writer drains it and evicts the nodes it pointed to.
class HotReadersRaceWithEvictingWriter : public ::testing::TestWithParam<EvictionPolicy> {};

TEST_P(HotReadersRaceWithEvictingWriter, NoWrongValueAndTheCapacityHolds) {
    MemoryBackendOptions options;
    options.capacity = 8;
    options.shards = 1;
    options.eviction = GetParam();
    MemoryBackend<std::string> backend(options);
    const std::vector<std::string> hot = {"hot-0", "hot-1", "hot-2"};
    for (const auto& key : hot) backend.set(key, Entry{value_for(key, 0, 0), Metadata::created_now({})});

    std::atomic<int> wrong_values{0};
    std::atomic<int> hits{0};
    std::atomic<bool> done{false};
    // Each reader reads every hot key once before the writer starts, so a
    // backend that always missed (and trivially never returned a wrong
    // value) fails the hit count below.
    Latch first_round_read(4);
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r) {
        readers.emplace_back([&] {
            auto read_hot_keys = [&] {
                for (const auto& key : hot) {
                    auto got = backend.get(key);
                    if (!got) continue;
                    hits.fetch_add(1);
                    if (!belongs_to(got->value, key)) wrong_values.fetch_add(1);
                }
            };
            read_hot_keys();
            first_round_read.arrive_and_wait();
            // Bounded on both sides: glibc's shared_mutex prefers readers, so
            // readers spinning until the writer finishes could starve it.
            for (int round = 0; round < 20000 && !done.load(std::memory_order_relaxed); ++round) {
                read_hot_keys();
                if (round % 64 == 0) std::this_thread::yield();
            }
        });
    }
    first_round_read.arrive_and_wait();
    for (int i = 0; i < 3000; ++i) {
        const std::string key = "cold-" + std::to_string(i);
        backend.set(key, Entry{value_for(key, 1, i), Metadata::created_now({})});
        if (i % 500 == 0) {
            for (const auto& h : hot) backend.set(h, Entry{value_for(h, 1, i), Metadata::created_now({})});
        }
    }
    done.store(true);
    for (auto& reader : readers) reader.join();
    EXPECT_EQ(wrong_values.load(), 0);
    EXPECT_GE(hits.load(), 3 * static_cast<int>(hot.size()));
    EXPECT_LE(backend.size(), 8u);
}

INSTANTIATE_TEST_SUITE_P(Policies, HotReadersRaceWithEvictingWriter,
                         ::testing::Values(EvictionPolicy::tiny_lfu, EvictionPolicy::clock),
                         [](const ::testing::TestParamInfo<EvictionPolicy>& info) {
                             return std::string(info.param == EvictionPolicy::clock ? "clock" : "tiny_lfu");
                         });

// Writers own disjoint keys and write increasing versions; readers check
// that a key's version never goes back (no stale value resurfaces after an
// eviction or a rewrite) and belongs to the key, while a monitor checks the
// bound (entries, or total weight) between operations. At the end every key
// holds its last version or nothing. The default policy, count and weight bounds.
struct BoundCase {
    const char* name;
    bool weighted;
};

class BoundedReadersAndWriters : public ::testing::TestWithParam<BoundCase> {};

std::string versioned(const std::string& key, int version, bool heavy) {
    // Weighted: versions alternate between two sizes, so rewrites reweigh.
    const std::string padding(heavy ? 24 : 0, '.');
    return key + "|" + std::to_string(version) + padding + "|" + key;
}

int version_of(const std::string& key, const std::string& value) { return std::stoi(value.substr(key.size() + 1)); }

TEST_P(BoundedReadersAndWriters, NeverExceedTheBoundNorServeAStaleValue) {
    const bool weighted = GetParam().weighted;
    MemoryBackendOptions options;
    options.shards = 4;
    constexpr std::size_t bound_entries = 32;
    constexpr std::size_t bound_weight = 1200;
    if (weighted) {
        options.max_weight = bound_weight;
    } else {
        options.capacity = bound_entries;
    }
    MemoryBackend<std::string>::Weigher weigher;
    if (weighted) weigher = [](const std::string&, const Entry& e) { return e.value.size(); };
    MemoryBackend<std::string> backend(options, weigher);

    constexpr int writers = 2;
    constexpr int readers = 3;
    constexpr int keys_per_writer = 40;
    constexpr int writes_per_writer = 4000;
    std::atomic<int> problems{0};
    std::atomic<int> hits{0};
    std::atomic<int> writers_done{0};
    Latch start(writers + readers + 1);
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            start.arrive_and_wait();
            for (int n = 0; n < writes_per_writer; ++n) {
                const std::string key = "w" + std::to_string(w) + "-" + std::to_string(n % keys_per_writer);
                const int version = n / keys_per_writer;
                backend.set(key, Entry{versioned(key, version, version % 2 == 1), Metadata::store_managed()});
            }
            writers_done.fetch_add(1);
        });
    }
    for (int r = 0; r < readers; ++r) {
        threads.emplace_back([&, r] {
            std::vector<int> last_seen(writers * keys_per_writer, -1);
            std::mt19937 rng(static_cast<unsigned>(r));
            start.arrive_and_wait();
            // At least min_reads each, so a loaded scheduler that lets the
            // writers finish first still leaves the readers something to check.
            constexpr int min_reads = 500;
            for (int reads = 0; writers_done.load() < writers || reads < min_reads; ++reads) {
                const int slot = static_cast<int>(rng() % (writers * keys_per_writer));
                const std::string key =
                    "w" + std::to_string(slot / keys_per_writer) + "-" + std::to_string(slot % keys_per_writer);
                const auto got = backend.get(key);
                if (!got) continue;
                hits.fetch_add(1);
                if (!belongs_to(got->value, key)) {
                    problems.fetch_add(1);
                    continue;
                }
                const int version = version_of(key, got->value);
                if (version < last_seen[static_cast<std::size_t>(slot)]) problems.fetch_add(1);
                last_seen[static_cast<std::size_t>(slot)] = version;
            }
        });
    }
    std::atomic<int> over_bound{0};
    std::thread monitor([&] {
        start.arrive_and_wait();
        while (writers_done.load() < writers) {
            // Each shard is bounded under its own lock; the sums are taken
            // shard by shard, and each share holds at every instant.
            if (backend.size() > bound_entries && !weighted) over_bound.fetch_add(1);
            if (backend.weighted_size() > bound_weight && weighted) over_bound.fetch_add(1);
            std::this_thread::yield();
        }
    });
    for (auto& t : threads) t.join();
    monitor.join();
    EXPECT_EQ(problems.load(), 0);
    EXPECT_EQ(over_bound.load(), 0);
    EXPECT_GT(hits.load(), 0);
    EXPECT_GT(backend.stats().evictions, 0u);
    const int last_version = (writes_per_writer - 1) / keys_per_writer;
    for (int w = 0; w < writers; ++w) {
        for (int k = 0; k < keys_per_writer; ++k) {
            const std::string key = "w" + std::to_string(w) + "-" + std::to_string(k);
            const auto got = backend.get(key);
            if (got) {
                EXPECT_EQ(version_of(key, got->value), last_version) << key;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Bounds, BoundedReadersAndWriters,
                         ::testing::Values(BoundCase{"entries", false}, BoundCase{"weight", true}),
                         [](const ::testing::TestParamInfo<BoundCase>& info) { return std::string(info.param.name); });

}  // namespace
