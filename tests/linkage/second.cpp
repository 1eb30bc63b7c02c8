// The second TU of the linkage check (first.cpp says what it proves).
#include <dogpile/redis.hpp>

#include <string>

std::string describe_in_second_tu(const std::string& url) {
    return dogpile::redis::ConnectionOptions::from_url(url).describe();
}
