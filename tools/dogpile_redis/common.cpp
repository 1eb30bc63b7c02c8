#include "common.hpp"

#include <cstdio>
#include <ctime>
#include <utility>

#include <dogpile/errors.hpp>
#include <dogpile/redis/options.hpp>

namespace dogpile_tool {

std::shared_ptr<dogpile::redis::Client> connect(const std::string& url) {
    dogpile::redis::PoolOptions pool;
    // One command at a time: a second connection would only cost a handshake.
    pool.size = 1;
    try {
        pool.connection = dogpile::redis::ConnectionOptions::from_url(url);
        return dogpile::redis::make_client(std::move(pool));
    } catch (const dogpile::ConfigurationError& e) {
        throw UsageError(std::string("bad URL: ") + e.what());
    }
}

std::string describe_server(const std::string& url) {
    try {
        return dogpile::redis::ConnectionOptions::from_url(url).describe();
    } catch (const dogpile::ConfigurationError&) {
        return dogpile::redis::details::redact_url(url);
    }
}

std::string format_time(std::chrono::system_clock::time_point when) {
    using namespace std::chrono;
    const auto millis = floor<milliseconds>(when.time_since_epoch()).count();
    auto seconds_part = static_cast<std::time_t>(millis / 1000);
    long long fraction = millis % 1000;
    if (fraction < 0) {
        fraction += 1000;
        --seconds_part;
    }
    std::tm tm{};
    if (::gmtime_r(&seconds_part, &tm) == nullptr) return std::to_string(millis) + " ms since the epoch";
    char text[64];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, fraction);
    return text;
}

std::string format_duration(std::chrono::milliseconds duration) {
    const long long ms = duration.count();
    const char* sign = ms < 0 ? "-" : "";
    const long long a = ms < 0 ? -ms : ms;
    char text[64];
    if (a < 60'000) {
        std::snprintf(text, sizeof text, "%s%lld.%03lld s", sign, a / 1000, a % 1000);
    } else if (a < 3'600'000) {
        std::snprintf(text, sizeof text, "%s%lld min %lld s", sign, a / 60'000, a % 60'000 / 1000);
    } else {
        std::snprintf(text, sizeof text, "%s%lld h %lld min", sign, a / 3'600'000, a % 3'600'000 / 60'000);
    }
    return text;
}

std::string pad(std::string text, std::size_t width) {
    if (text.size() < width) text.resize(width, ' ');
    return text;
}

std::string glob_prefix(std::string_view prefix) {
    std::string pattern;
    for (const char c : prefix) {
        // Redis' glob specials; a lock prefix like "dogpile-lock|" has none,
        // but a user's may.
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern.push_back('\\');
        pattern.push_back(c);
    }
    pattern.push_back('*');
    return pattern;
}

}  // namespace dogpile_tool
