// sizes: what one cached entry of the 25-flag permission dict costs.
//
//   1. Bytes on the wire per payload format (mean over the generated dicts),
//      against JSON.
//   2. Redis memory for ids x fields entries (default 10,000 x 20), as this
//      library stores them (one hash per id_a, `calculated-a|<id_a>` field
//      `<id_b>`, a TTL on each hash) against one plain key per entry with its
//      own TTL: the `used_memory` growth of a fresh redis-server this program
//      starts (or --redis-url URL, which is FLUSHALLed!).
//
//   sizes [--json] [--ids N] [--fields F] [--no-redis | --redis-url URL]

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <dogpile/codec/bitpacked.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/redis.hpp>

#include "support/json.hpp"
#include "support/permissions.hpp"
#include "support/redis.hpp"

namespace {

using dogpile::bench::JsonObject;
using dogpile::codec::Flags;
namespace redis = dogpile::redis;

struct Options {
    bool json = false;
    bool redis = true;
    std::optional<std::string> redis_url;
    std::uint64_t ids = 10000;
    std::uint64_t fields = 20;
};

[[noreturn]] void usage(const std::string& error) {
    std::cerr << "sizes: " << error << "\n"
              << "usage: sizes [--json] [--ids N] [--fields F] [--no-redis | --redis-url URL]\n"
              << "  --redis-url URL  measure on this server instead of a throwaway one (it is FLUSHALLed!)\n";
    std::exit(2);
}

std::uint64_t parse_count(const char* text, const char* option) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0' || value == 0) usage(std::string(option) + " needs a positive number");
    return value;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage(std::string(arg) + " needs a value");
            return argv[++i];
        };
        if (arg == "--json") {
            o.json = true;
        } else if (arg == "--no-redis") {
            o.redis = false;
        } else if (arg == "--redis-url") {
            o.redis_url = value();
        } else if (arg == "--ids") {
            o.ids = parse_count(value(), "--ids");
        } else if (arg == "--fields") {
            o.fields = parse_count(value(), "--fields");
        } else {
            usage("unknown argument '" + std::string(arg) + "'");
        }
    }
    return o;
}

// The workload's ids: id_b values look like database ids and differ within one id_a.
std::uint64_t id_b_of(std::uint64_t id_a, std::uint64_t j) { return (id_a * 7919 + j * 104729) % 1000000; }

template <class Fn>
void for_each_pair(const Options& o, Fn fn) {
    for (std::uint64_t a = 1; a <= o.ids; ++a) {
        for (std::uint64_t j = 0; j < o.fields; ++j) {
            const std::uint64_t b = id_b_of(a, j);
            fn(a, b, dogpile::bench::make_flags(dogpile::bench::pair_seed(a, b)));
        }
    }
}

struct Format {
    std::string name;
    std::function<std::string(const Flags&)> encode;
    double mean_bytes = 0;
};

std::vector<Format> payload_formats() {
    const auto tmpl = dogpile::bench::permission_template();
    auto values = std::make_shared<dogpile::codec::FlagsCodec>(tmpl);
    auto bits = std::make_shared<dogpile::codec::BitpackedCodec>(tmpl);
    auto map = std::make_shared<dogpile::codec::MsgpackCodec<Flags>>();
    return {
        {"JSON", [](const Flags& f) { return dogpile::bench::to_json(f); }},
        {"msgpack map", [map](const Flags& f) { return map->encode(f); }},
        {"values-only", [values](const Flags& f) { return values->encode(f); }},
        {"bit-packed", [bits](const Flags& f) { return bits->encode(f); }},
    };
}

// --- Redis memory ---------------------------------------------------------

constexpr int ttl_seconds = 3600;
constexpr std::size_t pipeline_depth = 1000;

// One "name:value" line of INFO <section>.
std::string info_field(redis::Connection& c, const char* section, const std::string& name) {
    const std::string info = c.command({"INFO", section}).as_string();
    const auto at = info.find(name + ":");
    if (at == std::string::npos) throw std::runtime_error("INFO " + std::string(section) + " has no " + name);
    const auto begin = at + name.size() + 1;
    return info.substr(begin, info.find_first_of("\r\n", begin) - begin);
}

long long used_memory(redis::Connection& c) { return std::stoll(info_field(c, "memory", "used_memory")); }

std::string redis_version(redis::Connection& c) { return "(redis " + info_field(c, "server", "redis_version") + ")"; }

// Sends commands in pipelines of pipeline_depth; an error reply aborts.
// flush() sends the rest.
class Writer {
public:
    explicit Writer(redis::Connection& c) : connection_(c) {}

    void add(redis::Command cmd) {
        queue_.push_back(std::move(cmd));
        if (queue_.size() == pipeline_depth) flush();
    }

    void flush() {
        if (queue_.empty()) return;
        for (const auto& reply : connection_.pipeline(queue_)) reply.throw_if_error("sizes: write");
        queue_.clear();
    }

private:
    redis::Connection& connection_;
    std::vector<redis::Command> queue_;
};

enum class Layout { hash_per_id_a, plain_keys };

struct Measurement {
    std::string name;
    Layout layout;
    const Format* payload;
    bool baseline;
    long long bytes = 0;
};

