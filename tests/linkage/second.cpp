// The second TU of the linkage check (first.cpp says what it proves).
#include <dogpile/redis.hpp>
#include <dogpile/redis/details/tls_stream.hpp>

#include <string>

std::string describe_in_second_tu(const std::string& url) {
    return dogpile::redis::ConnectionOptions::from_url(url).describe();
}

// Taken in both TUs, so each emits (header-only) or needs (compiled) the TLS stream.
void* tls_stream_factory_in_second_tu() { return reinterpret_cast<void*>(&dogpile::redis::details::make_tls_stream); }
