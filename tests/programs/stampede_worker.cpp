// A worker process for the multi-process RedisLock tests (test_redis_lock).
// It runs Regions whose backend supplies RedisLocks against the test's
// redis-server and reports through Redis; the exit status says whether every
// caller succeeded.
//
//   stampede_worker stampede --url U --ns NS --threads T --callers N --lock-ttl-ms MS --parent PID
//     T threads each INCR <NS>arrived, then get_or_create(<NS>value). The
//     creator INCRs <NS>creations and waits (bounded) until all N callers of
//     all workers have arrived, so that they really contend while it runs.
//     Every caller RPUSHes the value it got to <NS>results.
//   stampede_worker hold --url U --ns NS --lock-ttl-ms MS --parent PID
//     One get_or_create(<NS>value) whose creator INCRs <NS>entered and then
//     blocks forever, holding the distributed lock until the test kills it.
//
// Exit status: 0 success, 1 a caller failed, 2 bad arguments.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/details/random.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "lock_test_backend.hpp"
#include "stampede_callers.hpp"
#include "worker_args.hpp"

namespace {

using namespace std::chrono_literals;

using dogpile::test::die_with_parent;
using Args = dogpile::test::WorkerArgs;

using Region = dogpile::Region<std::string>;

Region make_region(const std::shared_ptr<dogpile::redis::Client>& client, const std::string& ns,
                   std::chrono::milliseconds lock_ttl) {
    dogpile::redis::LockOptions lock_options;
    lock_options.prefix = ns + "lock|";
    lock_options.ttl = lock_ttl;
    dogpile::RegionOptions options;
    // Bounded, but longer than any legitimate wait in these tests.
    options.lock_timeout = 30s;
    // A worker must fail loudly, not degrade into a second creation.
    options.on_backend_error = dogpile::BackendErrorPolicy::raise;
    return Region(std::make_shared<dogpile::test::LockTestBackend>(client, lock_options), options);
}

std::shared_ptr<dogpile::redis::Client> make_client(const std::string& url, std::size_t pool_size) {
    dogpile::redis::PoolOptions pool;
    pool.size = pool_size;
    pool.acquire_timeout = 10s;
    return dogpile::redis::make_client(url, pool);
}

int run_stampede(const Args& args) {
    const std::string ns = args.get("ns");
    const auto threads = static_cast<std::size_t>(args.number("threads"));
    const long long callers = args.number("callers");
    const auto lock_ttl = std::chrono::milliseconds(args.number("lock-ttl-ms"));
    if (threads == 0) throw std::invalid_argument("--threads must be positive");

    auto client = make_client(args.get("url"), threads);
    Region region = make_region(client, ns, lock_ttl);
    const std::string key = ns + "value";
    return dogpile::test::run_stampede_callers("stampede_worker", *client, region, key, ns, threads, callers);
}

int run_hold(const Args& args) {
    const std::string ns = args.get("ns");
    auto client = make_client(args.get("url"), 2);
    Region region = make_region(client, ns, std::chrono::milliseconds(args.number("lock-ttl-ms")));
    const std::string entered = ns + "entered";
    region.get_or_create(ns + "value", [&]() -> std::string {
        client->command(entered, {"INCR", entered});
        for (;;) ::pause();  // holds the lock until SIGKILL
    });
    std::fprintf(stderr, "stampede_worker hold: the creator returned\n");
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    try {
        args = dogpile::test::parse_worker_args(argc, argv, "usage: stampede_worker stampede|hold --name value...");
        die_with_parent(static_cast<pid_t>(args.number("parent")));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "stampede_worker: %s\n", e.what());
        return 2;
    }
    try {
        if (args.mode == "stampede") return run_stampede(args);
        if (args.mode == "hold") return run_hold(args);
        std::fprintf(stderr, "stampede_worker: unknown mode '%s'\n", args.mode.c_str());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "stampede_worker %s: %s\n", args.mode.c_str(), e.what());
        return 1;
    }
}
