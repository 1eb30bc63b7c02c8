// The Redis hash store, against plain hiredis doing the same work.
//
//   BM_RedisHit_Region/<transport>    Region<Flags, HashKey>::get_or_create of
//                                     an existing field (HGET + decode)
//   BM_RedisHit_Hiredis/<transport>   redisCommandArgv HGET + the same decode
//                                     on a bare connection of the same kind
//   BM_RedisMulti100_Multi/<t>        get_or_create_multi of 100 fields of one
//                                     hash (one HMGET round trip)
//   BM_RedisMulti100_Sequential/<t>   100 get_or_create calls, one after another
//   BM_Compare_RedisHit/<t>           Hiredis and Region in alternating blocks,
//                                     with their ratio (support/compare.hpp)
//   BM_Compare_RedisMulti100/<t>      Sequential and Multi likewise
//
// Transport is "unix" (socket) or "tcp" (loopback). Every item is one entry.

#include "bench_redis.hpp"

#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "support/compare.hpp"
#include "support/permissions.hpp"

namespace dogpile::bench {
namespace {

using codec::Flags;
using codec::FlagsCodec;

constexpr std::size_t field_count = 100;
constexpr std::uint64_t id_a = 7;

// A bare hiredis connection: the baseline's client.
class HiredisConnection {
public:
    explicit HiredisConnection(const redis::ConnectionOptions& o) {
        context_ =
            o.unix_socket.empty() ? redisConnect(o.host.c_str(), o.port) : redisConnectUnix(o.unix_socket.c_str());
        if (context_ == nullptr || context_->err != 0) {
            const std::string why = context_ ? context_->errstr : "out of memory";
            if (context_) redisFree(context_);
            throw std::runtime_error("hiredis connect to " + o.describe() + " failed: " + why);
        }
    }
    HiredisConnection(const HiredisConnection&) = delete;
    HiredisConnection& operator=(const HiredisConnection&) = delete;
    ~HiredisConnection() { redisFree(context_); }

    // HGET hash field, decoded, as an application would write it by hand.
    Flags hget(const redis::HashKey& key, const FlagsCodec& codec) {
        const char* argv[] = {"HGET", key.hash.data(), key.field.data()};
        const std::size_t lengths[] = {4, key.hash.size(), key.field.size()};
        auto* reply = static_cast<redisReply*>(redisCommandArgv(context_, 3, argv, lengths));
        if (reply == nullptr) throw std::runtime_error(std::string("hiredis HGET failed: ") + context_->errstr);
        std::unique_ptr<redisReply, void (*)(void*)> owned(reply, freeReplyObject);
        if (reply->type != REDIS_REPLY_STRING) throw std::runtime_error("hiredis HGET: no value");
        return codec.decode(std::string_view(reply->str, reply->len));
    }

private:
    redisContext* context_ = nullptr;
};

// One transport's store: a region over a hash holding field_count entries.
struct Store {
    explicit Store(const redis::ConnectionOptions& where) : baseline(where) {
        redis::PoolOptions pool;
        pool.connection = where;
        RedisHashBackendOptions options;
        options.client = redis::make_client(pool);
        options.ttl = std::chrono::hours(1);
        backend = std::make_shared<RedisHashBackend<Flags, FlagsCodec>>(options, codec);
        region.configure(backend);
        const HashKeyScheme scheme("calculated-a|");
        std::vector<std::pair<redis::HashKey, Flags>> items;
        for (std::size_t b = 1; b <= field_count; ++b) {
            keys.push_back(scheme.key(id_a, b));
            items.emplace_back(keys.back(), make_flags(pair_seed(id_a, b)));
        }
        region.set_multi(items);
    }

    // The four ways of reading, shared by the benchmarks below; `i` picks the field.
    void region_hit(std::size_t i) {
        Flags value = region.get_or_create(keys[i % field_count], never_called);
        benchmark::DoNotOptimize(value);
    }
    void hiredis_hit(std::size_t i) {
        Flags value = baseline.hget(keys[i % field_count], codec);
        benchmark::DoNotOptimize(value);
    }
    void read_all_multi() {
        std::vector<Flags> values = region.get_or_create_multi(keys, never_called_multi);
        benchmark::DoNotOptimize(values);
    }
    void read_all_sequential() {
        for (std::size_t i = 0; i < field_count; ++i) region_hit(i);
    }

