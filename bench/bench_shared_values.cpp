// A memory-backend Region hit of a large value, held by value (a hit copies
// it) against held as std::shared_ptr<const V> (a hit is one reference-count
// increment), paired in one Comparison (support/compare.hpp) so the ratio
// comes from one run:
//
//   BM_Compare_SharedValueHit/value:V/keys:K/threads:T
//     shared_vs_by_value   how many times more hits per second the shared region serves
//
// value: 0 = a 4 KiB string, 1 = a vector of 1,000 ints, 2 = the 25-flag
// permission map (support/permissions.hpp, a std::map of 25 nodes).
// keys: 1 = one hot key every thread reads (on 2 threads the reference count
// is one cache line both cores write), 1024 = reads spread over 1024 keys.
//
// Measured on the 2-core VM (both variants at ~1.95 CPUs on 2 threads):
// 1024 keys 5.2x / 5.1x / 17x on 1 thread, 3.5x / 3.3x / 15x on 2; one hot
// key 2.5x / 2.2x / 19x on 1 thread, but 0.59x / 0.51x / 5.1x on 2: the
// contended reference count costs more than copying 4 KB from a line both
// cores only read.

#include <benchmark/benchmark.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <dogpile/dogpile.hpp>

#include "support/compare.hpp"
#include "support/permissions.hpp"

namespace {

constexpr std::size_t max_keys = 1024;

const std::vector<std::string>& keys() {
    static const std::vector<std::string> all = [] {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < max_keys; ++i) out.push_back("shared|user-" + std::to_string(i));
        return out;
    }();
    return all;
}

std::string make_string(std::size_t i) { return std::string(4096, static_cast<char>('a' + i % 26)); }

std::vector<int> make_ints(std::size_t i) {
    std::vector<int> out(1000);
    for (std::size_t n = 0; n < out.size(); ++n) out[n] = static_cast<int>(i + n);
    return out;
}

dogpile::codec::Flags make_flags(std::size_t i) { return dogpile::bench::make_flags(i); }

// Both regions hold the same values under the same keys.
template <class V>
struct Regions {
    dogpile::Region<V> by_value{std::make_shared<dogpile::MemoryBackend<V>>()};
    dogpile::Region<std::shared_ptr<const V>> shared{
        std::make_shared<dogpile::MemoryBackend<std::shared_ptr<const V>>>()};

    template <class Make>
    explicit Regions(Make make) {
        for (std::size_t i = 0; i < max_keys; ++i) {
            by_value.set(keys()[i], make(i));
            shared.set(keys()[i], std::make_shared<const V>(make(i)));
        }
    }

    bool missed() const { return by_value.stats().misses != 0 || shared.stats().misses != 0; }
};

template <class V, class Make>
Regions<V>& regions(Make make) {
    static Regions<V> filled(make);
    return filled;
}

// Walks the first `key_count` keys (a power of two) from a per-thread offset.
template <class Read>
void read_keys(std::size_t thread, std::size_t ops, std::size_t key_count, Read read) {
    std::size_t next = thread * 131;
    const std::size_t mask = key_count - 1;
    for (std::size_t n = 0; n < ops; ++n) {
        auto value = read(keys()[next++ & mask]);
        benchmark::DoNotOptimize(value);
    }
}

template <class V, class Make>
void compare_hits(benchmark::State& state, Make make) {
    Regions<V>& r = regions<V>(make);
    const auto key_count = static_cast<std::size_t>(state.range(1));
    auto reads = [key_count](auto read) {
        return [key_count, read](std::size_t thread, std::size_t ops) { read_keys(thread, ops, key_count, read); };
    };
    // A hit never calls the creator; it only has to have the right type.
    auto by_value = [&r](const std::string& key) { return r.by_value.get_or_create(key, [] { return V{}; }); };
    auto shared = [&r](const std::string& key) {
        return r.shared.get_or_create(key, [] { return std::make_shared<const V>(); });
    };
    dogpile::bench::Comparison comparison(static_cast<std::size_t>(state.range(2)),
                                          {{"by_value", 1, reads(by_value)}, {"shared", 1, reads(shared)}});
    for (auto _ : state) state.SetIterationTime(comparison.round());
    comparison.report(state);
    if (r.missed()) state.SkipWithError("a hit benchmark saw a miss");
}

void BM_Compare_SharedValueHit(benchmark::State& state) {
    switch (state.range(0)) {
        case 0: compare_hits<std::string>(state, make_string); break;
        case 1: compare_hits<std::vector<int>>(state, make_ints); break;
        default: compare_hits<dogpile::codec::Flags>(state, make_flags); break;
    }
}

BENCHMARK(BM_Compare_SharedValueHit)
    ->ArgNames({"value", "keys", "threads"})
    ->ArgsProduct({{0, 1, 2}, {1, static_cast<long>(max_keys)}, {1, 2}})
    ->UseManualTime();

}  // namespace
