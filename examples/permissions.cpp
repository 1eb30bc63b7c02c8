// The demo: the A-to-B permission workload of docs/architecture.md.
//
// The effective permissions of user `a` on object `b` are 25 boolean flags that
// take a while to compute. They are cached per (a, b) pair: first in process
// (MemoryBackend), then in Redis with one hash per user ("calculated-a|<a>"),
// one field per object, values-only msgpack payloads and a TTL on the hash.
// A value is a codec::FlagSet: the 25 flags as bits plus a pointer to the
// shared name list, so a cache hit copies two words instead of a std::map.
//
//   permissions                      in-process part only
//   permissions --redis URL          both parts (scripts/demo.sh starts a throwaway Redis)

#include <dogpile/codec/bitpacked.hpp>
#include <dogpile/codec/flag_set.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/dogpile.hpp>
#include <dogpile/redis.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace {

using dogpile::codec::FlagSet;
using dogpile::codec::FlagTemplate;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kPermissionNames = {
    "can_archive", "can_approve",  "can_assign",  "can_comment", "can_create",  "can_delete", "can_download",
    "can_edit",    "can_export",   "can_import",  "can_invite",  "can_lock",    "can_merge",  "can_move",
    "can_pin",     "can_print",    "can_publish", "can_rename",  "can_restore", "can_review", "can_share",
    "can_tag",     "can_transfer", "can_unlock",  "can_view"};

const auto kComputeTime = std::chrono::milliseconds(200);

// Made once: every FlagSet of the demo points at it.
const FlagTemplate& permission_names() {
    static const FlagTemplate& names = FlagTemplate::of(kPermissionNames);
    return names;
}

// The expensive part: in real life a walk over groups, roles and ACLs.
FlagSet compute_permissions(int user, int object, std::atomic<int>& calls) {
    ++calls;
    std::this_thread::sleep_for(kComputeTime);
    FlagSet flags(permission_names());
    for (std::size_t i = 0; i < kPermissionNames.size(); ++i) {
        flags.set(kPermissionNames[i], (static_cast<std::size_t>(user + object) + i) % 3 != 0);
    }
    return flags;
}

std::string hex(const std::string& bytes, std::size_t max = 12) {
    std::string out;
    char buf[4];
    for (std::size_t i = 0; i < bytes.size() && i < max; ++i) {
        std::snprintf(buf, sizeof buf, "%02x ", static_cast<unsigned char>(bytes[i]));
        out += buf;
    }
    if (bytes.size() > max) out += "...";
    return out;
}

std::string to_json(const FlagSet& flags) {
    std::string out = "{";
    for (const auto [name, value] : flags) {
        if (out.size() > 1) out += ", ";
        out += "\"" + std::string(name) + "\": " + (value ? "true" : "false");
    }
    return out + "}";
}

// 32 threads ask for the same pair at the same moment; returns the wall time.
template <class Region, class Key>
long long stampede(Region& region, const Key& key, int user, int object, std::atomic<int>& calls) {
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < 32; ++i) {
        threads.emplace_back(
            [&] { region.get_or_create(key, [&] { return compute_permissions(user, object, calls); }); });
    }
    for (auto& t : threads) t.join();
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

void in_process_part() {
    std::cout << "1. In process (MemoryBackend)\n";
    dogpile::Region<FlagSet> region(std::make_shared<dogpile::MemoryBackend<FlagSet>>());
    std::atomic<int> calls{0};
    const long long wall = stampede(region, std::string("perm:7:42"), 7, 42, calls);
    std::cout << "   32 threads asked at once for the permissions of user 7 on object 42.\n"
              << "   Computing them takes " << kComputeTime.count() << " ms; the function ran " << calls
              << " time(s) and everyone had the answer after " << wall << " ms\n"
              << "   (without the dogpile lock: 32 computations).\n";

    const FlagSet flags = *region.get("perm:7:42");
    std::cout << "   can_edit: " << std::boolalpha << flags["can_edit"] << ", can_transfer: " << flags["can_transfer"]
              << " (" << flags.count() << " of " << flags.size() << " flags set; a copy is " << sizeof(FlagSet)
              << " bytes, no allocation).\n";
    const auto values_only = dogpile::codec::FlagSetCodec(permission_names()).encode(flags);
    const auto bitpacked = dogpile::codec::BitpackedFlagSetCodec(permission_names()).encode(flags);
    const auto msgpack_map = dogpile::codec::MsgpackCodec<dogpile::codec::Flags>().encode(flags.to_flags());
    std::cout << "   One entry (25 flags) on the wire: values-only " << values_only.size() << " bytes, bit-packed "
              << bitpacked.size() << " bytes, msgpack map " << msgpack_map.size() << " bytes, JSON "
              << to_json(flags).size() << " bytes.\n\n";
}