    // Reads that must all be hits: a miss or an error means the benchmark
    // measured the wrong thing.
    template <class Body>
    void checked(benchmark::State& state, Body body) {
        const RegionStats before = region.stats();
        body();
        const RegionStats after = region.stats();
        if (after.misses != before.misses || after.backend_errors != before.backend_errors) {
            state.SkipWithError("a hit benchmark saw a miss or a backend error");
        }
    }

    FlagsCodec codec{permission_template()};
    std::shared_ptr<RedisHashBackend<Flags, FlagsCodec>> backend;
    Region<Flags, redis::HashKey> region;
    std::vector<redis::HashKey> keys;
    HiredisConnection baseline;

private:
    // Creators for reads that must hit; a call shows up as a miss.
    static Flags never_called() { return {}; }
    static std::vector<Flags> never_called_multi(const std::vector<redis::HashKey>& missing) {
        return std::vector<Flags>(missing.size());
    }
};

// Real time: a round trip is mostly spent waiting, which CPU time leaves out.
// `read(store, i)` is one iteration of `items` entries.
template <class Read>
void add_single(const std::string& name, const std::shared_ptr<Store>& store, std::size_t items, Read read) {
    benchmark::RegisterBenchmark(name.c_str(), [store, items, read](benchmark::State& state) {
        store->checked(state, [&] {
            std::size_t i = 0;
            for (auto _ : state) read(*store, i++);
        });
        state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
    })->UseRealTime();
}

// A baseline and a subject in alternating blocks (support/compare.hpp).
template <class Baseline, class Subject>
void add_comparison(const std::string& name, const std::shared_ptr<Store>& store, std::size_t items,
                    std::pair<const char*, Baseline> baseline, std::pair<const char*, Subject> subject) {
    auto block = [store](auto read) {
        return [store, read](std::size_t /*thread*/, std::size_t ops) {
            for (std::size_t i = 0; i < ops; ++i) read(*store, i);
        };
    };
    benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
        store->checked(state, [&] {
            // One call per block: a call is a round trip, long enough to time on
            // its own, and alternating call by call pairs them as closely as possible.
            Comparison comparison(
                1, {{baseline.first, items, block(baseline.second)}, {subject.first, items, block(subject.second)}},
                std::chrono::microseconds(0));
            for (auto _ : state) state.SetIterationTime(comparison.round());
            comparison.report(state);
        });
    })->UseManualTime();
}

void register_transport(const std::string& transport, const redis::ConnectionOptions& where) {
    auto store = std::make_shared<Store>(where);
    const auto region_hit = [](Store& s, std::size_t i) { s.region_hit(i); };
    const auto hiredis_hit = [](Store& s, std::size_t i) { s.hiredis_hit(i); };
    const auto multi = [](Store& s, std::size_t) { s.read_all_multi(); };
    const auto sequential = [](Store& s, std::size_t) { s.read_all_sequential(); };

    add_single("BM_RedisHit_Region/" + transport, store, 1, region_hit);
    add_single("BM_RedisHit_Hiredis/" + transport, store, 1, hiredis_hit);
    add_single("BM_RedisMulti100_Multi/" + transport, store, field_count, multi);
    add_single("BM_RedisMulti100_Sequential/" + transport, store, field_count, sequential);
    add_comparison("BM_Compare_RedisHit/" + transport, store, 1, std::pair("hiredis", hiredis_hit),
                   std::pair("region", region_hit));
    add_comparison("BM_Compare_RedisMulti100/" + transport, store, field_count, std::pair("sequential", sequential),
                   std::pair("multi", multi));
}

}  // namespace

void register_redis_benchmarks(const RedisServer& server) {
    register_transport("unix", server.unix_options());
    register_transport("tcp", server.options());
}

}  // namespace dogpile::bench
