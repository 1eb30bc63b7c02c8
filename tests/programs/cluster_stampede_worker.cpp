// A worker process for the distributed stampede test on a Redis Cluster
// (test_redis_cluster_failover). Its threads share one Region over the hash
// store (RedisHashBackend with a distributed RedisLock) and a ClusterClient;
// the data hash, the lock key and the bookkeeping keys live in different
// slots, so on different masters.
//
//   cluster_stampede_worker --url U --ns NS --threads T --callers N --parent PID
//     T threads each INCR <NS>arrived, then get_or_create(HashKey{<NS>hash, "field"}).
//     The creator INCRs <NS>creations and waits (bounded) until all N callers
//     of all workers have arrived, so that they really contend while it runs.
//     Every caller RPUSHes the value it got to <NS>results.
//   U is a cluster URL: redis://[:password@]host:port,host:port,...
//
// Exit status: 0 success, 1 a caller failed, 2 bad arguments.

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/details/random.hpp>
#include <dogpile/redis/cluster.hpp>
#include <dogpile/region.hpp>

#include "stampede_callers.hpp"

namespace {

using namespace std::chrono_literals;

std::map<std::string, std::string> parse(int argc, char** argv) {
    std::map<std::string, std::string> named;
    for (int i = 1; i < argc; i += 2) {
        const std::string name = argv[i];
        if (name.rfind("--", 0) != 0 || i + 1 >= argc) throw std::invalid_argument("bad argument " + name);
        named[name.substr(2)] = argv[i + 1];
    }
    for (const char* required : {"url", "ns", "threads", "callers", "parent"}) {
        if (named.count(required) == 0) throw std::invalid_argument(std::string("missing --") + required);
    }
    return named;
}

int run(const std::map<std::string, std::string>& args) {
    const std::string ns = args.at("ns");
    const auto threads = static_cast<std::size_t>(std::stoul(args.at("threads")));
    const long long callers = std::stoll(args.at("callers"));

    auto options = dogpile::redis::ClusterOptions::from_url(args.at("url"));
    options.pool.size = threads;
    options.pool.acquire_timeout = 10s;
    auto client = std::make_shared<dogpile::redis::ClusterClient>(options);

    dogpile::RedisHashBackendOptions backend_options{client, std::chrono::hours(1)};
    dogpile::redis::LockOptions lock;
    lock.prefix = ns + "lock|";
    lock.ttl = 30s;
    backend_options.distributed_lock = lock;
    dogpile::RegionOptions region_options;
    region_options.lock_timeout = 30s;
    // A worker must fail loudly, not degrade into a second creation.
    region_options.on_backend_error = dogpile::BackendErrorPolicy::raise;
    dogpile::Region<std::string, dogpile::HashKey> region(
        std::make_shared<dogpile::RedisHashBackend<std::string>>(backend_options), region_options);

    const dogpile::HashKey key{ns + "hash", "field"};
    return dogpile::test::run_stampede_callers("cluster_stampede_worker", *client, region, key, ns, threads, callers);
}

}  // namespace

int main(int argc, char** argv) {
    std::map<std::string, std::string> args;
    try {
        args = parse(argc, argv);
        // Dies with the test binary, so a crashed test leaves no workers behind.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != static_cast<pid_t>(std::stol(args.at("parent")))) return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cluster_stampede_worker: %s\n", e.what());
        return 2;
    }
    try {
        return run(args);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cluster_stampede_worker: %s\n", e.what());
        return 1;
    }
}
