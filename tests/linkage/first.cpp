// With second.cpp: one program of two TUs that both include every Redis
// header. Header-only, a definition missing DOGPILE_INLINE is defined twice
// and the link fails; with DOGPILE_COMPILED_LIB, one missing from the library
// is not defined at all. Runs without a server.
#include <dogpile/redis.hpp>
#include <dogpile/redis/details/tls_stream.hpp>

#include <cstdio>
#include <string>

std::string describe_in_second_tu(const std::string& url);
void* tls_stream_factory_in_second_tu();

int main() {
    const std::string here = dogpile::redis::ConnectionOptions::from_url("redis://127.0.0.1:6390/2").describe();
    const std::string there = describe_in_second_tu("redis://127.0.0.1:6390/2");
    if (here != there || here != "redis://127.0.0.1:6390/2") {
        std::fprintf(stderr, "describe() disagrees: '%s' vs '%s'\n", here.c_str(), there.c_str());
        return 1;
    }
    if (tls_stream_factory_in_second_tu() != reinterpret_cast<void*>(&dogpile::redis::details::make_tls_stream)) {
        std::fprintf(stderr, "make_tls_stream has two addresses: defined twice\n");
        return 1;
    }
    std::printf("%s\n", here.c_str());
    return 0;
}
