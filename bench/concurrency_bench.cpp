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
//   handoff     no Redis, no socket: each thread's blocking "call" is queued
//               and answered by one server thread in batches, each caller
//               woken on its own condition variable (a lane's wake pattern):
//               the ceiling of any client that blocks a thread per call
//   in-process  the same region and decode (the hash store's PayloadCodec)
//               over an in-process map: what the region costs without transport
//
// 1,000 hashes x 20 fields, 25-flag values, hits only (a miss or a backend
// error aborts the run). Each row runs every mode in alternating blocks
// (--blocks, of --seconds each) and reports the median block, so a noisy
// neighbour hits all modes alike; compare within a row. Then p50/p99 per call
// at 64 threads for pool and pipelined.
//
//   concurrency_bench [--seconds S] [--blocks N] [--lanes L] [--added-rtt-ms X]
//     L: shared connections of the pipelined client (default 1)
//     X: then the 64-thread row again through tests/support/delay_proxy.hpp,
//        adding X ms to every round trip (X/2 each way): a slow network
//
// Starts its own redis-server (it must be installed) and stops it at exit.

#include <hiredis/hiredis.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <unordered_map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <dogpile/backends/redis/details/payload.hpp>
#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "support/permissions.hpp"
#include "support/redis.hpp"
#include "support/timing.hpp"
#include "tests/support/delay_proxy.hpp"

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

// One server thread answering blocking calls in batches, in process: the
// most calls per second a client that blocks one OS thread per call can reach
// on this machine (each call: queue, wake the server, be woken on its own
// condition variable), whatever its transport.
class HandoffCeiling {
public:
    HandoffCeiling() : server_([this] { serve(); }) {}
    HandoffCeiling(const HandoffCeiling&) = delete;
    HandoffCeiling& operator=(const HandoffCeiling&) = delete;
    ~HandoffCeiling() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
        }
        work_.notify_one();
        server_.join();
    }

    // One call of thread `thread` (below 64), answered by the server thread.
    std::size_t call(std::size_t thread) {
        Slot& slot = slots_[thread];
        std::unique_lock<std::mutex> lock(mutex_);
        slot.done = false;
        queued_.push_back(&slot);
        work_.notify_one();
        slot.wake.wait(lock, [&slot] { return slot.done; });
        return 1;
    }

private:
    struct Slot {
        bool done = false;
        std::condition_variable wake;
    };

    void serve() {
        std::vector<Slot*> batch;
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            work_.wait(lock, [this] { return stop_ || !queued_.empty(); });
            if (stop_) return;
            batch.swap(queued_);
            for (Slot* slot : batch) slot->done = true;
            // Woken after the unlock, so no caller wakes into a held mutex.
            lock.unlock();
            for (Slot* slot : batch) slot->wake.notify_one();
            batch.clear();
            lock.lock();
        }
    }

    std::array<Slot, 64> slots_{};
    std::mutex mutex_;
    std::condition_variable work_;
    std::vector<Slot*> queued_;
    bool stop_ = false;
    std::thread server_;  // last: starts once the rest is built
};

// The hash store's bytes and decode (its PayloadCodec, default options) kept
// in process: a region hit over it costs what the region and the decode cost.
class InProcessBytes final : public dogpile::Backend<Flags, HashKey> {
public:
    explicit InProcessBytes(const FlagsCodec& codec)
        : payload_(codec, dogpile::RedisHashBackendOptions{}.payload, dogpile::RedisHashBackendOptions{}.limits) {}

    std::optional<entry_type> get(const HashKey& key) override {
        std::shared_lock<std::shared_mutex> lock(mutex_);
        const auto hash = bytes_.find(key.hash);
        if (hash == bytes_.end()) return std::nullopt;
        const auto field = hash->second.find(key.field);
        if (field == hash->second.end()) return std::nullopt;
        return payload_.decode(field->second, [] { return std::string("in-process"); });
    }
    void set(const HashKey& key, const entry_type& entry) override {
        std::string bytes = payload_.encode(entry, [] { return std::string("in-process"); });
        std::unique_lock<std::shared_mutex> lock(mutex_);
        bytes_[key.hash][key.field] = std::move(bytes);
    }
    void erase(const HashKey& key) override {
        std::unique_lock<std::shared_mutex> lock(mutex_);
        const auto hash = bytes_.find(key.hash);
        if (hash != bytes_.end()) hash->second.erase(key.field);
    }

private:
    dogpile::redis::details::PayloadCodec<Flags, FlagsCodec> payload_;
    std::shared_mutex mutex_;
    std::unordered_map<std::string, std::unordered_map<std::string, std::string>> bytes_;
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

// The contenders over one server address.
struct Contenders {
    RegionUnder pooled;
    RegionUnder pipelined;
    std::vector<std::unique_ptr<RawHiredis>> raw;  // one per thread