int redis_part(const std::string& url) {
    using namespace std::chrono_literals;
    std::cout << "2. Redis hash store (" << url << ")\n";
    auto client = dogpile::redis::make_client(url);
    dogpile::RedisHashBackendOptions options;
    options.client = client;
    options.ttl = 1h;                                          // on the hash: writing more fields never prolongs it
    options.distributed_lock = dogpile::redis::LockOptions{};  // processes sharing this Redis compute once too
    auto backend = std::make_shared<dogpile::RedisHashBackend<FlagSet, dogpile::codec::FlagSetCodec>>(
        options, dogpile::codec::FlagSetCodec(permission_names()));
    dogpile::Region<FlagSet, dogpile::HashKey> region(backend);
    const dogpile::HashKeyScheme calculated("calculated-a|");
    auto raw = [&](std::initializer_list<std::string_view> argv) { return client->command("", argv); };
    raw({"DEL", calculated.hash_of(7), calculated.hash_of(8)});

    std::atomic<int> calls{0};
    const long long wall = stampede(region, calculated.key(7, 42), 7, 42, calls);
    std::cout << "   32 threads asked at once for user 7 / object 42: computed " << calls << " time(s), " << wall
              << " ms for everyone.\n";

    const std::string payload = raw({"HGET", calculated.hash_of(7), "42"}).as_string();
    std::cout << "   Redis now holds HSET " << calculated.hash_of(7) << " 42 <" << payload.size()
              << " bytes: " << hex(payload) << ">\n"
              << "   (a msgpack array of the 25 values in sorted-key order; a Python service reads it\n"
              << "    with msgpack.unpackb and the same key list).\n";

    const long long ttl_before = raw({"PTTL", calculated.hash_of(7)}).as_integer();
    std::this_thread::sleep_for(50ms);  // let the clock move, so a prolonged TTL would show
    region.get_or_create(calculated.key(7, 43), [&] { return compute_permissions(7, 43, calls); });
    const long long ttl_after = raw({"PTTL", calculated.hash_of(7)}).as_integer();
    std::cout << "   TTL of " << calculated.hash_of(7) << ": " << ttl_before
              << " ms; after adding object 43: " << ttl_after << " ms -> "
              << (ttl_after <= ttl_before ? "not prolonged" : "PROLONGED (bug!)")
              << ", so no entry outlives its hour.\n";

    for (int object : {44, 45, 46}) {
        region.get_or_create(calculated.key(7, object), [&] { return compute_permissions(7, object, calls); });
    }
    region.get_or_create(calculated.key(8, 42), [&] { return compute_permissions(8, 42, calls); });
    std::cout << "   User 7 has " << raw({"HLEN", calculated.hash_of(7)}).as_integer() << " cached objects, user 8 has "
              << raw({"HLEN", calculated.hash_of(8)}).as_integer() << ".\n";

    backend->erase_hash(calculated.hash_of(7));  // log user 7 out
    std::cout << "   User 7 logs out: one DEL. EXISTS " << calculated.hash_of(7) << " = "
              << raw({"EXISTS", calculated.hash_of(7)}).as_integer() << ", user 8 still has "
              << raw({"HLEN", calculated.hash_of(8)}).as_integer() << " entry.\n";

    const auto stats = region.stats();
    std::cout << "   Region stats: " << stats.hits << " hits, " << stats.misses << " misses, " << stats.creations
              << " creations, " << stats.lock_waits << " lock waits, " << stats.backend_errors << " backend errors.\n";
    const bool ok = ttl_after <= ttl_before && raw({"EXISTS", calculated.hash_of(7)}).as_integer() == 0;
    raw({"DEL", calculated.hash_of(8)});
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string redis_url;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--redis" && i + 1 < argc) {
            redis_url = argv[++i];
        } else {
            std::cerr << "usage: " << argv[0] << " [--redis redis://host:port]\n";
            return 2;
        }
    }
    std::cout << "dogpile-cpp demo: caching the permissions of user a on object b\n\n";
    in_process_part();
    if (redis_url.empty()) {
        std::cout << "(pass --redis URL, or run scripts/demo.sh, for the Redis part)\n";
        return 0;
    }
    try {
        return redis_part(redis_url);
    } catch (const dogpile::Error& e) {
        std::cerr << "Redis part failed: " << e.what() << "\n";
        return 1;
    }
}
