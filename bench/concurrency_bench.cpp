// concurrency_bench: hits per second of the hash store under 1, 8 and 64
// threads (issue 14 item 5), all in one run, over loopback TCP:
//
//   pool        Region<Flags, HashKey> over the hash store, SingleServerClient
//               with its default pool (8 connections)
//   pipelined   the same region over redis::PipelinedClient (1 shared
//               connection, auto-pipelined)
//   hiredis     raw hiredis, one connection per thread: HGET + the same decode
//   hiredis/16  raw hiredis, ONE thread whatever the row, one connection,
//               batches of 16 pipelined HGETs + the same decode
//
// 1,000 hashes x 20 fields, 25-flag values, hits only (a miss or a backend
// error aborts the run). Each row runs every mode in alternating blocks
// (--blocks, of --seconds each) and reports the median block, so a noisy
// neighbour hits all modes alike; compare within a row. Then p50/p99 per call
// at 64 threads for pool and pipelined.
//
//   concurrency_bench [--seconds S] [--blocks N] [--lanes L]   (L shared connections, default 1)
//
// Starts its own redis-server (it must be installed) and stops it at exit.

#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "support/permissions.hpp"
#include "support/redis.hpp"
#include "support/timing.hpp"

namespace {

using dogpile::HashKey;
using dogpile::bench::SteadyClock;
using dogpile::codec::Flags;
using dogpile::codec::FlagsCodec;
using Region = dogpile::Region<Flags, HashKey>;
using Backend = dogpile::RedisHashBackend<Flags, FlagsCodec>;

constexpr std::size_t hashes = 1000;
constexpr std::size_t fields = 20;
constexpr std::size_t batch = 16;

HashKey key_at(std::uint64_t n) {
    const std::uint64_t a = n % hashes;
    const std::uint64_t b = (n / hashes) % fields;
    return HashKey{"calculated-a|" + std::to_string(a), std::to_string(b)};
}

std::vector<HashKey> all_keys() {
    std::vector<HashKey> keys;
    for (std::uint64_t n = 0; n < hashes * fields; ++n) keys.push_back(key_at(n));
    return keys;
}

// A different, fixed walk over the keys per thread.
std::uint64_t next_index(std::uint64_t& state) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state >> 33) % (hashes * fields);
}

class RawHiredis {
public:
    explicit RawHiredis(const dogpile::redis::ConnectionOptions& o) : context_(redisConnect(o.host.c_str(), o.port)) {
        if (context_ == nullptr || context_->err != 0) throw std::runtime_error("hiredis connect failed");
    }
    RawHiredis(const RawHiredis&) = delete;
    RawHiredis& operator=(const RawHiredis&) = delete;
    ~RawHiredis() { redisFree(context_); }

    void append_hget(const HashKey& key) {
        const char* argv[] = {"HGET", key.hash.data(), key.field.data()};
        const std::size_t lengths[] = {4, key.hash.size(), key.field.size()};
        if (redisAppendCommandArgv(context_, 3, argv, lengths) != REDIS_OK) throw std::runtime_error("hiredis append");
    }
    Flags read_decoded(const FlagsCodec& codec) {
        void* raw = nullptr;
        if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) throw std::runtime_error("hiredis read");
        std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw), freeReplyObject);
        if (reply->type != REDIS_REPLY_STRING) throw std::runtime_error("hiredis HGET: no value");
        return codec.decode(std::string_view(reply->str, reply->len));
    }

private:
    redisContext* context_;
};

struct Result {
    double hits_per_second = 0;
    std::vector<double> latencies_us;  // per call, when asked for
};

// `threads` threads run `op(thread, state)` (returning how many hits it made)
// for `seconds`; latencies are kept when `timed`.
Result run(std::size_t threads, double seconds, bool timed,
           const std::function<std::size_t(std::size_t, std::uint64_t&)>& op) {
    dogpile::bench::StartGate gate(threads);
    std::atomic<bool> stop{false};
    std::vector<std::uint64_t> hits(threads, 0);
    std::vector<std::vector<double>> latencies(threads);
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            std::uint64_t state = 0x9e3779b97f4a7c15ULL * (t + 1);
            gate.arrive_and_wait();
            while (!stop.load(std::memory_order_relaxed)) {
                const auto start = timed ? SteadyClock::now() : SteadyClock::time_point{};
                hits[t] += op(t, state);
                if (timed) {
                    latencies[t].push_back(
                        std::chrono::duration<double, std::micro>(SteadyClock::now() - start).count());
                }
            }
        });
    }
    const auto start = gate.open();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& th : pool) th.join();
    const double elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
    Result r;
    std::uint64_t total = 0;
    for (auto h : hits) total += h;
    r.hits_per_second = static_cast<double>(total) / elapsed;
    for (auto& l : latencies) r.latencies_us.insert(r.latencies_us.end(), l.begin(), l.end());
    return r;
}

struct RegionUnder {
    Region region;
    std::shared_ptr<dogpile::redis::Client> client;

