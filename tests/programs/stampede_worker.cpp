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
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
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

namespace {

using namespace std::chrono_literals;

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
    if (argc < 2) throw std::invalid_argument("usage: stampede_worker stampede|hold --name value...");
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
        args = parse(argc, argv);
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
