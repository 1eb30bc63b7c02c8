// early_refresh: a hot key with a short TTL under many threads for many TTL
// periods, with and without early refresh (XFetch). Prints, per mode, how many
// calls blocked on a creation (took longer than half the creator's time), how
// many creator calls ran per TTL period, and how many stale values were served.
//
//   early_refresh [--threads 64] [--ttl-ms 200] [--creator-ms 20] [--periods 20] [--beta 1] [--json]
//
// Modes:
//   dogpile      the dogpile lock alone: at expiry one caller regenerates
//                inline (it blocks), the others get the stale value
//   never-stale  StalePolicy::never_serve: at expiry everyone waits
//   xfetch       early refresh (beta) handed to an async runner: the value is
//                recomputed before it expires, nobody blocks, nothing stale

#include <dogpile/dogpile.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Config {
    int threads = 64;
    int ttl_ms = 200;
    int creator_ms = 20;
    int periods = 20;
    double beta = 1.0;
    bool json = false;
};

struct Result {
    std::string mode;
    long long calls = 0;
    long long blocked = 0;
    long long creations = 0;
    long long stale_served = 0;
    double creations_per_period = 0;
};

// Runs async regenerations on detached-but-joined threads.
class ThreadRunner {
public:
    void operator()(std::function<void()> task) {
        std::lock_guard<std::mutex> lock(mutex_);
        threads_.emplace_back(std::move(task));
    }
    ~ThreadRunner() {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& t : threads_) t.join();
    }

private:
    std::mutex mutex_;
    std::vector<std::thread> threads_;
};

Result run(const std::string& mode, const Config& config) {
    auto runner = std::make_shared<ThreadRunner>();
    dogpile::RegionOptions options;
    options.expiration_time = milliseconds(config.ttl_ms);
    if (mode == "never-stale") options.stale = dogpile::StalePolicy::never_serve;
    if (mode == "xfetch") {
        options.early_refresh = dogpile::EarlyRefresh{config.beta};
        options.async_creation_runner = [runner](std::function<void()> task) { (*runner)(std::move(task)); };
    }
    dogpile::Region<std::string> region(std::make_shared<dogpile::MemoryBackend<std::string>>(), options);
    std::atomic<long long> creations{0};
    auto creator = [&] {
        ++creations;
        std::this_thread::sleep_for(milliseconds(config.creator_ms));
        return std::string("value");
    };
    region.get_or_create("hot", creator);  // warm: the measurement starts with a fresh value
    creations = 0;
    region.reset_stats();

    const auto deadline = Clock::now() + milliseconds(static_cast<long long>(config.ttl_ms) * config.periods);
    const auto blocked_after = milliseconds(config.creator_ms) / 2;
    std::atomic<long long> calls{0}, blocked{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < config.threads; ++i) {
        threads.emplace_back([&] {
            while (Clock::now() < deadline) {
                const auto start = Clock::now();
                region.get_or_create("hot", creator);
                if (Clock::now() - start > blocked_after) ++blocked;
                ++calls;
                std::this_thread::yield();
            }
        });
    }
    for (auto& t : threads) t.join();
    runner.reset();  // joins pending regenerations
    const auto stats = region.stats();
    Result r;
    r.mode = mode;
    r.calls = calls;
    r.blocked = blocked;
    r.creations = creations;
    r.stale_served = static_cast<long long>(stats.stale_served);
    r.creations_per_period = static_cast<double>(r.creations) / config.periods;
    return r;
}

int parse_int(const char* text, const char* flag) {
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (!end || *end != '\0' || value <= 0) {
        std::cerr << flag << " needs a positive integer, got '" << text << "'\n";
        std::exit(2);
    }
    return static_cast<int>(value);
}

}  // namespace

int main(int argc, char** argv) {
    Config config;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::cerr << arg << " needs a value\n";
                std::exit(2);
            }
            return argv[++i];
        };
        if (arg == "--threads") config.threads = parse_int(value(), "--threads");
        else if (arg == "--ttl-ms") config.ttl_ms = parse_int(value(), "--ttl-ms");
        else if (arg == "--creator-ms") config.creator_ms = parse_int(value(), "--creator-ms");
        else if (arg == "--periods") config.periods = parse_int(value(), "--periods");
        else if (arg == "--beta") config.beta = std::atof(value());
        else if (arg == "--json") config.json = true;
        else {
            std::cerr << "usage: early_refresh [--threads N] [--ttl-ms MS] [--creator-ms MS] [--periods N] [--beta B] "
                         "[--json]\n";
            return 2;
        }
    }

    std::vector<Result> results;
    for (const char* mode : {"dogpile", "never-stale", "xfetch"}) results.push_back(run(mode, config));

    if (config.json) {
        std::cout << "{\"threads\": " << config.threads << ", \"ttl_ms\": " << config.ttl_ms
                  << ", \"creator_ms\": " << config.creator_ms << ", \"periods\": " << config.periods
                  << ", \"beta\": " << config.beta << ", \"modes\": [";
        for (std::size_t i = 0; i < results.size(); ++i) {
            const Result& r = results[i];
            std::cout << (i ? ", " : "") << "{\"mode\": \"" << r.mode << "\", \"calls\": " << r.calls
                      << ", \"blocked\": " << r.blocked << ", \"creations\": " << r.creations
                      << ", \"creations_per_period\": " << r.creations_per_period
                      << ", \"stale_served\": " << r.stale_served << "}";
        }
        std::cout << "]}\n";
        return 0;
    }
    std::printf("%d threads, one hot key, TTL %d ms, creator %d ms, %d TTL periods, beta %.2f\n\n", config.threads,
                config.ttl_ms, config.creator_ms, config.periods, config.beta);
    std::printf("%-12s %12s %16s %12s %18s %14s\n", "mode", "calls", "blocked calls", "creations", "creations/period",
                "stale served");
    for (const Result& r : results) {
        std::printf("%-12s %12lld %16lld %12lld %18.2f %14lld\n", r.mode.c_str(), r.calls, r.blocked, r.creations,
                    r.creations_per_period, r.stale_served);
    }
    std::printf("\nblocked = calls that took longer than half the creator's time\n");
    return 0;
}
