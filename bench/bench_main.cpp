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
    std::unique_ptr<dogpile::bench::RedisServer> tls_server;
    if (server) {
#if DOGPILE_HAS_TLS
        std::string tls_why;
        tls_server = dogpile::bench::start_tls_redis(tls_why);
        benchmark::AddCustomContext("redis_tls",
                                    tls_server ? "redis-server on " + tls_server->url() : "skipped: " + tls_why);
        if (!tls_server) std::cerr << "*** Redis TLS benchmark SKIPPED: " << tls_why << "\n";
#else
        benchmark::AddCustomContext("redis_tls", "skipped: built without TLS support (OpenSSL)");
#endif
        dogpile::bench::register_redis_benchmarks(*server, tls_server.get());
        benchmark::AddCustomContext("redis", "redis-server on " + server->url() + " and " + server->unix_url());
    } else {
        std::cerr << "*** Redis benchmarks SKIPPED: " << why << "\n";
        benchmark::AddCustomContext("redis", "skipped: " + why);
    }

    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;  // the server (if any) is stopped by its destructor
}
