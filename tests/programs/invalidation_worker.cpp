// A worker process for the cross-process invalidation tests
// (test_redis_invalidation). Each worker has its own region on the test's
// Redis (a RedisBackend holding the values, a RedisInvalidationStrategy named
// after the namespace) and reports through Redis.
//
//   invalidation_worker observe --url U --ns NS --index I --workers W --kind hard|soft
//                               --refresh-ms R --parent PID
//     Waits (bounded) until it reads <NS>value fresh, INCRs <NS>ready, then
//     polls get(<NS>value) until its region sees the value invalidated:
//     hard, a miss; soft, stale (invalidated softly, not hard). It RPUSHes
//     "<I>:miss" or "<I>:stale" to <NS>observed. Worker 0 first waits until
//     all W workers are ready, then calls invalidate(kind): the others learn
//     of it only through Redis.
//
// Exit status: 0 observed, 1 not within the deadline or an error, 2 bad arguments.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "worker_args.hpp"

namespace {

using namespace std::chrono_literals;

// Generous: a deadline turns a lost invalidation into a failure, not a hang.
constexpr auto kDeadline = 60s;

using dogpile::test::die_with_parent;
using Args = dogpile::test::WorkerArgs;

// Polls without a latch: the condition is in another process.
template <class Predicate>
bool poll_until(Predicate&& holds) {
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (!holds()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

int run_observe(const Args& args) {
    const std::string ns = args.get("ns");
    const long long index = args.number("index");
    const long long workers = args.number("workers");
    const std::string& kind = args.get("kind");
    if (kind != "hard" && kind != "soft") throw std::invalid_argument("--kind must be hard or soft");

    auto client = dogpile::redis::make_client(args.get("url"));
    dogpile::RedisInvalidationOptions invalidation;
    invalidation.client = client;
    invalidation.region_name = ns;
    invalidation.refresh_interval = std::chrono::milliseconds(args.number("refresh-ms"));
    dogpile::RegionOptions options;
    options.invalidation = std::make_shared<dogpile::redis::RedisInvalidationStrategy>(invalidation);
    dogpile::Region<std::string> region(
        std::make_shared<dogpile::RedisBackend<std::string>>(dogpile::RedisBackendOptions{client, ns}), options);

    const std::string key = "value";
    if (!poll_until([&] { return region.get(key).has_value(); })) {
        std::fprintf(stderr, "invalidation_worker %lld: never read the value fresh\n", index);
        return 1;
    }
    client->command(ns + "ready", {"INCR", ns + "ready"});
    if (index == 0) {
        const auto all_ready = [&] {
            const auto ready = client->command(ns + "ready", {"GET", ns + "ready"}).as_optional_string();
            return ready && std::stoll(*ready) == workers;
        };
        if (!poll_until(all_ready)) {
            std::fprintf(stderr, "invalidation_worker 0: the other workers never got ready\n");
            return 1;
        }
        region.invalidate(kind == "hard" ? dogpile::Invalidation::hard : dogpile::Invalidation::soft);
    }

    std::string observed;
    const bool seen = poll_until([&] {
        if (region.get(key).has_value()) return false;
        dogpile::GetOptions ignore;
        ignore.ignore_expiration = true;
        const auto entry = region.get_value_metadata(key, ignore);
        if (!entry) return false;  // erased: not what this test does
        const auto times = region.invalidation().times();
        if (times.is_hard_invalidated(entry->metadata.created_at)) {
            observed = "miss";
        } else if (times.is_soft_invalidated(entry->metadata.created_at)) {
            observed = "stale";
        } else {
            return false;
        }
        return true;
    });
    if (!seen) {
        std::fprintf(stderr, "invalidation_worker %lld: never saw the invalidation\n", index);
        return 1;
    }
    const std::string report = std::to_string(index) + ":" + observed;
    client->command(ns + "observed", {"RPUSH", ns + "observed", report});
    if (region.stats().backend_errors != 0) {
        std::fprintf(stderr, "invalidation_worker %lld: backend errors\n", index);
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    try {
        args = dogpile::test::parse_worker_args(argc, argv, "usage: invalidation_worker observe --name value...");
        die_with_parent(static_cast<pid_t>(args.number("parent")));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "invalidation_worker: %s\n", e.what());
        return 2;
    }
    try {
        if (args.mode == "observe") return run_observe(args);
        std::fprintf(stderr, "invalidation_worker: unknown mode '%s'\n", args.mode.c_str());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "invalidation_worker %s: %s\n", args.mode.c_str(), e.what());
        return 1;
    }
}
