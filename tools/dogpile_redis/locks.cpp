// locks: the distributed locks of include/dogpile/redis/lock.hpp. A lock is
// the string key <prefix><resource> holding a random token, set with
// SET NX PX <ttl>. The token carries no time, so how long the holder has had
// it is the configured TTL minus what is left (PTTL), counted from the
// acquisition or the holder's last extend().

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <dogpile/backends/redis/details/payload.hpp>
#include <dogpile/redis/lock.hpp>
#include <dogpile/redis/options.hpp>

#include "commands.hpp"
#include "common.hpp"

namespace dogpile_tool {

namespace {

using dogpile::redis::Command;
using dogpile::redis::details::printable;

// The hash store's resource "<hash length>:<hash>|<field>"
// (RedisHashStore::lock_resource) as the entry it locks; other resources as
// they are.
std::string describe_resource(std::string_view resource) {
    const auto colon = resource.find(':');
    long long length = 0;
    if (colon != std::string_view::npos &&
        dogpile::redis::details::parse_decimal(resource.substr(0, colon), 1LL << 40, length)) {
        const auto hash_length = static_cast<std::size_t>(length);
        const std::string_view rest = resource.substr(colon + 1);
        if (rest.size() > hash_length && rest[hash_length] == '|') {
            return "hash '" + printable(rest.substr(0, hash_length)) + "' field '" +
                   printable(rest.substr(hash_length + 1)) + "'";
        }
    }
    return "'" + printable(resource) + "'";
}

std::string holder_age(long long pttl, std::chrono::milliseconds lock_ttl) {
    if (pttl == -1) return "no TTL: not a lock (or stuck; waiters fail with UnreleasableLockError)";
    if (pttl == -2) return "released meanwhile";
    if (pttl > lock_ttl.count()) return "? (TTL left exceeds --lock-ttl)";
    return format_duration(lock_ttl - std::chrono::milliseconds(pttl));
}

struct LockRow {
    std::string key;
    std::string ttl_left;
    std::string held_for;
    std::string resource;
};

void run_locks(const ParsedArgs& args) {
    const dogpile::redis::LockOptions defaults;
    const std::string prefix = args.option_or("prefix", defaults.prefix);
    const auto lock_ttl = std::chrono::milliseconds(
        args.option("lock-ttl") ? parse_millis("lock-ttl", *args.option("lock-ttl")) : defaults.ttl.count());
    if (prefix.empty()) throw UsageError("--prefix must not be empty: every key would look like a lock");
    auto client = connect(args.positionals.at(0));

    std::vector<LockRow> rows;
    const std::string pattern = glob_prefix(prefix);
    std::string cursor = "0";
    do {
        const auto reply = client->command(prefix, {"SCAN", cursor, "MATCH", pattern, "COUNT", "500"});
        cursor = reply.at(0).as_string();
        const std::vector<std::string> keys = reply.at(1).as_strings();
        if (keys.empty()) continue;
        std::vector<Command> ttls;
        for (const auto& key : keys) ttls.push_back(Command{"PTTL", key});
        const auto pttls = client->pipeline(prefix, ttls);
        for (std::size_t i = 0; i < keys.size(); ++i) {
            const long long pttl = pttls.at(i).throw_if_error("PTTL").as_integer();
            rows.push_back(LockRow{
                printable(keys[i]), pttl >= 0 ? format_duration(std::chrono::milliseconds(pttl)) : "-",
                holder_age(pttl, lock_ttl), describe_resource(std::string_view(keys[i]).substr(prefix.size()))});
        }
    } while (cursor != "0");

    std::sort(rows.begin(), rows.end(), [](const LockRow& a, const LockRow& b) { return a.key < b.key; });
    std::cout << rows.size() << " lock(s) under prefix '" << printable(prefix) << "' (held for = lock TTL "
              << format_duration(lock_ttl) << " minus TTL left)\n";
    if (rows.empty()) return;
    std::size_t width = 3;
    for (const auto& row : rows) width = std::max(width, row.key.size());
    std::cout << pad("KEY", width) << "  " << pad("TTL LEFT", 12) << "  " << pad("HELD FOR", 12) << "  RESOURCE\n";
    for (const auto& row : rows) {
        std::cout << pad(row.key, width) << "  " << pad(row.ttl_left, 12) << "  " << pad(row.held_for, 12) << "  "
                  << row.resource << '\n';
    }
}

}  // namespace

Subcommand locks_command() {
    const dogpile::redis::LockOptions defaults;
    Subcommand c;
    c.summary = "locks URL                           list distributed locks, their TTL and holder age";
    c.spec.name = "locks";
    c.spec.positionals = {"URL"};
    c.spec.options = {"prefix", "lock-ttl"};
    c.spec.help = "Usage: dogpile-redis locks URL [--prefix P] [--lock-ttl MS]\n"
                  "\n"
                  "Lists the distributed locks (the keys <P><resource> that a backend with\n"
                  "distributed_lock set takes while one process creates a value) with the TTL\n"
                  "they have left and how long their holder has had them. A lock's value is a\n"
                  "random token without a time, so the holder's age is computed as the lock TTL\n"
                  "minus the TTL left: it counts from the acquisition or the holder's last\n"
                  "extend(). For hash-store locks the resource is shown as the entry it guards.\n"
                  "Reads with SCAN, so a large keyspace is read in bounded steps.\n"
                  "\n"
                  "  --prefix P      LockOptions::prefix of the backend (default '" +
                  defaults.prefix +
                  "')\n"
                  "  --lock-ttl MS   LockOptions::ttl in milliseconds (default " +
                  std::to_string(defaults.ttl.count()) +
                  ")\n"
                  "\n" +
                  url_help +
                  "\nExample:\n"
                  "  dogpile-redis locks redis://cache:6379/0 --lock-ttl 10000\n";
    c.run = run_locks;
    return c;
}

}  // namespace dogpile_tool
