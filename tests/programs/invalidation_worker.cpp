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
#include <sys/prctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

namespace {

using namespace std::chrono_literals;

// Generous: a deadline turns a lost invalidation into a failure, not a hang.
constexpr auto kDeadline = 60s;

struct Args {
    std::string mode;
    std::map<std::string, std::string> named;

    const std::string& get(const std::string& name) const {
        auto it = named.find(name);
        if (it == named.end()) throw std::invalid_argument("missing --" + name);
        return it->second;
    }
    long long number(const std::string& name) const {
        const std::string& s = get(name);
        std::size_t used = 0;
        const long long v = std::stoll(s, &used);
        if (used != s.size() || v < 0) throw std::invalid_argument("--" + name + " must be a non-negative number");
        return v;
    }
};

Args parse(int argc, char** argv) {
    if (argc < 2) throw std::invalid_argument("usage: invalidation_worker observe --name value...");
    Args a;
    a.mode = argv[1];
    for (int i = 2; i < argc; i += 2) {
        const std::string name = argv[i];
        if (name.rfind("--", 0) != 0 || i + 1 >= argc) throw std::invalid_argument("bad argument " + name);
        a.named[name.substr(2)] = argv[i + 1];
    }
    return a;
}

// Dies with the test binary, so a crashed test leaves no workers behind.
void die_with_parent(pid_t parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) std::_Exit(1);
}

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
        args = parse(argc, argv);
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
