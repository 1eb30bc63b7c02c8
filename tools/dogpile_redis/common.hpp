#pragma once
// What every subcommand of dogpile-redis shares: the two kinds of failure
// (and their exit codes), the connection, and how bytes and times are shown.

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <dogpile/redis/client.hpp>

namespace dogpile_tool {

// Exit codes: scripts tell "could not ask" (2) from "asked, and the cache
// does not hold what was expected" (1).
inline constexpr int exit_not_found = 1;
inline constexpr int exit_usage = 2;

// The cache answered, but not with what was asked for: a missing key, a
// payload that does not match the template. Exit code 1.
class DataError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The question could not be asked: bad arguments, a bad URL, an unreadable
// template file, an unreachable server. Exit code 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// How a URL is written, for every command's --help.
inline constexpr const char* url_help =
    "URL is how the library is configured (redis/options.hpp):\n"
    "  redis://[[user]:password@]host[:port][/db]   e.g. redis://cache.internal:6379/0\n"
    "  rediss://...[?ca_file=/path/ca.pem]            TLS\n"
    "  unix:///path/to/redis.sock[?db=N]\n"
    "Timeouts: ?connect_timeout=MS&command_timeout=MS (default 1000 each).\n";

// A client of one connection for `url`, parsed by the library
// (redis/options.hpp). A URL it refuses becomes a UsageError.
std::shared_ptr<dogpile::redis::Client> connect(const std::string& url);

// The server `url` names, for messages, never with its password.
std::string describe_server(const std::string& url);

// "2026-12-01T18:40:00.123Z".
std::string format_time(std::chrono::system_clock::time_point when);

// "1.25 s", "3 min 20 s", "2 h 5 min"; for TTLs and ages.
std::string format_duration(std::chrono::milliseconds duration);

// `text` padded with spaces to `width` characters, for table columns.
std::string pad(std::string text, std::size_t width);

// A glob pattern matching keys that start with `prefix` (SCAN MATCH).
std::string glob_prefix(std::string_view prefix);

}  // namespace dogpile_tool