    RegionUnder(std::shared_ptr<dogpile::redis::Client> c, const FlagsCodec& codec) : client(std::move(c)) {
        dogpile::RedisHashBackendOptions options;
        options.client = client;
        options.ttl = std::chrono::hours(1);
        region.configure(std::make_shared<Backend>(options, codec));
    }
    std::size_t hit(const HashKey& key) {
        Flags v = region.get_or_create(key, [] { return Flags{}; });
        return v.empty() ? 0 : 1;  // a miss would create an empty value
    }
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

std::string k(double per_second) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(0) << per_second / 1000.0 << " k";
    return s.str();
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 1.0;
    int blocks = 3;
    std::size_t lanes = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
        else if (a == "--blocks" && i + 1 < argc) blocks = std::atoi(argv[++i]);
        else if (a == "--lanes" && i + 1 < argc) lanes = static_cast<std::size_t>(std::atoi(argv[++i]));
        else {
            std::cerr << "usage: concurrency_bench [--seconds S] [--blocks N] [--lanes L]\n";
            return 2;
        }
    }
    std::string why;
    auto server = dogpile::bench::start_redis(why);
    if (!server) {
        std::cerr << "concurrency_bench: no redis-server: " << why << "\n";
        return 1;
    }
    dogpile::redis::ConnectionOptions where = server->options();
    where.unix_socket.clear();  // loopback TCP, as the figures
    const FlagsCodec codec{dogpile::bench::permission_template()};
    const std::vector<HashKey> keys = all_keys();

    dogpile::redis::PoolOptions pool_options;
    pool_options.connection = where;
    RegionUnder pooled(dogpile::redis::make_client(pool_options), codec);
    dogpile::redis::PipelinedOptions pipelined_options;
    pipelined_options.pool = pool_options;
    pipelined_options.connections = lanes;
    RegionUnder pipelined(std::make_shared<dogpile::redis::PipelinedClient>(pipelined_options), codec);
    {
        std::vector<std::pair<HashKey, Flags>> items;
        for (const auto& key : keys) {
            items.emplace_back(key, dogpile::bench::make_flags(dogpile::bench::pair_seed(
                                        std::stoull(key.hash.substr(key.hash.find('|') + 1)), std::stoull(key.field))));
            if (items.size() == 500) {
                pooled.region.set_multi(items);
                items.clear();
            }
        }
    }

    std::vector<std::unique_ptr<RawHiredis>> raw;
    for (std::size_t t = 0; t < 64; ++t) raw.push_back(std::make_unique<RawHiredis>(where));

    using Op = std::function<std::size_t(std::size_t, std::uint64_t&)>;
    const std::vector<std::pair<std::string, Op>> modes{
        {"pool", [&](std::size_t, std::uint64_t& s) { return pooled.hit(keys[next_index(s)]); }},
        {"pipelined", [&](std::size_t, std::uint64_t& s) { return pipelined.hit(keys[next_index(s)]); }},
        {"hiredis",
         [&](std::size_t t, std::uint64_t& s) {
             raw[t]->append_hget(keys[next_index(s)]);
             return raw[t]->read_decoded(codec).empty() ? std::size_t{0} : std::size_t{1};
         }},
        {"hiredis/16",
         [&](std::size_t t, std::uint64_t& s) {
             for (std::size_t i = 0; i < batch; ++i) raw[t]->append_hget(keys[next_index(s)]);
             std::size_t n = 0;
             for (std::size_t i = 0; i < batch; ++i) n += raw[t]->read_decoded(codec).empty() ? 0 : 1;
             return n;
         }},
    };

    std::cout << "| threads | pool | pipelined | hiredis, conn/thread | hiredis 1 thread, batches of 16 |"
                 " pipelined/pool | pipelined/hiredis/16 | pipelined/hiredis |\n"
              << "|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    std::map<std::string, std::vector<double>> latencies64;
    for (std::size_t threads : {1, 8, 64}) {
        std::map<std::string, std::vector<double>> per_block;
        for (int b = 0; b < blocks; ++b) {
            for (const auto& [name, op] : modes) {
                const std::size_t n = name == "hiredis/16" ? 1 : threads;
                const bool timed = threads == 64 && (name == "pool" || name == "pipelined");
                Result r = run(n, seconds, timed, op);
                per_block[name].push_back(r.hits_per_second);
                if (timed) {
                    auto& l = latencies64[name];
                    l.insert(l.end(), r.latencies_us.begin(), r.latencies_us.end());
                }
            }
        }
        const double p = median(per_block["pool"]);
        const double q = median(per_block["pipelined"]);
        const double h = median(per_block["hiredis"]);
        const double h16 = median(per_block["hiredis/16"]);
        std::cout << "| " << threads << " | " << k(p) << " | " << k(q) << " | " << k(h) << " | " << k(h16) << " | "
                  << std::fixed << std::setprecision(2) << q / p << "x | " << q / h16 << "x | " << q / h << "x |\n";
    }
    std::cout << "\n| 64 threads | p50 | p99 |\n|---|---:|---:|\n";
    for (const char* name : {"pool", "pipelined"}) {
        std::cout << "| " << name << " | " << std::fixed << std::setprecision(0)
                  << dogpile::bench::percentile(latencies64[name], 50) << " us | "
                  << dogpile::bench::percentile(latencies64[name], 99) << " us |\n";
    }
    const auto misses = pooled.region.stats().misses + pipelined.region.stats().misses;
    const auto errors = pooled.region.stats().backend_errors + pipelined.region.stats().backend_errors;
    if (misses != 0 || errors != 0) {
        std::cerr << "concurrency_bench: " << misses << " misses, " << errors
                  << " backend errors: not a hit benchmark\n";
        return 1;
    }
    return 0;
}
