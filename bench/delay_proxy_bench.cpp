// delay_proxy_bench: what the test suite's slow network
// (tests/support/delay_proxy.hpp) costs by itself, so figures measured
// through it can be read. Plain hiredis GETs of one 16-byte value against
// one throwaway redis-server:
//   - one connection, one GET at a time: round-trip p50/p99;
//   - one connection, batches of 100 pipelined GETs: time per batch (the
//     delay should be paid once per batch, not per command);
//   - 64 connections on 64 threads, one GET at a time: calls per second.
// Each directly, through the proxy with no delay (its own overhead) and with
// the given one-way delay (default 250 us: 0.5 ms added round trip), with
// one and two proxy threads. Every setup runs in turn, round after round;
// latencies are pooled over the rounds, rates are the median round.
//
//   delay_proxy_bench [--seconds S (per setup and round, default 1)] [--rounds R (5)] [--delay-us D (250)]

#include <hiredis/hiredis.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/timing.hpp"
#include "tests/support/delay_proxy.hpp"
#include "tests/support/redis_server.hpp"

namespace {

using dogpile::bench::percentile;
using dogpile::bench::SteadyClock;
using dogpile::bench::StartGate;
using dogpile::bench::to_ms;
using dogpile::test::DelayProxy;
using dogpile::test::DelayProxyOptions;
using dogpile::test::RedisServer;
using dogpile::test::RedisServerOptions;
using dogpile::test::redis_server_details::ContextPtr;

constexpr const char* kKey = "delay-proxy-bench:key";

ContextPtr connect(int port) {
    const timeval timeout{30, 0};
    ContextPtr context(redisConnectWithTimeout("127.0.0.1", port, timeout));
    if (context == nullptr || context->err != 0) throw std::runtime_error("cannot connect");
    redisSetTimeout(context.get(), timeout);
    return context;
}

void get(redisContext* context) {
    auto* reply = static_cast<redisReply*>(redisCommand(context, "GET %s", kKey));
    if (reply == nullptr) throw std::runtime_error(std::string("GET failed: ") + context->errstr);
    freeReplyObject(reply);
}

void get_batch(redisContext* context, int commands) {
    for (int i = 0; i < commands; ++i) redisAppendCommand(context, "GET %s", kKey);
    for (int i = 0; i < commands; ++i) {
        void* reply = nullptr;
        if (redisGetReply(context, &reply) != REDIS_OK) throw std::runtime_error("pipelined GET failed");
        freeReplyObject(reply);
    }
}

// Milliseconds per call (or per batch) for `seconds`, at least 20 samples.
template <class Call>
std::vector<double> sample(double seconds, Call&& call) {
    std::vector<double> samples;
    const auto end = SteadyClock::now() + std::chrono::duration<double>(seconds);
    while (SteadyClock::now() < end || samples.size() < 20) {
        const auto started = SteadyClock::now();
        call();
        samples.push_back(to_ms(SteadyClock::now() - started));
    }
    return samples;
}

double calls_per_second(int port, int connections, double seconds) {
    std::vector<ContextPtr> contexts;
    for (int c = 0; c < connections; ++c) contexts.push_back(connect(port));
    StartGate gate(static_cast<std::size_t>(connections));
    std::atomic<bool> stop{false};
    std::atomic<long long> calls{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < connections; ++c) {
        threads.emplace_back([&, c] {
            redisContext* context = contexts[static_cast<std::size_t>(c)].get();
            gate.arrive_and_wait();
            long long mine = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                get(context);
                ++mine;
            }
            calls.fetch_add(mine);
        });
    }
    const auto started = gate.open();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop.store(true);
    for (auto& thread : threads) thread.join();
    return static_cast<double>(calls.load()) / std::chrono::duration<double>(SteadyClock::now() - started).count();
}

// CPU seconds used so far by this process's threads named "delay-proxy"
// (the proxies' event loops): over a measurement, near one core per loop
// thread would mean the proxy itself is the cap.
double proxy_cpu_seconds() {
    double total = 0;
    std::error_code error;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", error)) {
        std::ifstream comm(task.path() / "comm");
        std::string name;
        if (!std::getline(comm, name) || name != "delay-proxy") continue;
        std::ifstream stat_file(task.path() / "stat");
        std::string stat;
        std::getline(stat_file, stat);
        // Fields after the ")" that ends the name: state is field 3, utime 14, stime 15.
        std::istringstream fields(stat.substr(stat.rfind(')') + 2));
        std::string field;
        unsigned long long utime = 0;
        unsigned long long stime = 0;
        for (int index = 3; fields >> field; ++index) {
            if (index == 14) utime = std::stoull(field);
            if (index == 15) {
                stime = std::stoull(field);
                break;
            }
        }
        total += static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
    return total;
}

