// The hit path of a bounded MemoryBackend under each eviction policy, paired
// (support/compare.hpp) so the ratios hold on a loaded machine: clock is the
// baseline (the default before W-TinyLFU), tiny_lfu the default now, lru the
// exact order that takes the exclusive lock. 1024 keys held, room for 4x
// more, so nothing is evicted and only the hit bookkeeping differs.
//
// BM_Compare_EvictionHit/threads:N reports <policy>_per_s (aggregate over the
// threads) and <policy>_vs_clock. Scaling: tiny_lfu_per_s at 2 threads over
// tiny_lfu_per_s at 1. W-TinyLFU replays buffered hits on the next write, so
// a read-only run does not show that cost: BM_Compare_EvictionMixed does, with
// one write of a new key (evicting) per 16 operations.

#include <benchmark/benchmark.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <dogpile/backends/memory.hpp>

#include "support/compare.hpp"

namespace {

constexpr std::size_t held_keys = 1024;

const std::vector<std::string>& held() {
    static const std::vector<std::string> all = [] {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < held_keys; ++i) out.push_back("permissions|user-" + std::to_string(i));
        return out;
    }();
    return all;
}

using Backend = dogpile::MemoryBackend<std::string>;

Backend& filled(dogpile::EvictionPolicy policy) {
    auto make = [](dogpile::EvictionPolicy p) {
        dogpile::MemoryBackendOptions options;
        options.capacity = 4 * held_keys;
        options.eviction = p;
        auto backend = std::make_unique<Backend>(options);
        // Longer than the small-string buffer, as in bench_memory.cpp.
        const dogpile::CachedValue<std::string> entry{std::string(48, 'v'), dogpile::Metadata::store_managed()};
        for (const auto& key : held()) backend->set(key, entry);
        return backend;
    };
    static const std::unique_ptr<Backend> clock = make(dogpile::EvictionPolicy::clock);
    static const std::unique_ptr<Backend> lru = make(dogpile::EvictionPolicy::lru);
    static const std::unique_ptr<Backend> tiny_lfu = make(dogpile::EvictionPolicy::tiny_lfu);
    switch (policy) {
        case dogpile::EvictionPolicy::clock: return *clock;
        case dogpile::EvictionPolicy::lru: return *lru;
        case dogpile::EvictionPolicy::tiny_lfu: break;
    }
    return *tiny_lfu;
}

auto reads(dogpile::EvictionPolicy policy) {
    Backend& backend = filled(policy);
    return [&backend](std::size_t thread, std::size_t ops) {
        std::size_t next = thread * 131;
        for (std::size_t n = 0; n < ops; ++n) {
            auto value = backend.get(held()[next++ & (held_keys - 1)]);
            benchmark::DoNotOptimize(value);
        }
    };
}

void BM_Compare_EvictionHit(benchmark::State& state) {
    dogpile::bench::Comparison comparison(static_cast<std::size_t>(state.range(0)),
                                          {{"clock", 1, reads(dogpile::EvictionPolicy::clock)},
                                           {"tiny_lfu", 1, reads(dogpile::EvictionPolicy::tiny_lfu)},
                                           {"lru", 1, reads(dogpile::EvictionPolicy::lru)}});
    for (auto _ : state) state.SetIterationTime(comparison.round());
    comparison.report(state);
    for (const auto policy : {dogpile::EvictionPolicy::clock, dogpile::EvictionPolicy::tiny_lfu}) {
        if (filled(policy).size() != held_keys) state.SkipWithError("a hit benchmark lost an entry");
    }
}

BENCHMARK(BM_Compare_EvictionHit)->ArgName("threads")->Arg(1)->Arg(2)->UseManualTime();

// Full from the start: held keys plus churn keys beyond the capacity.
std::unique_ptr<Backend> churning(dogpile::EvictionPolicy policy) {
    dogpile::MemoryBackendOptions options;
    options.capacity = held_keys;
    options.eviction = policy;
    auto backend = std::make_unique<Backend>(options);
    const dogpile::CachedValue<std::string> entry{std::string(48, 'v'), dogpile::Metadata::store_managed()};
    for (const auto& key : held()) backend->set(key, entry);
    return backend;
}

auto mixed(Backend& backend) {
    static const std::vector<std::string> churn = [] {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < 4 * held_keys; ++i) out.push_back("churn|" + std::to_string(i));
        return out;
    }();
    return [&backend](std::size_t thread, std::size_t ops) {
        const dogpile::CachedValue<std::string> entry{std::string(48, 'v'), dogpile::Metadata::store_managed()};
        std::size_t next = thread * 131;
        for (std::size_t n = 0; n < ops; ++n) {
            if (n % 16 == 15) {
                backend.set(churn[next & (churn.size() - 1)], entry);
            } else {
                auto value = backend.get(held()[next & (held_keys - 1)]);
                benchmark::DoNotOptimize(value);
            }
            ++next;
        }
    };
}

void BM_Compare_EvictionMixed(benchmark::State& state) {
    const auto clock = churning(dogpile::EvictionPolicy::clock);
    const auto tiny_lfu = churning(dogpile::EvictionPolicy::tiny_lfu);
    const auto lru = churning(dogpile::EvictionPolicy::lru);
    dogpile::bench::Comparison comparison(
        static_cast<std::size_t>(state.range(0)),
        {{"clock", 1, mixed(*clock)}, {"tiny_lfu", 1, mixed(*tiny_lfu)}, {"lru", 1, mixed(*lru)}});
    for (auto _ : state) state.SetIterationTime(comparison.round());
    comparison.report(state);
}

BENCHMARK(BM_Compare_EvictionMixed)->ArgName("threads")->Arg(1)->Arg(2)->UseManualTime();

}  // namespace