    Contenders(const dogpile::redis::ConnectionOptions& where, std::size_t lanes, const FlagsCodec& codec)
        : pooled(dogpile::redis::make_client(pool_options(where)), codec),
          pipelined(std::make_shared<dogpile::redis::PipelinedClient>(pipelined_options(where, lanes)), codec) {
        for (std::size_t t = 0; t < 64; ++t) raw.push_back(std::make_unique<RawHiredis>(where));
    }

    static dogpile::redis::PoolOptions pool_options(const dogpile::redis::ConnectionOptions& where) {
        dogpile::redis::PoolOptions o;
        o.connection = where;
        return o;
    }
    static dogpile::redis::PipelinedOptions pipelined_options(const dogpile::redis::ConnectionOptions& where,
                                                              std::size_t lanes) {
        dogpile::redis::PipelinedOptions o;
        o.pool = pool_options(where);
        o.connections = lanes;
        return o;
    }
    bool all_hits() const {
        const auto& a = pooled.region.stats();
        const auto& b = pipelined.region.stats();
        return a.misses + b.misses + a.backend_errors + b.backend_errors == 0;
    }
};

// The two modes without Redis: the handoff ceiling and the region in process.
struct WithoutRedis {
    HandoffCeiling handoff;
    Region in_process;

    explicit WithoutRedis(const FlagsCodec& codec) { in_process.configure(std::make_shared<InProcessBytes>(codec)); }
    bool all_hits() const { return in_process.stats().misses + in_process.stats().backend_errors == 0; }
};

using Op = std::function<std::size_t(std::size_t, std::uint64_t&)>;

// Every mode, by name: `op(thread, state)` makes one call (hiredis/16: a
// batch) and returns its hits.
std::vector<std::pair<std::string, Op>> all_modes(Contenders& c, WithoutRedis& local, const std::vector<HashKey>& keys,
                                                  const FlagsCodec& codec) {
    return {
        {"pool", [&](std::size_t, std::uint64_t& s) { return c.pooled.hit(keys[next_index(s)]); }},
        {"pipelined", [&](std::size_t, std::uint64_t& s) { return c.pipelined.hit(keys[next_index(s)]); }},
        {"hiredis",
         [&](std::size_t t, std::uint64_t& s) {
             c.raw[t]->append_hget(keys[next_index(s)]);
             return c.raw[t]->read_decoded(codec).empty() ? std::size_t{0} : std::size_t{1};
         }},
        {"hiredis/16",
         [&](std::size_t t, std::uint64_t& s) {
             for (std::size_t i = 0; i < batch; ++i) c.raw[t]->append_hget(keys[next_index(s)]);
             std::size_t n = 0;
             for (std::size_t i = 0; i < batch; ++i) n += c.raw[t]->read_decoded(codec).empty() ? 0 : 1;
             return n;
         }},
        {"handoff", [&](std::size_t t, std::uint64_t&) { return local.handoff.call(t); }},
        {"in-process",
         [&](std::size_t, std::uint64_t& s) {
             return local.in_process.get_or_create(keys[next_index(s)], [] { return Flags{}; }).empty()
                        ? std::size_t{0}
                        : std::size_t{1};
         }},
    };
}

// One row per thread count, every mode in alternating blocks; then p50/p99
// at 64 threads for pool and pipelined.
void print_table(Contenders& c, WithoutRedis& local, const std::vector<HashKey>& keys, const FlagsCodec& codec,
                 const std::vector<std::size_t>& thread_counts, int blocks, double seconds) {
    const std::vector<std::pair<std::string, Op>> modes = all_modes(c, local, keys, codec);

    std::cout << "| threads | pool | pipelined | hiredis, conn/thread | hiredis 1 thread, batches of 16 |"
                 " handoff ceiling | region in-process | pipelined/pool | pipelined/hiredis/16 | pipelined/hiredis |"
                 " pipelined/handoff |\n"
              << "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    std::map<std::string, std::vector<double>> latencies64;
    for (std::size_t threads : thread_counts) {
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
        const double ceiling = median(per_block["handoff"]);
        std::cout << "| " << threads << " | " << k(p) << " | " << k(q) << " | " << k(h) << " | " << k(h16) << " | "
                  << k(ceiling) << " | " << k(median(per_block["in-process"])) << " | " << std::fixed
                  << std::setprecision(2) << q / p << "x | " << q / h16 << "x | " << q / h << "x | " << q / ceiling
                  << "x |\n";
    }
    if (latencies64.empty()) return;
    std::cout << "\n| 64 threads | p50 | p99 |\n|---|---:|---:|\n";
    for (const char* name : {"pool", "pipelined"}) {
        std::cout << "| " << name << " | " << std::fixed << std::setprecision(0)
                  << dogpile::bench::percentile(latencies64[name], 50) << " us | "
                  << dogpile::bench::percentile(latencies64[name], 99) << " us |\n";
    }
}

// CPU seconds used so far by this process (every thread) and by `server`
// (/proc/<pid>/stat utime + stime): where a call's cost goes when the client
// threads and redis-server share the machine's cores.
double own_cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double server_cpu_seconds(pid_t server) {
    std::ifstream stat("/proc/" + std::to_string(server) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));  // after "pid (comm) "
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i >= 14) ticks += std::stod(field);  // utime, stime
    }
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// One block per mode at 64 threads, with the CPU time per hit (per call for
// the handoff) of the client process and of redis-server.
void print_cpu_split(Contenders& c, WithoutRedis& local, const std::vector<HashKey>& keys, const FlagsCodec& codec,
                     pid_t server, double seconds) {
    std::cout << "\n| 64 threads | hits/s | client CPU per hit | redis-server CPU per hit | CPU use (of "
              << std::thread::hardware_concurrency() << " cores) |\n|---|---:|---:|---:|---:|\n";
    for (const auto& [name, op] : all_modes(c, local, keys, codec)) {
        if (name == "hiredis" || name == "hiredis/16") continue;
        const double client_before = own_cpu_seconds();
        const double server_before = server_cpu_seconds(server);
        const Result r = run(64, seconds, false, op);
        const double hits = r.hits_per_second * seconds;
        const double client = own_cpu_seconds() - client_before;
        const double served = server_cpu_seconds(server) - server_before;
        const bool uses_redis = name == "pool" || name == "pipelined";
        std::cout << "| " << name << " | " << k(r.hits_per_second) << " | " << std::fixed << std::setprecision(1)
                  << client / hits * 1e6 << " us | ";
        if (uses_redis) {
            std::cout << served / hits * 1e6 << " us | ";
        } else {
            std::cout << "- | ";
        }
        std::cout << std::setprecision(2) << (client + (uses_redis ? served : 0)) / seconds << " |\n";
    }
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 1.0;
    int blocks = 3;
    std::size_t lanes = 1;
    double added_rtt_ms = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
        else if (a == "--blocks" && i + 1 < argc) blocks = std::atoi(argv[++i]);
        else if (a == "--lanes" && i + 1 < argc) lanes = static_cast<std::size_t>(std::atoi(argv[++i]));
        else if (a == "--added-rtt-ms" && i + 1 < argc) added_rtt_ms = std::atof(argv[++i]);
        else {
            std::cerr << "usage: concurrency_bench [--seconds S] [--blocks N] [--lanes L] [--added-rtt-ms X]\n";
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

    // The region under test, filled once; the rows over the proxy read the same data.
    Contenders direct(where, lanes, codec);
    WithoutRedis local(codec);
    {
        std::vector<std::pair<HashKey, Flags>> items;
        for (const auto& key : keys) {
            items.emplace_back(key, dogpile::bench::make_flags(dogpile::bench::pair_seed(
                                        std::stoull(key.hash.substr(key.hash.find('|') + 1)), std::stoull(key.field))));
            if (items.size() == 500) {
                direct.pooled.region.set_multi(items);
                local.in_process.set_multi(items);
                items.clear();
            }
        }
    }
    print_table(direct, local, keys, codec, {1, 8, 64}, blocks, seconds);
    print_cpu_split(direct, local, keys, codec, server->pid(), seconds);
    bool all_hits = direct.all_hits() && local.all_hits();
    if (added_rtt_ms > 0) {
        // Half the added round trip each way (tests/support/delay_proxy.hpp).
        dogpile::test::DelayProxyOptions proxy_options;
        proxy_options.target_host = where.host;
        proxy_options.target_port = where.port;
        proxy_options.one_way_delay = std::chrono::microseconds(static_cast<std::int64_t>(added_rtt_ms * 1000.0 / 2.0));
        dogpile::test::DelayProxy proxy(proxy_options);
        dogpile::redis::ConnectionOptions slow = where;
        slow.port = proxy.port();
        Contenders delayed(slow, lanes, codec);
        std::cout << std::defaultfloat << "\nThrough a proxy adding " << added_rtt_ms
                  << " ms per round trip (64 threads):\n\n";
        print_table(delayed, local, keys, codec, {64}, blocks, seconds);
        all_hits = all_hits && delayed.all_hits();
    }
    if (!all_hits) {
        std::cerr << "concurrency_bench: misses or backend errors: not a hit benchmark\n";
        return 1;
    }
    return 0;
}