// used_memory growth for storing every pair in `layout` with `payload`.
long long measure(redis::Connection& c, const Options& o, Layout layout, const Format& payload) {
    c.command({"FLUSHALL", "SYNC"});
    const long long before = used_memory(c);
    Writer writer(c);
    {
        std::uint64_t current_a = 0;
        redis::Command hset;
        auto finish_hash = [&] {
            if (current_a == 0) return;
            const std::string key = "calculated-a|" + std::to_string(current_a);
            writer.add(std::move(hset));
            writer.add(redis::Command{"EXPIRE", key}.arg(ttl_seconds));
        };
        for_each_pair(o, [&](std::uint64_t a, std::uint64_t b, const Flags& flags) {
            const std::string bytes = payload.encode(flags);
            if (layout == Layout::plain_keys) {
                const std::string key = "calculated|" + std::to_string(a) + "|" + std::to_string(b);
                writer.add(redis::Command{"SET", key, bytes, "EX"}.arg(ttl_seconds));
                return;
            }
            if (a != current_a) {
                finish_hash();
                current_a = a;
                hset = redis::Command{"HSET", "calculated-a|" + std::to_string(a)};
            }
            hset.arg(std::to_string(b)).arg(bytes);
        });
        finish_hash();
    }
    writer.flush();
    const long long dbsize = c.command({"DBSIZE"}).as_integer();
    const long long expected = static_cast<long long>(layout == Layout::plain_keys ? o.ids * o.fields : o.ids);
    if (dbsize != expected) {
        throw std::runtime_error("sizes: expected " + std::to_string(expected) + " keys, found " +
                                 std::to_string(dbsize));
    }
    const long long grown = used_memory(c) - before;
    c.command({"FLUSHALL", "SYNC"});
    return grown;
}

std::string fixed(double value, int decimals) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(decimals) << value;
    return out.str();
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    const std::uint64_t entries = o.ids * o.fields;

    std::vector<Format> formats = payload_formats();
    for (auto& format : formats) {
        std::uint64_t total = 0;
        for_each_pair(o,
                      [&](std::uint64_t, std::uint64_t, const Flags& flags) { total += format.encode(flags).size(); });
        format.mean_bytes = static_cast<double>(total) / static_cast<double>(entries);
    }
    const Format& json = formats[0];
    const Format& values_only = formats[2];
    const Format& bitpacked = formats[3];

    std::vector<Measurement> memory{
        {"plain key per entry, values-only", Layout::plain_keys, &values_only, true},
        {"plain key per entry, JSON", Layout::plain_keys, &json, false},
        {"hash per id_a, values-only", Layout::hash_per_id_a, &values_only, false},
        {"hash per id_a, bit-packed", Layout::hash_per_id_a, &bitpacked, false},
    };
    std::string redis_status = "skipped (--no-redis)";
    std::unique_ptr<dogpile::bench::RedisServer> server;
    if (o.redis) {
        std::optional<redis::ConnectionOptions> where;
        if (o.redis_url) {
            where = redis::ConnectionOptions::from_url(*o.redis_url);
            redis_status = "measured on " + where->describe();
        } else if ((server = dogpile::bench::start_redis(redis_status))) {
            where = server->unix_options();
            redis_status = "measured on a fresh redis-server";
        } else {
            redis_status = "SKIPPED: " + redis_status;
        }
        if (where) {
            where->command_timeout = std::chrono::seconds(30);
            redis::Connection c(*where);
            redis_status += " " + redis_version(c);
            for (auto& m : memory) m.bytes = measure(c, o, m.layout, *m.payload);
        }
    }
    const bool measured = memory.front().bytes > 0;
    const double baseline_bytes = static_cast<double>(memory.front().bytes);

    if (o.json) {
        JsonObject payloads;
        for (const auto& f : formats) payloads.add(f.name, f.mean_bytes);
        JsonObject out;
        out.add("flags", static_cast<int>(dogpile::bench::permission_names.size()))
            .add("entries", entries)
            .add("ids", o.ids)
            .add("fields", o.fields)
            .add("payload_bytes", payloads)
            .add("redis", redis_status);
        if (measured) {
            JsonObject per_entry;
            for (const auto& m : memory)
                per_entry.add(m.name, static_cast<double>(m.bytes) / static_cast<double>(entries));
            out.add("redis_bytes_per_entry", per_entry).add("redis_baseline", memory.front().name);
        }
        std::cout << out.str() << "\n";
        return 0;
    }

    std::cout << "Payload of the " << dogpile::bench::permission_names.size() << "-flag permission dict (mean over "
              << entries << " generated dicts)\n\n";
    std::cout << std::left << std::setw(16) << "format" << std::right << std::setw(10) << "bytes" << std::setw(12)
              << "vs JSON"
              << "\n";
    for (const auto& f : formats) {
        std::cout << std::left << std::setw(16) << f.name << std::right << std::setw(10) << fixed(f.mean_bytes, 1)
                  << std::setw(11) << fixed(f.mean_bytes / json.mean_bytes, 3) << "x\n";
    }
    std::cout << "\nRedis memory for " << o.ids << " ids x " << o.fields << " fields = " << entries
              << " entries, TTL on every key (" << redis_status << ")\n\n";
    if (!measured) return 0;
    std::cout << std::left << std::setw(36) << "layout" << std::right << std::setw(14) << "used_memory" << std::setw(14)
              << "bytes/entry" << std::setw(16) << "vs plain keys"
              << "\n";
    for (const auto& m : memory) {
        const double per_entry = static_cast<double>(m.bytes) / static_cast<double>(entries);
        std::cout << std::left << std::setw(36) << m.name << std::right << std::setw(14) << m.bytes << std::setw(14)
                  << fixed(per_entry, 1) << std::setw(15) << fixed(static_cast<double>(m.bytes) / baseline_bytes, 3)
                  << "x" << (m.baseline ? "  (baseline)" : "") << "\n";
    }
    return 0;
}
