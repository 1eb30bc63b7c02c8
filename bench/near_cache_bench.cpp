// The near cache's hit path, next to the two things it sits between, in one
// run: a MemoryBackend hit (the floor: the near tier is built from the same
// shards) and a Redis hash-store hit (HGET over the unix socket + decode: what
// the near tier saves).
//
//   BM_Hit_Memory/<value>      MemoryBackend<V, HashKey>::get
//   BM_Hit_Near/<value>        NearCacheBackend<V, HashKey>::get, entry in memory
//   BM_Hit_RedisHash/<value>   RedisHashBackend<V, HashKey>::get
//   BM_Compare_Hit/<value>     the three in alternating blocks (support/compare.hpp):
//                              near_vs_memory, redis_hash_vs_memory are the ratios
//                              that mean something on a loaded machine
//
// <value> is "flag_set" (the workload: 25 permission flags as a codec::FlagSet,
// two words to copy), "flags" (the same flags as a std::map, whose copy
// dominates a memory hit) or "string48" (a 48-byte string: the near tier's own
// overhead is more visible). BM_Compare_Hit/flag_set also runs the memory hit
// of the string, so the two value types are compared in one run. Reads cycle over 1,024 keys
// (32 hashes x 32 fields); every thread starts at its own offset.
// Goals (issue 15): a FlagSet memory hit >= 10 M/s and >= 0.5x the string's;
// the near hit within 1.5x of the memory hit and >= 100x a Redis hash hit.

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <dogpile/backends/memory.hpp>
#include <dogpile/backends/near_cache.hpp>
#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/flag_set.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/redis/tracking.hpp>

#include "support/compare.hpp"
#include "support/permissions.hpp"
#include "support/redis.hpp"

namespace {

using dogpile::CachedValue;
using dogpile::HashKey;
using dogpile::Metadata;
using dogpile::codec::Flags;
using dogpile::codec::FlagsCodec;

constexpr std::size_t hashes = 32;
constexpr std::size_t fields = 32;
constexpr std::size_t key_count = hashes * fields;

struct FlagsValues {
    static constexpr const char* prefix = "bench-near-flags|";
    using value_type = Flags;
    using codec_type = FlagsCodec;
    static codec_type codec() { return FlagsCodec{dogpile::bench::permission_template()}; }
    static Flags make(std::size_t a, std::size_t b) {
        return dogpile::bench::make_flags(dogpile::bench::pair_seed(a, b));
    }
};

struct FlagSetValues {
    static constexpr const char* prefix = "bench-near-flag-set|";
    using value_type = dogpile::codec::FlagSet;
    using codec_type = dogpile::codec::FlagSetCodec;
    static codec_type codec() { return codec_type{dogpile::bench::permission_flag_template()}; }
    static value_type make(std::size_t a, std::size_t b) {
        return dogpile::bench::make_flag_set(dogpile::bench::pair_seed(a, b));
    }
};

struct StringValues {
    static constexpr const char* prefix = "bench-near-string|";
    using value_type = std::string;
    using codec_type = dogpile::codec::MsgpackCodec<std::string>;
    static codec_type codec() { return {}; }
    static std::string make(std::size_t a, std::size_t b) {
        std::string s = "permissions-of-" + std::to_string(a) + "-on-" + std::to_string(b) + "-";
        s.resize(48, 'v');
        return s;
    }
};

dogpile::bench::RedisServer& server() {
    static std::unique_ptr<dogpile::bench::RedisServer> instance = [] {
        std::string why;
        auto s = dogpile::bench::start_redis(why);
        if (!s) throw std::runtime_error("near_cache_bench needs redis-server: " + why);
        return s;
    }();
    return *instance;
}

template <class Values>
struct Setup {
    using V = typename Values::value_type;
    using Codec = typename Values::codec_type;

