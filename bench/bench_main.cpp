// dogpile_bench: Google Benchmark's main, plus a throwaway redis-server for the
// Redis benchmarks. Without redis-server those are skipped (said on stderr and
// in the JSON context as "redis"), and everything else still runs.

#include <benchmark/benchmark.h>

#include <iostream>
#include <memory>
#include <string>

#include "bench_redis.hpp"
#include "support/redis.hpp"

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

    std::string why;
    std::unique_ptr<dogpile::bench::RedisServer> server = dogpile::bench::start_redis(why);
    if (server) {
        dogpile::bench::register_redis_benchmarks(*server);
        benchmark::AddCustomContext("redis", "redis-server on " + server->url() + " and " + server->unix_url());
    } else {
        std::cerr << "*** Redis benchmarks SKIPPED: " << why << "\n";
        benchmark::AddCustomContext("redis", "skipped: " + why);
    }

    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;  // the server (if any) is stopped by its destructor
}