double median(std::vector<double> values) { return percentile(std::move(values), 50); }

std::string load_average() {
    double loads[3] = {0, 0, 0};
    if (::getloadavg(loads, 3) != 3) return "unknown";
    char text[64];
    std::snprintf(text, sizeof(text), "%.2f %.2f %.2f", loads[0], loads[1], loads[2]);
    return text;
}

struct Setup {
    std::string name;
    std::unique_ptr<DelayProxy> proxy;  // null: straight to the server
    std::vector<double> single_ms;
    std::vector<double> batch_ms;
    std::vector<double> rates;
    std::vector<double> proxy_cores;  // CPU of the proxy's loops over the 64-connection run, in cores
};

}  // namespace

int main(int argc, char** argv) {
    double seconds = 1.0;
    int rounds = 5;
    long delay_us = 250;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = std::atof(argv[++i]);
        } else if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = std::atoi(argv[++i]);
        } else if (std::strcmp(argv[i], "--delay-us") == 0 && i + 1 < argc) {
            delay_us = std::atol(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: %s [--seconds S] [--rounds R] [--delay-us D]\n", argv[0]);
            return 2;
        }
    }
    RedisServerOptions server_options;
    server_options.listen = RedisServerOptions::Listen::Tcp;
    RedisServer server(server_options);
    {
        auto context = connect(server.port());
        auto* reply = static_cast<redisReply*>(redisCommand(context.get(), "SET %s %s", kKey, "0123456789abcdef"));
        freeReplyObject(reply);
    }
    const auto proxy = [&](long one_way_us, int threads) {
        DelayProxyOptions options;
        options.target_port = server.port();
        options.one_way_delay = std::chrono::microseconds(one_way_us);
        options.threads = threads;
        return std::make_unique<DelayProxy>(options);
    };
    const std::string delayed = "proxy " + std::to_string(delay_us) + " us/direction";
    std::vector<Setup> setups;
    const auto add = [&](std::string name, std::unique_ptr<DelayProxy> through) {
        setups.emplace_back();
        setups.back().name = std::move(name);
        setups.back().proxy = std::move(through);
    };
    add("direct", nullptr);
    add("proxy 0 us, 1 thread", proxy(0, 1));
    add("proxy 0 us, 2 threads", proxy(0, 2));
    add(delayed + ", 1 thread", proxy(delay_us, 1));
    add(delayed + ", 2 threads", proxy(delay_us, 2));

    const std::string load_before = load_average();
    // Round after round, every setup in turn: load that comes and goes hits
    // them alike, and the medians over rounds are compared.
    for (int round = 0; round < rounds; ++round) {
        for (auto& setup : setups) {
            const int port = setup.proxy ? setup.proxy->port() : server.port();
            auto context = connect(port);
            const auto single = sample(seconds / 4, [&] { get(context.get()); });
            setup.single_ms.insert(setup.single_ms.end(), single.begin(), single.end());
            const auto batch = sample(seconds / 4, [&] { get_batch(context.get(), 100); });
            setup.batch_ms.insert(setup.batch_ms.end(), batch.begin(), batch.end());
            const double cpu_before = proxy_cpu_seconds();
            const auto started = SteadyClock::now();
            setup.rates.push_back(calls_per_second(port, 64, seconds / 2));
            setup.proxy_cores.push_back((proxy_cpu_seconds() - cpu_before) /
                                        std::chrono::duration<double>(SteadyClock::now() - started).count());
        }
    }

    std::printf("%d rounds; load average %s at the start, %s at the end\n\n", rounds, load_before.c_str(),
                load_average().c_str());
    std::printf(
        "| path | 1 conn GET p50 (ms) | p99 (ms) | 1 conn, 100 pipelined GETs p50 (ms) | = GET/s | 64 conns GET/s "
        "| vs direct | proxy CPU (cores) |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    const double direct_rate = median(setups.front().rates);
    for (const auto& setup : setups) {
        const double rate = median(setup.rates);
        const double batch_p50 = percentile(setup.batch_ms, 50);
        std::printf("| %s | %.3f | %.3f | %.3f | %.0f | %.0f | %.2fx | %.2f |\n", setup.name.c_str(),
                    percentile(setup.single_ms, 50), percentile(setup.single_ms, 99), batch_p50,
                    100 * 1000.0 / batch_p50, rate, rate / direct_rate, median(setup.proxy_cores));
    }
    return 0;
}