    Setup() {
        dogpile::redis::TrackingOptions tracking;
        tracking.connection = server().unix_options();
        listener = std::make_shared<dogpile::redis::InvalidationListener>(tracking);
        dogpile::redis::PoolOptions pool;
        pool.size = 4;
        pool.connection = server().unix_options();
        client = dogpile::redis::make_tracked_client(*listener, pool);
        dogpile::RedisHashBackendOptions ro;
        ro.client = client;
        ro.ttl = std::chrono::hours(1);
        remote = std::make_shared<dogpile::RedisHashBackend<V, Codec>>(ro, Values::codec());
        dogpile::NearCacheOptions<HashKey> no;
        no.listener = listener;
        no.redis_key = dogpile::redis_keys_of(*remote);
        no.capacity = 4 * key_count;
        near = std::make_shared<dogpile::NearCacheBackend<V, HashKey>>(remote, no);
        dogpile::MemoryBackendOptions mo;
        mo.capacity = 4 * key_count;  // bounded too: same eviction bookkeeping on a hit
        memory = std::make_shared<dogpile::MemoryBackend<V, HashKey>>(mo);

        const dogpile::redis::HashKeyScheme scheme(Values::prefix);
        std::vector<std::pair<HashKey, CachedValue<V>>> items;
        for (std::size_t a = 0; a < hashes; ++a) {
            for (std::size_t b = 0; b < fields; ++b) {
                keys.push_back(scheme.key(a, b));
                items.emplace_back(keys.back(), CachedValue<V>{Values::make(a, b), Metadata::store_managed()});
            }
        }
        remote->set_multi(items);
        memory->set_multi(items);
        if (!listener->wait_until_tracking(std::chrono::seconds(10))) {
            throw std::runtime_error("the invalidation listener did not subscribe: " + listener->last_error());
        }
        // The writes above were announced (the store's script reads the hash),
        // so fill the near tier until a full pass reads nothing from Redis.
        for (int pass = 0; pass < 100; ++pass) {
            const auto before = client->round_trips();
            for (const auto& k : keys) near->get(k);
            if (client->round_trips() == before) return;
        }
        throw std::runtime_error("the near tier did not settle");
    }

    static Setup& get() {
        static Setup instance;
        return instance;
    }

    void memory_hits(std::size_t thread, std::size_t ops) {
        std::size_t i = thread * 97;
        for (std::size_t n = 0; n < ops; ++n) {
            auto e = memory->get(keys[i++ % key_count]);
            benchmark::DoNotOptimize(e);
        }
    }
    void near_hits(std::size_t thread, std::size_t ops) {
        std::size_t i = thread * 97;
        for (std::size_t n = 0; n < ops; ++n) {
            auto e = near->get(keys[i++ % key_count]);
            benchmark::DoNotOptimize(e);
        }
    }
    void redis_hits(std::size_t thread, std::size_t ops) {
        std::size_t i = thread * 97;
        for (std::size_t n = 0; n < ops; ++n) {
            auto e = remote->get(keys[i++ % key_count]);
            benchmark::DoNotOptimize(e);
        }
    }

    std::shared_ptr<dogpile::redis::InvalidationListener> listener;
    std::shared_ptr<dogpile::redis::Client> client;
    std::shared_ptr<dogpile::RedisHashBackend<V, Codec>> remote;
    std::shared_ptr<dogpile::NearCacheBackend<V, HashKey>> near;
    std::shared_ptr<dogpile::MemoryBackend<V, HashKey>> memory;
    std::vector<HashKey> keys;
};

// A near "hit" that went to Redis measured the wrong thing.
template <class Values>
class HitGuard {
public:
    HitGuard(benchmark::State& state, Setup<Values>& setup) : state_(state), setup_(setup), misses_(misses()) {}
    ~HitGuard() {
        if (misses() != misses_) state_.SkipWithError("a near-tier read was not a hit");
    }
    HitGuard(const HitGuard&) = delete;
    HitGuard& operator=(const HitGuard&) = delete;

private:
    std::uint64_t misses() const {
        const auto s = setup_.near->stats();
        return s.misses + s.bypassed + s.uncovered;
    }

