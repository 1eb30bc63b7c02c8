// The in-process hit path: Region<std::string>::get_or_create on a key that
// holds a fresh value, against the least a hand-written cache can do (an
// unordered_map lookup and a copy under a shared lock).
//
// range(0) is the number of distinct keys the threads read: 1 is one hot key
// that every thread hammers, 1024 spreads the reads. Each thread starts at its
// own offset in the key list; all variants read the same keys in the same order.
//
// BM_MemoryHit_* measure one variant each (items_per_second; run them for a
// profile). BM_Compare_MemoryHit runs the three in alternating blocks and
// reports the ratios, which stay meaningful on a loaded machine.

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <dogpile/dogpile.hpp>

#include "support/compare.hpp"

namespace {

constexpr std::size_t max_keys = 1024;

// Longer than the small-string buffer: the copy a hit returns allocates, as
// it would for any real value.
const std::string& payload() {
    static const std::string value(48, 'v');
    return value;
}

const std::vector<std::string>& keys() {
    static const std::vector<std::string> all = [] {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < max_keys; ++i) out.push_back("permissions|user-" + std::to_string(i));
        return out;
    }();
    return all;
}

// The baseline: what a hand-written read-mostly cache does on a hit.
class LockedMap {
public:
    explicit LockedMap(const std::vector<std::string>& keys) {
        for (const auto& key : keys) map_.emplace(key, payload());
    }

    std::optional<std::string> find(const std::string& key) const {
        std::shared_lock<std::shared_mutex> lock(mutex_);
        const auto it = map_.find(key);
        if (it == map_.end()) return std::nullopt;
        return it->second;
    }

private:
    mutable std::shared_mutex mutex_;
    std::unordered_map<std::string, std::string> map_;
};

enum class Expiry { never, one_hour };

dogpile::Region<std::string>& region(Expiry expiry) {
    auto make = [](Expiry e) {
        dogpile::RegionOptions<std::string> options;
        if (e == Expiry::one_hour) options.expiration_time = std::chrono::hours(1);
        dogpile::Region<std::string> r(std::make_shared<dogpile::MemoryBackend<std::string>>(), options);
        for (const auto& key : keys()) r.set(key, payload());
        return r;
    };
    static dogpile::Region<std::string> never = make(Expiry::never);
    static dogpile::Region<std::string> expiring = make(Expiry::one_hour);
    return expiry == Expiry::never ? never : expiring;
}

const LockedMap& baseline_map() {
    static const LockedMap map(keys());
    return map;
}

// The three ways to read a key, shared by the benchmarks below.
std::optional<std::string> read_baseline(const std::string& key) { return baseline_map().find(key); }

std::string read_region(dogpile::Region<std::string>& r, const std::string& key) {
    return r.get_or_create(key, [] { return std::string("created"); });
}

// Walks the first `key_count` keys (a power of two) from a per-thread offset.
class KeyCursor {
public:
    KeyCursor(std::size_t thread, std::size_t key_count) : next_(thread * 131), mask_(key_count - 1) {}
    const std::string& next() { return keys()[next_++ & mask_]; }

private:
    std::size_t next_;
    std::size_t mask_;
};

template <class Read>
void read_keys(std::size_t thread, std::size_t ops, std::size_t key_count, Read read) {
    KeyCursor cursor(thread, key_count);
    for (std::size_t n = 0; n < ops; ++n) {
        auto value = read(cursor.next());
        benchmark::DoNotOptimize(value);
    }
}

std::size_t key_count(const benchmark::State& state) { return static_cast<std::size_t>(state.range(0)); }
std::size_t thread_index(const benchmark::State& state) { return static_cast<std::size_t>(state.thread_index()); }

// A hit benchmark must never create: a miss means it measured something else.
void check_no_misses(benchmark::State& state) {
    if (region(Expiry::never).stats().misses != 0 || region(Expiry::one_hour).stats().misses != 0) {
        state.SkipWithError("a hit benchmark saw a miss");
    }
}

// --- one variant per benchmark: items_per_second, for profiling and quick looks

template <class Read>
void hit_loop(benchmark::State& state, Read read) {
    KeyCursor cursor(thread_index(state), key_count(state));
    for (auto _ : state) {
        auto value = read(cursor.next());
        benchmark::DoNotOptimize(value);
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_MemoryHit_Baseline(benchmark::State& state) { hit_loop(state, read_baseline); }

void memory_hit(benchmark::State& state, Expiry expiry) {
    dogpile::Region<std::string>& r = region(expiry);
    hit_loop(state, [&r](const std::string& key) { return read_region(r, key); });
    check_no_misses(state);
}

void BM_MemoryHit_Region(benchmark::State& state) { memory_hit(state, Expiry::never); }
void BM_MemoryHit_RegionExpiring(benchmark::State& state) { memory_hit(state, Expiry::one_hour); }

// UseRealTime: items_per_second is then the aggregate rate of all threads.
#define DOGPILE_MEMORY_BENCH(fn) BENCHMARK(fn)->ArgName("keys")->Arg(1)->Arg(max_keys)->ThreadRange(1, 8)->UseRealTime()

DOGPILE_MEMORY_BENCH(BM_MemoryHit_Baseline);
DOGPILE_MEMORY_BENCH(BM_MemoryHit_Region);
DOGPILE_MEMORY_BENCH(BM_MemoryHit_RegionExpiring);

// --- all three, paired (support/compare.hpp): the ratios report.sh prints

void BM_Compare_MemoryHit(benchmark::State& state) {
    const std::size_t count = key_count(state);
    auto reads = [count](auto read) {
        return [count, read](std::size_t thread, std::size_t ops) { read_keys(thread, ops, count, read); };
    };
    dogpile::Region<std::string>& never = region(Expiry::never);
    dogpile::Region<std::string>& expiring = region(Expiry::one_hour);
    dogpile::bench::Comparison comparison(
        static_cast<std::size_t>(state.range(1)),
        {{"baseline", 1, reads(read_baseline)},
         {"region", 1, reads([&never](const std::string& key) { return read_region(never, key); })},
         {"region_expiring", 1, reads([&expiring](const std::string& key) { return read_region(expiring, key); })}});
    for (auto _ : state) state.SetIterationTime(comparison.round());
    comparison.report(state);
    check_no_misses(state);
}

BENCHMARK(BM_Compare_MemoryHit)
    ->ArgNames({"keys", "threads"})
    ->ArgsProduct({{1, max_keys}, {1, 2, 4, 8}})
    ->UseManualTime();

}  // namespace