    benchmark::State& state_;
    Setup<Values>& setup_;
    std::uint64_t misses_;
};

template <class Values>
void BM_Hit_Memory(benchmark::State& state) {
    auto& setup = Setup<Values>::get();
    const std::size_t thread = static_cast<std::size_t>(state.thread_index());
    for (auto _ : state) setup.memory_hits(thread, 1);
    state.SetItemsProcessed(state.iterations());
}

template <class Values>
void BM_Hit_Near(benchmark::State& state) {
    auto& setup = Setup<Values>::get();
    HitGuard<Values> guard(state, setup);
    const std::size_t thread = static_cast<std::size_t>(state.thread_index());
    for (auto _ : state) setup.near_hits(thread, 1);
    state.SetItemsProcessed(state.iterations());
}

template <class Values>
void BM_Hit_RedisHash(benchmark::State& state) {
    auto& setup = Setup<Values>::get();
    const std::size_t thread = static_cast<std::size_t>(state.thread_index());
    for (auto _ : state) setup.redis_hits(thread, 1);
    state.SetItemsProcessed(state.iterations());
}

template <class Values>
void BM_Compare_Hit(benchmark::State& state) {
    auto& setup = Setup<Values>::get();
    HitGuard<Values> guard(state, setup);
    const std::size_t threads = static_cast<std::size_t>(state.range(0));
    std::vector<dogpile::bench::Comparison::Variant> variants{
        {"memory", 1, [&](std::size_t t, std::size_t ops) { setup.memory_hits(t, ops); }},
        {"near", 1, [&](std::size_t t, std::size_t ops) { setup.near_hits(t, ops); }},
        {"redis_hash", 1, [&](std::size_t t, std::size_t ops) { setup.redis_hits(t, ops); }},
    };
    if constexpr (std::is_same_v<Values, FlagSetValues>) {
        auto& strings = Setup<StringValues>::get();
        variants.push_back(
            {"memory_string48", 1, [&strings](std::size_t t, std::size_t ops) { strings.memory_hits(t, ops); }});
    }
    dogpile::bench::Comparison comparison(threads, std::move(variants));
    for (auto _ : state) state.SetIterationTime(comparison.round());
    comparison.report(state);
}

BENCHMARK_TEMPLATE(BM_Hit_Memory, FlagsValues)->Name("BM_Hit_Memory/flags")->ThreadRange(1, 2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Hit_Near, FlagsValues)->Name("BM_Hit_Near/flags")->ThreadRange(1, 2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Hit_RedisHash, FlagsValues)->Name("BM_Hit_RedisHash/flags")->UseRealTime();
BENCHMARK_TEMPLATE(BM_Hit_Memory, StringValues)->Name("BM_Hit_Memory/string48")->ThreadRange(1, 2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Hit_Near, StringValues)->Name("BM_Hit_Near/string48")->ThreadRange(1, 2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Hit_RedisHash, StringValues)->Name("BM_Hit_RedisHash/string48")->UseRealTime();
BENCHMARK_TEMPLATE(BM_Hit_Memory, FlagSetValues)->Name("BM_Hit_Memory/flag_set")->ThreadRange(1, 2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Hit_Near, FlagSetValues)->Name("BM_Hit_Near/flag_set")->ThreadRange(1, 2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Hit_RedisHash, FlagSetValues)->Name("BM_Hit_RedisHash/flag_set")->UseRealTime();
BENCHMARK_TEMPLATE(BM_Compare_Hit, FlagSetValues)
    ->Name("BM_Compare_Hit/flag_set")
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseManualTime()
    ->Iterations(20);
BENCHMARK_TEMPLATE(BM_Compare_Hit, FlagsValues)
    ->Name("BM_Compare_Hit/flags")
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseManualTime()
    ->Iterations(20);
BENCHMARK_TEMPLATE(BM_Compare_Hit, StringValues)
    ->Name("BM_Compare_Hit/string48")
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseManualTime()
    ->Iterations(20);

}  // namespace

BENCHMARK_MAIN();
