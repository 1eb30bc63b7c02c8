// RedisHashBackend against a real redis-server: the docs/architecture.md layout byte for
// byte, the TTL policies, NOSCRIPT and restart recovery, round trips, binary
// safety, corrupt payloads, limits, the Region on top, the distributed lock
// hook, and interop with a Python service (tests/interop/hash_store_interop.py).
//
// The layout, TTL, script, round-trip and erase suites are parameterised over
// the server kind: each runs against one redis-server and against a
// 3-master, 3-replica Redis Cluster (through ClusterClient), unchanged but for
// the number of round trips, which is one per node holding the keys.

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/backends/redis/symmetric.hpp>
#include <dogpile/codec/bitpacked.hpp>
#include <dogpile/codec/envelope.hpp>
#include <dogpile/codec/flag_set.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/redis/cluster.hpp>
#include <dogpile/region.hpp>

#include "support/latch.hpp"
#include "support/manual_clock.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"
#include "support/message_of.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::test::wait_for_condition;
using dogpile::BackendErrorEvent;
using dogpile::ConfigurationError;
using dogpile::DecodeError;
using dogpile::ExpiryOwner;
using dogpile::HashKey;
using dogpile::HashKeyScheme;
using dogpile::LimitExceeded;
using dogpile::Region;
using dogpile::RegionOptions;
using dogpile::RedisHashBackend;
using dogpile::RedisHashBackendOptions;
using dogpile::codec::Dict;
using dogpile::codec::Flags;
using dogpile::codec::FlagsCodec;
using dogpile::codec::KeyTemplate;
using dogpile::codec::List;
using dogpile::codec::MsgpackCodec;
using dogpile::codec::ValuesCodec;
using dogpile::redis::PayloadMode;
using dogpile::redis::TtlPolicy;
using dogpile::test::Latch;
using dogpile::test::ManualClock;
using dogpile::test::RawReply;
using dogpile::test::RedisServer;

using FlagsBackend = RedisHashBackend<Flags, FlagsCodec>;
using StringBackend = RedisHashBackend<std::string>;
using FlagsRegion = Region<Flags, HashKey>;

// --- helpers -------------------------------------------------------------------

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int v : values) out.push_back(static_cast<char>(v));
    return out;
}

std::string hex(std::string_view data) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (char c : data) {
        const auto b = static_cast<unsigned char>(c);
        if (!out.empty()) out += ' ';
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::uniform_int_distribution<int> byte(0, 255);
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(byte(gen));
    return out;
}

// Sorted: a, bb, ccc, ... alternately true and false; values-only bytes below.
Flags golden_flags() {
    return {{"a", true},     {"bb", false},     {"ccc", true},     {"dddd", false},
            {"eeeee", true}, {"ffffff", false}, {"ggggggg", true}, {"hhhhhhhh", false}};
}
const std::string golden_bytes = bytes({0x98, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2});

Flags other_flags() {
    Flags f = golden_flags();
    for (auto& [k, v] : f) v = !v;
    return f;
}

FlagsCodec flags_codec() { return FlagsCodec{KeyTemplate::of(golden_flags())}; }

// Keys unique to the running test, so tests sharing one server never collide.
std::string test_prefix() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->test_suite_name()) + "." + info->name() + ":";
}

RedisServer& server() { return RedisServer::shared(); }

std::shared_ptr<dogpile::redis::Client> client_for(const RedisServer& s) {
    return dogpile::redis::make_client(s.url());
}

// The ctest entries tls.* run this binary with DOGPILE_TEST_REDIS_TLS=1: the
// shared server's TCP port then speaks TLS only and its url() and options()
// carry the TLS settings, so every test on server() goes through TLS. Proof
// that it really does: a client speaking the other protocol is refused.
TEST(HashBackendTransport, SharedServerSpeaksTlsExactlyWhenAsked) {
    const bool tls = RedisServer::shared_is_tls();
    dogpile::redis::ConnectionOptions options = server().options();
    ASSERT_EQ(options.tls.has_value(), tls);
    EXPECT_EQ(server().url().rfind(tls ? "rediss://" : "redis://", 0), 0u) << server().url();
    EXPECT_EQ(dogpile::redis::Connection(options).command({"PING"}).status(), "PONG");

    dogpile::redis::ConnectionOptions other = options;
    if (tls) {
        other.tls.reset();
    } else {
        other.tls.emplace();
        other.tls->verification = dogpile::redis::TlsVerification::insecure_skip_verification;
    }
    other.connect_timeout = 2s;
    other.command_timeout = 2s;
    dogpile::test::message_of<dogpile::redis::IoError>([&] {
        dogpile::redis::Connection c(other);
        c.command({"PING"});
    });
}

RawReply raw(const RedisServer& s, const std::vector<std::string>& argv) {
    RawReply r = s.raw(argv);
    EXPECT_FALSE(r.is_error()) << argv.front() << ": " << r.str;
    return r;
}

long long pttl(const RedisServer& s, const std::string& key) { return raw(s, {"PTTL", key}).integer; }

std::optional<std::string> raw_hget(const RedisServer& s, const std::string& hash, const std::string& field) {
    RawReply r = raw(s, {"HGET", hash, field});
    if (r.is_nil()) return std::nullopt;
    return r.str;
}

// --- the server kinds of the parameterised suites --------------------------------

// pipelined: the single server through PipelinedClient (redis/pipelined_client.hpp),
// so the stores' scripts and reads are proven through the shared connection too.
enum class ServerKind { single, cluster, pipelined };

std::string kind_name(const ::testing::TestParamInfo<ServerKind>& info) {
    if (info.param == ServerKind::pipelined) return "Pipelined";
    return info.param == ServerKind::single ? "SingleServer" : "Cluster";
}

// Where a parameterised test runs: the binary's shared redis-server, or its
// shared cluster. raw() reaches the node that holds the command's key
// (argv[1]); commands without a key (SCRIPT, CONFIG, INFO) run on every
// master, and command_calls() adds up what every master counted.
class Target {
public:
    explicit Target(ServerKind kind) : kind_(kind) {
        if (kind_ != ServerKind::cluster) return;
        auto& cluster = dogpile::test::RedisCluster::shared();
        masters_ = cluster.masters();
        for (const RawReply& range : cluster.raw(masters_.front(), {"CLUSTER", "SLOTS"}).elements) {
            const auto port = static_cast<int>(range.elements.at(2).elements.at(1).integer);
            for (long long slot = range.elements.at(0).integer; slot <= range.elements.at(1).integer; ++slot) {
                owner_[static_cast<std::size_t>(slot)] = cluster.index_of_port(port);
            }
        }
    }

    ServerKind kind() const noexcept { return kind_; }

    std::shared_ptr<dogpile::redis::Client> client() const {
        if (kind_ == ServerKind::single) return dogpile::redis::make_client(RedisServer::shared().url());
        if (kind_ == ServerKind::pipelined) return dogpile::redis::make_pipelined_client(RedisServer::shared().url());
        return std::make_shared<dogpile::redis::ClusterClient>(dogpile::test::RedisCluster::shared().client_options());
    }

    RawReply raw(const std::vector<std::string>& argv) const {
        if (kind_ != ServerKind::cluster) return RedisServer::shared().raw(argv);
        if (keyless(argv.front())) return raw_each(argv).front();
        return dogpile::test::RedisCluster::shared().raw_for_key(argv.at(1), argv);
    }

    // One reply per master (the single server's for one server).
    std::vector<RawReply> raw_each(const std::vector<std::string>& argv) const {
        if (kind_ != ServerKind::cluster) return {RedisServer::shared().raw(argv)};
        std::vector<RawReply> out;
        for (std::size_t m : masters_) out.push_back(dogpile::test::RedisCluster::shared().raw(m, argv));
        return out;
    }

    // Round trips a batch over these hashes costs: one per node holding them.
    std::size_t nodes_of(const std::vector<std::string>& hashes) const {
        if (kind_ != ServerKind::cluster) return 1;
        std::set<std::size_t> nodes;
        for (const auto& h : hashes) nodes.insert(owner_[static_cast<std::size_t>(dogpile::redis::key_slot(h))]);
        return nodes.size();
    }
    template <class Entries>
    std::size_t nodes_of_keys(const Entries& entries) const {
        std::vector<std::string> hashes;
        for (const auto& e : entries) hashes.push_back(key_of(e).hash);
        return nodes_of(hashes);
    }

private:
    static const HashKey& key_of(const HashKey& key) { return key; }
    template <class Entry>
    static const HashKey& key_of(const Entry& entry) {
        return entry.first;
    }
    static bool keyless(const std::string& command) {
        return command == "SCRIPT" || command == "CONFIG" || command == "INFO";
    }

    ServerKind kind_;
    std::vector<std::size_t> masters_;
    std::array<std::size_t, dogpile::redis::cluster_slots> owner_{};  // slot -> master (cluster only)
};

std::shared_ptr<dogpile::redis::Client> client_for(const Target& t) { return t.client(); }

RawReply raw(const Target& t, const std::vector<std::string>& argv) {
    RawReply r = t.raw(argv);
    EXPECT_FALSE(r.is_error()) << argv.front() << ": " << r.str;
    return r;
}

long long pttl(const Target& t, const std::string& key) { return raw(t, {"PTTL", key}).integer; }

std::optional<std::string> raw_hget(const Target& t, const std::string& hash, const std::string& field) {
    RawReply r = raw(t, {"HGET", hash, field});
    if (r.is_nil()) return std::nullopt;
    return r.str;
}

// "calls=N" of one command in INFO commandstats (0 when it never ran), over
// every master.
long long command_calls(const Target& t, const std::string& command) {
    long long total = 0;
    for (const RawReply& r : t.raw_each({"INFO", "commandstats"})) {
        EXPECT_FALSE(r.is_error()) << r.str;
        const std::string tag = "cmdstat_" + command + ":calls=";
        const auto at = r.str.find(tag);
        if (at != std::string::npos) total += std::stoll(r.str.substr(at + tag.size()));
    }
    return total;
}

// The fixture of the parameterised suites. Inside their tests server() is
// the Target, so the helpers above route through it.
class OnEachServerKind : public ::testing::TestWithParam<ServerKind> {
protected:
    OnEachServerKind() : target_(GetParam()) {}
    const Target& server() const { return target_; }

private:
    Target target_;
};

class HashLayout : public OnEachServerKind {};
class HashTtl : public OnEachServerKind {};
class HashScripts : public OnEachServerKind {};
class HashRoundTrips : public OnEachServerKind {};
class HashErase : public OnEachServerKind {};

INSTANTIATE_TEST_SUITE_P(Servers, HashLayout,
                         ::testing::Values(ServerKind::single, ServerKind::cluster, ServerKind::pipelined), kind_name);
INSTANTIATE_TEST_SUITE_P(Servers, HashTtl,
                         ::testing::Values(ServerKind::single, ServerKind::cluster, ServerKind::pipelined), kind_name);
INSTANTIATE_TEST_SUITE_P(Servers, HashScripts,
                         ::testing::Values(ServerKind::single, ServerKind::cluster, ServerKind::pipelined), kind_name);
INSTANTIATE_TEST_SUITE_P(Servers, HashRoundTrips,
                         ::testing::Values(ServerKind::single, ServerKind::cluster, ServerKind::pipelined), kind_name);
INSTANTIATE_TEST_SUITE_P(Servers, HashErase,
                         ::testing::Values(ServerKind::single, ServerKind::cluster, ServerKind::pipelined), kind_name);

RedisHashBackendOptions hash_options(std::shared_ptr<dogpile::redis::Client> client,
                                     std::optional<dogpile::Duration> ttl = std::chrono::hours(1),
                                     TtlPolicy policy = TtlPolicy::on_create) {
    RedisHashBackendOptions o;
    o.client = std::move(client);
    o.ttl = ttl;
    o.ttl_policy = policy;
    return o;
}

std::shared_ptr<FlagsBackend> flags_backend(RedisHashBackendOptions o) {
    return std::make_shared<FlagsBackend>(std::move(o), flags_codec());
}

using dogpile::test::message_of;

// --- HashKey and HashKeyScheme ---------------------------------------------------

TEST(HashKeyScheme, BuildsTheDesignLayout) {
    const HashKeyScheme calculated{"calculated-a|"};
    EXPECT_EQ(calculated.key(7, 42), (HashKey{"calculated-a|7", "42"}));
    EXPECT_EQ(calculated.key(std::string("u-7"), "o 42"), (HashKey{"calculated-a|u-7", "o 42"}));
    EXPECT_EQ(calculated.key(-3L, 18446744073709551615ULL), (HashKey{"calculated-a|-3", "18446744073709551615"}));
    EXPECT_EQ(calculated.hash_of(7), "calculated-a|7");
    EXPECT_EQ(calculated.hash_of(std::string_view("x")), "calculated-a|x");
    EXPECT_EQ(calculated.prefix(), "calculated-a|");
    EXPECT_EQ(calculated.key(7, 42).key(), "calculated-a|7");
}

TEST(HashKey, ComparesHashesAndOrdersByHashThenField) {
    const HashKey a{"h1", "f2"}, b{"h1", "f10"}, c{"h2", "a"};
    EXPECT_EQ(a, (HashKey{"h1", "f2"}));
    EXPECT_NE(a, b);
    EXPECT_LT(b, a);  // bytewise: "f10" < "f2"
    EXPECT_LT(a, c);
    EXPECT_FALSE(c < a);
    // "h|" + "x" vs "h" + "|x": same concatenation, different keys.
    EXPECT_NE((HashKey{"h|", "x"}), (HashKey{"h", "|x"}));
    std::unordered_set<HashKey> set{a, b, c, HashKey{"h1", "f2"}, HashKey{"h|", "x"}, HashKey{"h", "|x"}};
    EXPECT_EQ(set.size(), 5u);
    EXPECT_EQ(set.count(HashKey{"h2", "a"}), 1u);
}

// --- options ------------------------------------------------------------------

TEST(RedisHashBackendOptions, RejectsOptionsThatCannotWork) {
    auto client = client_for(server());
    auto make = [&](auto&& tweak) {
        auto o = hash_options(client);
        tweak(o);
        return message_of<ConfigurationError>([&] { FlagsBackend(o, flags_codec()); });
    };
    EXPECT_NE(make([](auto& o) { o.client = nullptr; }).find("client"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.ttl.reset(); }).find("needs a ttl"), std::string::npos);
    EXPECT_NE(make([](auto& o) {
                  o.ttl.reset();
                  o.ttl_policy = TtlPolicy::refresh_on_write;
              }).find("refresh_on_write"),
              std::string::npos);
    EXPECT_NE(make([](auto& o) { o.ttl_policy = TtlPolicy::none; }).find("ttl_policy is none"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.ttl = std::chrono::microseconds(10); }).find("1 ms"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.max_fields_per_call = 0; }).find("max_fields_per_call"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.max_fields_per_call = 100000; }).find("max_fields_per_call"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.limits.max_key_bytes = 0; }).find("max_key_bytes"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.limits.max_payload_bytes = 0; }).find("max_payload_bytes"), std::string::npos);

    // What does work: no TTL at all with the none policy.
    EXPECT_NO_THROW(FlagsBackend(hash_options(client, std::nullopt, TtlPolicy::none), flags_codec()));
}

// --- layout and TTL ---------------------------------------------------------------

TEST_P(HashLayout, RawPayloadIsExactlyTheValuesOnlyBytes) {
    auto backend = flags_backend(hash_options(client_for(server())));
    const HashKeyScheme scheme{test_prefix() + "calculated-a|"};
    backend->set(scheme.key(7, 42), {golden_flags(), dogpile::Metadata::created_now(dogpile::WallClock::now())});

    const RawReply all = raw(server(), {"HGETALL", scheme.hash_of(7)});
    ASSERT_EQ(all.elements.size(), 2u);
    EXPECT_EQ(all.elements[0].str, "42");
    EXPECT_EQ(hex(all.elements[1].str), "98 c3 c2 c3 c2 c3 c2 c3 c2");
    EXPECT_EQ(hex(all.elements[1].str), hex(golden_bytes));
    EXPECT_EQ(raw(server(), {"TYPE", scheme.hash_of(7)}).str, "hash");

    const auto entry = backend->get(scheme.key(7, 42));
    ASSERT_TRUE(entry);
    EXPECT_EQ(entry->value, golden_flags());
    EXPECT_EQ(entry->metadata.expiry_owner, ExpiryOwner::store);
    EXPECT_FALSE(backend->get(scheme.key(7, 43)));
    EXPECT_FALSE(backend->get(scheme.key(8, 42)));
}

TEST_P(HashLayout, DocumentedConstructionCompilesAndWorks) {
    // As in the header comment of backends/redis/hash.hpp.
    auto client = client_for(server());
    const KeyTemplate key_template = KeyTemplate::of(golden_flags());
    auto backend = std::make_shared<dogpile::RedisHashBackend<Flags, FlagsCodec>>(
        dogpile::RedisHashBackendOptions{client, std::chrono::hours(1)}, FlagsCodec{key_template});
    dogpile::Region<Flags, dogpile::HashKey> region(backend);
    const HashKeyScheme calculated{test_prefix() + "calculated-a|"};
    EXPECT_EQ(region.get_or_create(calculated.key(1, 2), [] { return golden_flags(); }), golden_flags());
    backend->erase_hash(calculated.hash_of(1));
    EXPECT_FALSE(backend->get(calculated.key(1, 2)));
    EXPECT_EQ(backend->options().ttl_policy, TtlPolicy::on_create);
    EXPECT_EQ(backend->options().payload, PayloadMode::raw);
    EXPECT_EQ(backend->codec().key_template(), key_template);
}

TEST_P(HashLayout, BitpackedFlagsAreStoredAsTheirFewBytes) {
    Flags flags;
    for (int i = 0; i < 25; ++i) flags.emplace("perm_" + std::to_string(100 + i), i % 3 == 0);
    const dogpile::codec::BitpackedCodec codec{KeyTemplate::of(flags)};
    auto backend = std::make_shared<RedisHashBackend<Flags, dogpile::codec::BitpackedCodec>>(
        hash_options(client_for(server())), codec);
    const HashKey key{test_prefix() + "a|1", "1"};
    backend->set(key, {flags, {}});
    const auto stored = raw_hget(server(), key.hash, key.field);
    ASSERT_TRUE(stored);
    EXPECT_EQ(*stored, codec.encode(flags));
    EXPECT_LE(stored->size(), 5u) << "25 flags: a msgpack uint32 at most";
    EXPECT_EQ(backend->get(key)->value, flags);
}

TEST_P(HashTtl, OnCreateSetsTheTtlOnTheFirstWriteOnly) {
    const auto ttl = std::chrono::hours(1);
    const long long ttl_ms = std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
    auto backend = flags_backend(hash_options(client_for(server()), ttl));
    const HashKeyScheme scheme{test_prefix() + "a|"};
    const std::string hash = scheme.hash_of(1);

    backend->set(scheme.key(1, 1), {golden_flags(), {}});
    const long long first = pttl(server(), hash);
    EXPECT_GT(first, ttl_ms - 60000);
    EXPECT_LE(first, ttl_ms);

    // Pretend the hash is 59:55 old: 5 s left. A later field must not prolong it.
    raw(server(), {"PEXPIRE", hash, "5000"});
    backend->set(scheme.key(1, 2), {other_flags(), {}});
    backend->set_multi({{scheme.key(1, 3), {golden_flags(), {}}}, {scheme.key(1, 4), {golden_flags(), {}}}});
    const long long later = pttl(server(), hash);
    EXPECT_GT(later, 0);
    EXPECT_LE(later, 5000);
    EXPECT_EQ(raw(server(), {"HLEN", hash}).integer, 4);

    // Rewriting an existing field does not prolong it either.
    backend->set(scheme.key(1, 1), {other_flags(), {}});
    EXPECT_LE(pttl(server(), hash), 5000);
}

TEST_P(HashTtl, OnCreateGivesAHashWithoutTtlOne) {
    // Somebody created the hash without a TTL: the next write must not leave it immortal.
    auto backend = flags_backend(hash_options(client_for(server()), std::chrono::minutes(10)));
    const HashKey key{test_prefix() + "legacy", "1"};
    raw(server(), {"HSET", key.hash, "other", "x"});
    ASSERT_EQ(pttl(server(), key.hash), -1);
    backend->set(key, {golden_flags(), {}});
    EXPECT_GT(pttl(server(), key.hash), 0);
    EXPECT_EQ(raw_hget(server(), key.hash, "other"), "x");
}

TEST_P(HashTtl, SetMultiAppliesTheRulePerHash) {
    auto backend = flags_backend(hash_options(client_for(server()), std::chrono::hours(1)));
    const HashKeyScheme scheme{test_prefix() + "a|"};
    backend->set(scheme.key("old", 1), {golden_flags(), {}});
    raw(server(), {"PEXPIRE", scheme.hash_of("old"), "5000"});

    backend->set_multi({{scheme.key("old", 2), {golden_flags(), {}}},
                        {scheme.key("new", 1), {golden_flags(), {}}},
                        {scheme.key("new", 2), {other_flags(), {}}}});
    EXPECT_LE(pttl(server(), scheme.hash_of("old")), 5000);
    EXPECT_GT(pttl(server(), scheme.hash_of("new")), 3600000 - 60000);
    EXPECT_EQ(backend->get(scheme.key("new", 2))->value, other_flags());
}

TEST_P(HashTtl, RefreshOnWriteSetsTheTtlOnEveryWrite) {
    auto backend =
        flags_backend(hash_options(client_for(server()), std::chrono::hours(1), TtlPolicy::refresh_on_write));
    const HashKeyScheme scheme{test_prefix() + "a|"};
    const std::string hash = scheme.hash_of(1);
    backend->set(scheme.key(1, 1), {golden_flags(), {}});
    raw(server(), {"PEXPIRE", hash, "5000"});
    backend->set(scheme.key(1, 2), {golden_flags(), {}});
    EXPECT_GT(pttl(server(), hash), 3600000 - 60000);

    raw(server(), {"PEXPIRE", hash, "5000"});
    backend->set_multi({{scheme.key(1, 3), {golden_flags(), {}}}});
    EXPECT_GT(pttl(server(), hash), 3600000 - 60000);
}

TEST_P(HashTtl, NoneLeavesTheHashWithoutTtl) {
    auto backend = flags_backend(hash_options(client_for(server()), std::nullopt, TtlPolicy::none));
    const HashKeyScheme scheme{test_prefix() + "a|"};
    backend->set(scheme.key(1, 1), {golden_flags(), {}});
    backend->set_multi({{scheme.key(1, 2), {golden_flags(), {}}}, {scheme.key(2, 1), {other_flags(), {}}}});
    EXPECT_EQ(pttl(server(), scheme.hash_of(1)), -1);
    EXPECT_EQ(pttl(server(), scheme.hash_of(2)), -1);
    EXPECT_EQ(raw_hget(server(), scheme.hash_of(1), "2"), golden_bytes);
    EXPECT_EQ(backend->get(scheme.key(2, 1))->value, other_flags());
}

// --- scripts: NOSCRIPT recovery, chunking -------------------------------------------

TEST_P(HashScripts, SetRecoversAfterScriptFlush) {
    auto backend = flags_backend(hash_options(client_for(server())));
    const HashKeyScheme scheme{test_prefix() + "a|"};
    backend->set(scheme.key(1, 1), {golden_flags(), {}});
    raw(server(), {"SCRIPT", "FLUSH"});
    backend->set(scheme.key(2, 1), {other_flags(), {}});
    EXPECT_EQ(backend->get(scheme.key(2, 1))->value, other_flags());
    EXPECT_GT(pttl(server(), scheme.hash_of(2)), 0);
}

TEST_P(HashScripts, PipelinedSetMultiRecoversAfterScriptFlush) {
    auto client = client_for(server());
    auto backend = flags_backend(hash_options(client));
    const HashKeyScheme scheme{test_prefix() + "a|"};
    backend->set(scheme.key(0, 0), {golden_flags(), {}});
    raw(server(), {"SCRIPT", "FLUSH"});

    std::vector<std::pair<HashKey, FlagsBackend::entry_type>> entries;
    for (int a = 0; a < 5; ++a) {
        for (int b = 0; b < 4; ++b)
            entries.push_back({scheme.key(a, b), {(a + b) % 2 ? golden_flags() : other_flags(), {}}});
    }
    const auto before = client->round_trips();
    backend->set_multi(entries);
    EXPECT_EQ(client->round_trips() - before, 2u * server().nodes_of_keys(entries))
        << "one pipeline, then SCRIPT LOAD + the retried calls (per node)";
    for (const auto& [key, entry] : entries) {
        EXPECT_EQ(backend->get(key)->value, entry.value) << key;
        EXPECT_GT(pttl(server(), key.hash), 0);
    }
    // Loaded again: the next batch is one round trip.
    const auto again = client->round_trips();
    backend->set_multi(entries);
    EXPECT_EQ(client->round_trips() - again, 1u * server().nodes_of_keys(entries));
}

TEST_P(HashScripts, SetMultiSplitsHugeHashesBelowLuasUnpackLimit) {
    // 5000 fields = 10000 values: a single unpack() would fail (Lua 5.1 stops near 8000).
    auto client = client_for(server());
    auto backend = std::make_shared<StringBackend>(hash_options(client));
    const std::string hash = test_prefix() + "huge";
    std::vector<std::pair<HashKey, StringBackend::entry_type>> entries;
    for (int i = 0; i < 5000; ++i) entries.push_back({HashKey{hash, std::to_string(i)}, {"v" + std::to_string(i), {}}});
    backend->set(entries.front().first, entries.front().second);  // loads the script
    raw(server(), {"CONFIG", "RESETSTAT"});
    const auto before = client->round_trips();
    backend->set_multi(entries);
    EXPECT_EQ(client->round_trips() - before, 1u);
    EXPECT_EQ(command_calls(server(), "evalsha"), 5) << "1000 fields per call by default";
    EXPECT_EQ(raw(server(), {"HLEN", hash}).integer, 5000);
    EXPECT_EQ(backend->get(HashKey{hash, "4999"})->value, "v4999");

    auto small_chunks = hash_options(client);
    small_chunks.max_fields_per_call = 7;
    StringBackend chunked(small_chunks);
    std::vector<std::pair<HashKey, StringBackend::entry_type>> twenty;
    for (int i = 0; i < 20; ++i) twenty.push_back({HashKey{hash + "2", std::to_string(i)}, {"w", {}}});
    raw(server(), {"CONFIG", "RESETSTAT"});
    chunked.set_multi(twenty);
    EXPECT_EQ(command_calls(server(), "evalsha"), 3);
    EXPECT_EQ(raw(server(), {"HLEN", hash + "2"}).integer, 20);

    // The largest allowed chunk still fits under the unpack() limit.
    auto largest = hash_options(client);
    largest.max_fields_per_call = dogpile::redis::details::max_pairs_per_script_call;
    StringBackend widest(largest);
    std::vector<std::pair<HashKey, StringBackend::entry_type>> many;
    for (std::size_t i = 0; i < largest.max_fields_per_call; ++i) {
        many.push_back({HashKey{hash + "3", std::to_string(i)}, {"z", {}}});
    }
    raw(server(), {"CONFIG", "RESETSTAT"});
    widest.set_multi(many);
    EXPECT_EQ(command_calls(server(), "evalsha"), 1);
    EXPECT_EQ(raw(server(), {"HLEN", hash + "3"}).integer, static_cast<long long>(many.size()));
}

// --- round trips -----------------------------------------------------------------

TEST_P(HashRoundTrips, GetMultiOfTenThousandKeysIsOneRoundTripPerNode) {
    auto client = client_for(server());
    auto backend = flags_backend(hash_options(client));
    const HashKeyScheme scheme{test_prefix() + "a|"};
    std::vector<std::pair<HashKey, FlagsBackend::entry_type>> entries;
    std::vector<HashKey> keys;
    for (int a = 0; a < 100; ++a) {
        for (int b = 0; b < 100; ++b) {
            keys.push_back(scheme.key(a, b));
            // Every 7th key is left unwritten: a miss among hits.
            if ((a * 100 + b) % 7 != 0)
                entries.push_back({keys.back(), {(a + b) % 2 ? golden_flags() : other_flags(), {}}});
        }
    }
    backend->set(entries.front().first, entries.front().second);  // loads the script
    // ... on the node of that key; a cluster's other masters need it too.
    raw(server(), {"SCRIPT", "LOAD", dogpile::redis::details::hset_with_expiry_script().source()});
    auto before = client->round_trips();
    backend->set_multi(entries);
    EXPECT_EQ(client->round_trips() - before, 1u * server().nodes_of_keys(entries));

    raw(server(), {"CONFIG", "RESETSTAT"});
    before = client->round_trips();
    const auto got = backend->get_multi(keys);
    EXPECT_EQ(client->round_trips() - before, 1u * server().nodes_of_keys(keys)) << "one round trip per node";
    EXPECT_EQ(command_calls(server(), "hmget"), 100) << "one HMGET per hash";
    EXPECT_EQ(command_calls(server(), "hget"), 0);
    ASSERT_EQ(got.size(), keys.size());
    for (int a = 0; a < 100; ++a) {
        for (int b = 0; b < 100; ++b) {
            const auto& entry = got[static_cast<std::size_t>(a * 100 + b)];
            if ((a * 100 + b) % 7 == 0) {
                EXPECT_FALSE(entry) << a << "/" << b;
            } else {
                ASSERT_TRUE(entry) << a << "/" << b;
                EXPECT_EQ(entry->value, (a + b) % 2 ? golden_flags() : other_flags());
            }
        }
    }
}

TEST_P(HashRoundTrips, GetMultiKeepsOrderAndDuplicates) {
    auto backend = flags_backend(hash_options(client_for(server())));
    const HashKeyScheme scheme{test_prefix() + "a|"};
    backend->set_multi({{scheme.key(1, 1), {golden_flags(), {}}}, {scheme.key(2, 1), {other_flags(), {}}}});
    const auto got = backend->get_multi({scheme.key(2, 1), scheme.key(1, 1), scheme.key(3, 3), scheme.key(2, 1)});
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0]->value, other_flags());
    EXPECT_EQ(got[1]->value, golden_flags());
    EXPECT_FALSE(got[2]);
    EXPECT_EQ(got[3]->value, other_flags());
    EXPECT_TRUE(backend->get_multi({}).empty());
}

// --- erase -------------------------------------------------------------------------

TEST_P(HashErase, EraseHashRemovesAllOfOneIdsEntriesOnly) {
    auto client = client_for(server());
    auto backend = flags_backend(hash_options(client));
    const HashKeyScheme scheme{test_prefix() + "calculated-a|"};
    for (int b = 0; b < 10; ++b) {
        backend->set(scheme.key("a", b), {golden_flags(), {}});
        backend->set(scheme.key("other", b), {golden_flags(), {}});
    }
    raw(server(), {"CONFIG", "RESETSTAT"});
    backend->erase_hash(scheme.hash_of("a"));
    EXPECT_EQ(command_calls(server(), "del"), 1);
    EXPECT_EQ(raw(server(), {"EXISTS", scheme.hash_of("a")}).integer, 0);
    EXPECT_EQ(raw(server(), {"HLEN", scheme.hash_of("other")}).integer, 10);
    for (int b = 0; b < 10; ++b) EXPECT_FALSE(backend->get(scheme.key("a", b)));
}

TEST_P(HashErase, EraseAndEraseMultiDeleteFields) {
    auto client = client_for(server());
    auto backend = flags_backend(hash_options(client));
    const HashKeyScheme scheme{test_prefix() + "a|"};
    for (int a = 0; a < 3; ++a) {
        for (int b = 0; b < 3; ++b) backend->set(scheme.key(a, b), {golden_flags(), {}});
    }
    backend->erase(scheme.key(0, 0));
    EXPECT_FALSE(backend->get(scheme.key(0, 0)));
    EXPECT_TRUE(backend->get(scheme.key(0, 1)));

    const auto before = client->round_trips();
    const std::vector<HashKey> erased{scheme.key(0, 1), scheme.key(1, 1), scheme.key(2, 2), scheme.key(1, 0)};
    backend->erase_multi(erased);
    EXPECT_EQ(client->round_trips() - before, 1u * server().nodes_of_keys(erased));
    const auto got = backend->get_multi({scheme.key(0, 1), scheme.key(0, 2), scheme.key(1, 0), scheme.key(1, 1),
                                         scheme.key(1, 2), scheme.key(2, 0), scheme.key(2, 2)});
    std::vector<bool> present;
    for (const auto& e : got) present.push_back(e.has_value());
    EXPECT_EQ(present, (std::vector<bool>{false, true, false, false, true, true, false}));
}

// --- binary safety and size ----------------------------------------------------------

TEST(HashBinarySafety, KeysFieldsAndValuesMayHoldAnyBytes) {
    auto backend = std::make_shared<StringBackend>(hash_options(client_for(server())));
    const std::string nul("\0", 1);
    const HashKey k1{test_prefix() + "hash with spaces\nand" + nul + "NUL", "field \r\n" + nul + "x"};
    const HashKey k2{k1.hash, nul};
    const HashKey k3{test_prefix() + std::string("\xff\xfe", 2), ""};
    const std::string v1 = "value\n" + nul + " \xc1\xff" + nul;
    const std::string v2 = random_bytes(300, 1);
    const std::string v3;

    backend->set(k1, {v1, {}});
    backend->set_multi({{k2, {v2, {}}}, {k3, {v3, {}}}});
    EXPECT_EQ(backend->get(k1)->value, v1);
    const auto got = backend->get_multi({k3, k2, k1});
    ASSERT_TRUE(got[0] && got[1] && got[2]);
    EXPECT_EQ(got[0]->value, v3);
    EXPECT_EQ(got[1]->value, v2);
    EXPECT_EQ(got[2]->value, v1);
    // Stored as msgpack str, exactly: what any other msgpack reader sees.
    EXPECT_EQ(raw_hget(server(), k1.hash, k1.field), MsgpackCodec<std::string>{}.encode(v1));
    EXPECT_EQ(raw(server(), {"HLEN", k1.hash}).integer, 2);

    backend->erase_multi({k1, k3});
    EXPECT_FALSE(backend->get(k1));
    EXPECT_FALSE(backend->get(k3));
    EXPECT_EQ(backend->get(k2)->value, v2);
    backend->erase_hash(k2.hash);
    EXPECT_FALSE(backend->get(k2));
}

// --- the Region on top -------------------------------------------------------------

TEST(HashRegion, MissCreatesAndStoresHitDoesNotCallTheCreator) {
    auto backend = flags_backend(hash_options(client_for(server())));
    FlagsRegion region(backend);
    const HashKeyScheme scheme{test_prefix() + "calculated-a|"};
    int calls = 0;
    auto creator = [&] {
        ++calls;
        return golden_flags();
    };
    EXPECT_EQ(region.get_or_create(scheme.key(7, 42), creator), golden_flags());
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(raw_hget(server(), scheme.hash_of(7), "42"), golden_bytes);
    EXPECT_GT(pttl(server(), scheme.hash_of(7)), 0);

    EXPECT_EQ(region.get_or_create(scheme.key(7, 42), creator), golden_flags());
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(region.stats().hits, 1u);
    EXPECT_EQ(region.stats().backend_errors, 0u);
    EXPECT_EQ(region.get(scheme.key(7, 42)), golden_flags());
}

TEST(HashRegion, RawPayloadIsServedAsFreshWhateverTheRegionExpiration) {
    // The raw payload has no timestamp: the hash's TTL is the only expiry.
    ManualClock clock;
    auto backend = flags_backend(hash_options(client_for(server())));
    RegionOptions options;
    options.expiration_time = std::chrono::seconds(10);
    options.clock = clock.function();
    FlagsRegion region(backend, options);
    const HashKey key{test_prefix() + "a|1", "1"};
    raw(server(), {"HSET", key.hash, key.field, golden_bytes});  // e.g. written by the Python service

    clock.advance(std::chrono::hours(24));
    int calls = 0;
    EXPECT_EQ(region.get_or_create(key, [&] { return ++calls, other_flags(); }), golden_flags());
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(region.get(key), golden_flags());
}

TEST(HashRegion, EnvelopeModeHonoursTheRegionExpiration) {
    ManualClock clock;
    auto o = hash_options(client_for(server()));
    o.payload = PayloadMode::envelope;
    auto backend = flags_backend(o);
    RegionOptions options;
    options.expiration_time = std::chrono::seconds(10);
    options.clock = clock.function();
    FlagsRegion region(backend, options);
    const HashKey key{test_prefix() + "a|1", "1"};

    int calls = 0;
    EXPECT_EQ(region.get_or_create(key, [&] { return ++calls, golden_flags(); }), golden_flags());
    const auto stored = raw_hget(server(), key.hash, key.field);
    ASSERT_TRUE(stored);
    const auto unwrapped = dogpile::codec::envelope::unwrap(*stored);
    EXPECT_EQ(unwrapped.metadata.created_at, std::chrono::floor<std::chrono::microseconds>(clock.now()));
    EXPECT_EQ(unwrapped.payload, golden_bytes);

    clock.advance(std::chrono::seconds(5));
    EXPECT_EQ(region.get_or_create(key, [&] { return ++calls, other_flags(); }), golden_flags());
    EXPECT_EQ(calls, 1);

    clock.advance(std::chrono::seconds(6));  // 11 s old: expired, regenerated
    EXPECT_FALSE(region.get(key));
    EXPECT_EQ(region.get_or_create(key, [&] { return ++calls, other_flags(); }), other_flags());
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(backend->get(key)->value, other_flags());

    // Soft invalidation works too: stale, regenerated on the next call.
    clock.advance(std::chrono::milliseconds(1));
    region.invalidate(dogpile::Invalidation::soft);
    EXPECT_EQ(region.get_or_create(key, [&] { return ++calls, golden_flags(); }), golden_flags());
    EXPECT_EQ(calls, 3);
}

TEST(HashRegion, GetOrCreateMultiCreatesOnlyTheMissingOnes) {
    auto client = client_for(server());
    auto backend = flags_backend(hash_options(client));
    FlagsRegion region(backend);
    const HashKeyScheme scheme{test_prefix() + "a|"};
    backend->set(scheme.key(1, 1), {golden_flags(), {}});
    backend->set(scheme.key(2, 2), {golden_flags(), {}});

    std::vector<HashKey> asked;
    const std::vector<HashKey> keys{scheme.key(1, 1), scheme.key(1, 2), scheme.key(2, 2), scheme.key(3, 1)};
    const auto values = region.get_or_create_multi(keys, [&](const std::vector<HashKey>& missing) {
        asked = missing;
        return std::vector<Flags>(missing.size(), other_flags());
    });
    EXPECT_EQ(values, (std::vector<Flags>{golden_flags(), other_flags(), golden_flags(), other_flags()}));
    EXPECT_EQ(asked, (std::vector<HashKey>{scheme.key(1, 2), scheme.key(3, 1)}));
    EXPECT_EQ(raw_hget(server(), scheme.hash_of(1), "2"), flags_codec().encode(other_flags()));
    EXPECT_EQ(raw_hget(server(), scheme.hash_of(3), "1"), flags_codec().encode(other_flags()));

    int calls = 0;
    const auto again = region.get_or_create_multi(keys, [&](const std::vector<HashKey>& missing) {
        ++calls;
        return std::vector<Flags>(missing.size(), golden_flags());
    });
    EXPECT_EQ(again, values);
    EXPECT_EQ(calls, 0);
}

TEST(HashRegion, ConcurrentCallersForOneMissingPairComputeItOnce) {
    auto backend = flags_backend(hash_options(client_for(server())));
    FlagsRegion region(backend);
    const HashKey key{test_prefix() + "a|1", "1"};
    backend->erase(key);  // cold even when the test is repeated
    constexpr int threads = 8;
    Latch start(threads);
    std::atomic<int> calls{0};
    std::vector<std::thread> pool;
    std::vector<Flags> results(threads);
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            start.arrive_and_wait();
            results[static_cast<std::size_t>(t)] = region.get_or_create(key, [&] {
                // The first creator returns once every other caller has missed
                // and is blocked on the lock: each must then find the pair in
                // Redis on its re-check.
                if (calls.fetch_add(1) == 0) {
                    EXPECT_TRUE(wait_for_condition(
                        [&] { return region.lock_waiters(key) == static_cast<std::size_t>(threads - 1); }, 60s));
                }
                return golden_flags();
            });
        });
    }
    for (auto& th : pool) th.join();
    EXPECT_EQ(calls.load(), 1);
    EXPECT_EQ(region.stats().lock_waits, static_cast<std::uint64_t>(threads - 1));
    for (const auto& r : results) EXPECT_EQ(r, golden_flags());
}

// --- corrupt payloads ----------------------------------------------------------------

struct CorruptCase {
    const char* name;
    std::string bytes;
    PayloadMode mode;
};

void PrintTo(const CorruptCase& c, std::ostream* out) { *out << c.name; }

std::vector<CorruptCase> corrupt_cases() {
    std::string envelope_v2 = dogpile::codec::envelope::wrap(dogpile::Metadata{}, golden_bytes);
    envelope_v2[1] = 2;
    return {
        {"random_bytes", random_bytes(64, 99), PayloadMode::raw},
        {"truncated_msgpack", golden_bytes.substr(0, 4), PayloadMode::raw},
        {"wrong_array_length", bytes({0x93, 0xc3, 0xc2, 0xc3}), PayloadMode::raw},
        {"array_of_max_length", bytes({0xdd, 0xff, 0xff, 0xff, 0xff}), PayloadMode::raw},
        {"map_instead_of_array", bytes({0x81, 0xa1, 0x61, 0xc3}), PayloadMode::raw},
        {"empty", std::string(), PayloadMode::raw},
        {"trailing_bytes", golden_bytes + "x", PayloadMode::raw},
        {"envelope_in_raw_mode", dogpile::codec::envelope::wrap(dogpile::Metadata{}, golden_bytes), PayloadMode::raw},
        {"bad_envelope_version", envelope_v2, PayloadMode::envelope},
        {"raw_in_envelope_mode", golden_bytes, PayloadMode::envelope},
        {"truncated_envelope", bytes({0xc1, 0x01, 0x0d, 0x00}), PayloadMode::envelope},
        {"envelope_with_corrupt_payload",
         dogpile::codec::envelope::wrap(dogpile::Metadata{}, bytes({0xdd, 0xff, 0xff, 0xff, 0xff})),
         PayloadMode::envelope},
    };
}

class HashCorruptPayload : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(HashCorruptPayload, IsAMissThatTheRegionOverwrites) {
    const CorruptCase& c = GetParam();
    auto o = hash_options(client_for(server()));
    o.payload = c.mode;
    auto backend = flags_backend(o);
    const HashKey key{test_prefix() + "a|1", "1"};
    raw(server(), {"HSET", key.hash, key.field, c.bytes});

    EXPECT_THROW(backend->get(key), DecodeError);
    EXPECT_EQ(backend->stats().decode_errors, 1u);

    std::vector<std::string> reported;
    RegionOptions options;
    options.error_hook = [&](const BackendErrorEvent& e) { reported.emplace_back(e.operation); };
    FlagsRegion region(backend, options);
    int calls = 0;
    EXPECT_EQ(region.get_or_create(key, [&] { return ++calls, golden_flags(); }), golden_flags());
    EXPECT_EQ(calls, 1);
    EXPECT_GE(region.stats().backend_errors, 1u);
    ASSERT_FALSE(reported.empty());
    EXPECT_EQ(reported.front(), "get");

    // Overwritten with a good value, served from now on.
    EXPECT_EQ(backend->get(key)->value, golden_flags());
    EXPECT_EQ(region.get_or_create(key, [&] { return ++calls, other_flags(); }), golden_flags());
    EXPECT_EQ(calls, 1);
}

INSTANTIATE_TEST_SUITE_P(Cases, HashCorruptPayload, ::testing::ValuesIn(corrupt_cases()),
                         [](const ::testing::TestParamInfo<CorruptCase>& info) {
                             return std::string(info.param.name);
                         });

TEST(HashCorruptGetMulti, OnlyTheCorruptEntryIsAMissAndItIsReported) {
    std::vector<std::string> reported;
    std::vector<std::string> operations;
    auto o = hash_options(client_for(server()));
    o.error_hook = [&](const BackendErrorEvent& e) {
        operations.emplace_back(e.operation);
        reported.emplace_back(e.message);
        EXPECT_THROW(std::rethrow_exception(e.error), DecodeError);
    };
    auto backend = flags_backend(o);
    const HashKeyScheme scheme{test_prefix() + "a|"};
    backend->set(scheme.key(1, 1), {golden_flags(), {}});
    backend->set(scheme.key(2, 1), {other_flags(), {}});
    raw(server(), {"HSET", scheme.hash_of(1), "2", bytes({0xdd, 0xff, 0xff, 0xff, 0xff})});

    const auto got = backend->get_multi({scheme.key(1, 1), scheme.key(1, 2), scheme.key(2, 1)});
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0]->value, golden_flags());
    EXPECT_FALSE(got[1]);
    EXPECT_EQ(got[2]->value, other_flags());
    ASSERT_EQ(reported.size(), 1u);
    EXPECT_EQ(operations[0], "get_multi");
    EXPECT_NE(reported[0].find("field '2'"), std::string::npos) << reported[0];
    EXPECT_EQ(backend->stats().decode_errors, 1u);

    // The region regenerates exactly that one and overwrites it.
    FlagsRegion region(backend);
    std::vector<HashKey> asked;
    const auto values =
        region.get_or_create_multi({scheme.key(1, 1), scheme.key(1, 2), scheme.key(2, 1)}, [&](const auto& missing) {
            asked = missing;
            return std::vector<Flags>(missing.size(), golden_flags());
        });
    EXPECT_EQ(asked, (std::vector<HashKey>{scheme.key(1, 2)}));
    EXPECT_EQ(values, (std::vector<Flags>{golden_flags(), golden_flags(), other_flags()}));
    EXPECT_EQ(raw_hget(server(), scheme.hash_of(1), "2"), golden_bytes);
}

// An error hook that counts what it is given, each of which must be a WRONGTYPE.
dogpile::redis::BackendErrorHook counting_wrongtype_hook(int& hooked) {
    return [&hooked](const BackendErrorEvent& e) {
        ++hooked;
        EXPECT_NE(std::string(e.message).find("WRONGTYPE"), std::string::npos) << e.message;
    };
}

TEST(HashCorruptGetMulti, AWrongTypeKeyFailsOnlyItsOwnEntries) {
    int hooked = 0;
    auto o = hash_options(client_for(server()));
    o.error_hook = counting_wrongtype_hook(hooked);
    auto backend = flags_backend(o);
    const HashKeyScheme scheme{test_prefix() + "a|"};
    raw(server(), {"SET", scheme.hash_of("str"), "not a hash"});
    backend->set(scheme.key(1, 1), {golden_flags(), {}});
    const auto got = backend->get_multi({scheme.key("str", 1), scheme.key(1, 1), scheme.key("str", 2)});
    EXPECT_FALSE(got[0]);
    EXPECT_EQ(got[1]->value, golden_flags());
    EXPECT_FALSE(got[2]);
    EXPECT_EQ(hooked, 1);
    EXPECT_EQ(backend->stats().reply_errors, 1u);
    EXPECT_THROW(backend->get(scheme.key("str", 1)), dogpile::redis::ReplyError);
}

// --- limits ----------------------------------------------------------------------------

TEST(HashLimits, OverLongKeysAreRefusedOnWriteAndMissesOnRead) {
    auto o = hash_options(client_for(server()));
    o.limits.max_key_bytes = 64;
    int hooked = 0;
    o.error_hook = [&](const BackendErrorEvent&) { ++hooked; };
    auto backend = flags_backend(o);
    const std::string hash = test_prefix() + "a|1";
    ASSERT_LE(hash.size(), 64u);
    const HashKey ok{hash, "1"};
    const HashKey long_field{hash, std::string(65, 'f')};
    const HashKey long_hash{hash + std::string(64, 'h'), "1"};

    EXPECT_THROW(backend->set(long_field, {golden_flags(), {}}), LimitExceeded);
    EXPECT_THROW(backend->set(long_hash, {golden_flags(), {}}), LimitExceeded);
    // One bad entry fails the whole batch before anything is sent.
    EXPECT_THROW(backend->set_multi({{ok, {golden_flags(), {}}}, {long_field, {golden_flags(), {}}}}), LimitExceeded);
    EXPECT_EQ(raw(server(), {"EXISTS", hash}).integer, 0);
    EXPECT_THROW(backend->get(long_field), LimitExceeded);
    EXPECT_THROW(backend->erase_hash(long_hash.hash), LimitExceeded);

    backend->set(ok, {golden_flags(), {}});
    const auto got = backend->get_multi({long_hash, ok, long_field});
    EXPECT_FALSE(got[0]);
    EXPECT_EQ(got[1]->value, golden_flags());
    EXPECT_FALSE(got[2]);
    EXPECT_EQ(hooked, 2);
    EXPECT_EQ(backend->stats().rejected_keys, 2u);
}

TEST(HashLimits, OverLargePayloadsAreRefusedOnWriteAndDecodeErrorsOnRead) {
    auto o = hash_options(client_for(server()));
    o.limits.max_payload_bytes = 100;
    auto backend = std::make_shared<StringBackend>(o);
    const HashKey key{test_prefix() + "a|1", "1"};
    const std::string message = message_of<LimitExceeded>([&] { backend->set(key, {std::string(200, 'x'), {}}); });
    EXPECT_NE(message.find("max_payload_bytes"), std::string::npos) << message;
    EXPECT_THROW(backend->set_multi({{key, {std::string(200, 'x'), {}}}}), LimitExceeded);
    EXPECT_EQ(raw(server(), {"EXISTS", key.hash}).integer, 0);
    backend->set(key, {std::string(90, 'x'), {}});  // 92 bytes encoded: fits

    // Somebody else stored a bigger one: never decoded, a miss.
    raw(server(), {"HSET", key.hash, key.field, MsgpackCodec<std::string>{}.encode(std::string(200, 'y'))});
    EXPECT_THROW(backend->get(key), DecodeError);
    EXPECT_FALSE(backend->get_multi({key})[0]);
    EXPECT_EQ(backend->stats().decode_errors, 2u);

    Region<std::string, HashKey> region(backend);
    EXPECT_EQ(region.get_or_create(key, [] { return std::string("small"); }), "small");
    EXPECT_EQ(backend->get(key)->value, "small");
}

// --- server restart -------------------------------------------------------------------

TEST(HashRecovery, ServerRestartOnTheSamePortHealsThePool) {
    RedisServer own;
    auto backend = flags_backend(hash_options(client_for(own)));
    std::vector<std::string> errors;
    RegionOptions options;
    options.error_hook = [&](const BackendErrorEvent& e) { errors.emplace_back(e.message); };
    FlagsRegion region(backend, options);
    const HashKey key{"calculated-a|1", "1"};
    int calls = 0;
    auto creator = [&] { return ++calls, golden_flags(); };

    EXPECT_EQ(region.get_or_create(key, creator), golden_flags());
    ASSERT_EQ(calls, 1);

    // Down: the caller still gets a value (the creator's), the error is counted.
    own.kill();
    EXPECT_EQ(region.get_or_create(key, creator), golden_flags());
    EXPECT_EQ(calls, 2);
    EXPECT_GE(region.stats().backend_errors, 1u);
    EXPECT_FALSE(errors.empty());

    // Back on the same port, empty (no data, no scripts): it heals by itself,
    // once the pool's circuit breaker (opened by the refused connects) has
    // let its probe through, within one probe_interval.
    own.start();
    const bool stored = wait_for_condition(
        [&] {
            EXPECT_EQ(region.get_or_create(key, creator), golden_flags());
            return own.raw({"HGET", key.hash, key.field}).str == golden_bytes;
        },
        30s);
    EXPECT_TRUE(stored) << "never stored after the restart";
    EXPECT_GT(own.raw({"PTTL", key.hash}).integer, 0);
    const int before = calls;
    EXPECT_EQ(region.get_or_create(key, creator), golden_flags());
    EXPECT_EQ(calls, before) << "served from Redis again";

    // A restart while the pool is warm (SCRIPT cache gone too).
    own.restart();
    const bool stored_again = wait_for_condition(
        [&] {
            try {
                backend->set_multi({{key, {other_flags(), {}}}});
            } catch (const dogpile::redis::IoError&) {
                return false;  // the dead connection, or the breaker it opened
            }
            return own.raw({"HGET", key.hash, key.field}).str == flags_codec().encode(other_flags());
        },
        30s);
    EXPECT_TRUE(stored_again);
}

// --- distributed lock hook ---------------------------------------------------------------

TEST(HashLock, NoDistributedLockUnlessConfigured) {
    auto backend = flags_backend(hash_options(client_for(server())));
    EXPECT_EQ(backend->get_mutex(HashKey{"h", "f"}), nullptr);
}

TEST(HashLock, LockResourcesAreUnambiguous) {
    EXPECT_EQ(FlagsBackend::lock_resource(HashKey{"calculated-a|7", "42"}), "14:calculated-a|7|42");
    EXPECT_NE(FlagsBackend::lock_resource(HashKey{"a|b", "c"}), FlagsBackend::lock_resource(HashKey{"a", "b|c"}));
}

TEST(HashLock, ConfiguredLockGuardsCreationThroughRedis) {
    auto client = client_for(server());
    auto o = hash_options(client);
    o.distributed_lock = dogpile::redis::LockOptions{};
    o.distributed_lock->prefix = test_prefix() + "lock|";
    auto backend = flags_backend(o);
    const HashKey key{test_prefix() + "calculated-a|7", "42"};
    const std::string lock_key = o.distributed_lock->prefix + FlagsBackend::lock_resource(key);

    auto mutex = backend->get_mutex(key);
    ASSERT_NE(mutex, nullptr);
    ASSERT_TRUE(mutex->try_lock());
    EXPECT_EQ(raw(server(), {"EXISTS", lock_key}).integer, 1);
    auto other = backend->get_mutex(key);
    EXPECT_FALSE(other->try_lock());
    mutex->unlock();
    EXPECT_EQ(raw(server(), {"EXISTS", lock_key}).integer, 0);

    // The region takes it around creation and releases it.
    FlagsRegion region(backend);
    bool held_while_creating = false;
    EXPECT_EQ(region.get_or_create(key,
                                   [&] {
                                       held_while_creating = server().raw({"EXISTS", lock_key}).integer == 1;
                                       return golden_flags();
                                   }),
              golden_flags());
    EXPECT_TRUE(held_while_creating);
    EXPECT_EQ(raw(server(), {"EXISTS", lock_key}).integer, 0);
    EXPECT_EQ(backend->get(key)->value, golden_flags());
}

// --- interop with a Python service ----------------------------------------------------------

Flags interop_flags(int a, int b) {
    Flags flags;
    for (int i = 0; i < 25; ++i) {
        char name[16];
        std::snprintf(name, sizeof name, "perm_%02d", i);
        flags.emplace(name, (a * 31 + b * 17 + i) % 3 == 0);
    }
    return flags;
}

Dict interop_dict(int a, int b) {
    return Dict{{"id", b},
                {"name", "obj-" + std::to_string(b)},
                {"owner", Dict{{"admin", a % 2 == 0}, {"id", a}}},
                {"tags", List{"x", b, nullptr}}};
}

struct PythonRun {
    int status = -1;
    std::string output;
};

PythonRun run_python(const std::string& args) {
    const std::string command =
        "/usr/bin/python3 " DOGPILE_SOURCE_DIR "/tests/interop/hash_store_interop.py " + args + " 2>&1";
    PythonRun run;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) {
        run.output = "popen failed: " + command;
        return run;
    }
    std::array<char, 4096> buffer{};
    std::size_t got = 0;
    while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) run.output.append(buffer.data(), got);
    const int status = ::pclose(pipe);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (run.status == 127)
        run.output += "\n/usr/bin/python3 not found: apt-get install python3 python3-redis python3-msgpack";
    return run;
}

// Where the Python side connects: the port, or a redis-py rediss:// URL
// trusting the test CA when the shared server speaks TLS.
std::string python_server_address() {
    const auto& tls = server().server_options().tls;
    if (!tls) return std::to_string(server().port());
    return "rediss://127.0.0.1:" + std::to_string(server().port()) + "/0?ssl_ca_certs=" + tls->ca_file;
}

TEST(HashStoreInterop, PythonReadsWhatCppWritesAndTheOtherWayRound) {
    const auto ttl = std::chrono::minutes(10);
    const std::string ttl_ms = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count());
    const std::string prefix = "interop:";
    auto client = client_for(server());
    auto flags =
        std::make_shared<FlagsBackend>(hash_options(client, ttl), FlagsCodec{KeyTemplate::of(interop_flags(0, 0))});
    using DictBackend = RedisHashBackend<Dict, ValuesCodec<Dict>>;
    auto dicts = std::make_shared<DictBackend>(hash_options(client, ttl),
                                               ValuesCodec<Dict>{KeyTemplate::of(interop_dict(0, 0))});
    const HashKeyScheme flags_scheme{prefix + "flags-a|"};
    const HashKeyScheme dict_scheme{prefix + "dict-a|"};

    // C++ writes a in 1..3, b in 10..13 (through set and set_multi).
    Region<Flags, HashKey> flags_region(flags);
    std::vector<std::pair<HashKey, DictBackend::entry_type>> dict_entries;
    for (int a = 1; a <= 3; ++a) {
        for (int b = 10; b <= 13; ++b) {
            flags_region.get_or_create(flags_scheme.key(a, b), [&] { return interop_flags(a, b); });
            dict_entries.push_back({dict_scheme.key(a, b), {interop_dict(a, b), {}}});
        }
    }
    dicts->set_multi(dict_entries);

    const PythonRun read = run_python("read " + python_server_address() + " " + prefix + " " + ttl_ms);
    ASSERT_EQ(read.status, 0) << read.output;
    EXPECT_NE(read.output.find("OK read 24 entries"), std::string::npos) << read.output;

    // Python writes a in 4..5, b in 20..21 with its own HSET + PEXPIRE.
    const PythonRun write = run_python("write " + python_server_address() + " " + prefix + " " + ttl_ms);
    ASSERT_EQ(write.status, 0) << write.output;
    std::vector<HashKey> flag_keys, dict_keys;
    for (int a = 4; a <= 5; ++a) {
        for (int b = 20; b <= 21; ++b) {
            flag_keys.push_back(flags_scheme.key(a, b));
            dict_keys.push_back(dict_scheme.key(a, b));
        }
    }
    const auto got_flags = flags->get_multi(flag_keys);
    const auto got_dicts = dicts->get_multi(dict_keys);
    std::size_t i = 0;
    for (int a = 4; a <= 5; ++a) {
        for (int b = 20; b <= 21; ++b, ++i) {
            ASSERT_TRUE(got_flags[i]) << a << "/" << b;
            ASSERT_TRUE(got_dicts[i]) << a << "/" << b;
            EXPECT_EQ(got_flags[i]->value, interop_flags(a, b));
            EXPECT_EQ(got_dicts[i]->value, interop_dict(a, b));
            EXPECT_EQ(got_flags[i]->metadata.expiry_owner, ExpiryOwner::store);
            EXPECT_EQ(flags->get(flag_keys[i])->value, interop_flags(a, b));
        }
        EXPECT_GT(pttl(server(), flags_scheme.hash_of(a)), 0);
    }
    // The region serves Python's entries as hits.
    int calls = 0;
    EXPECT_EQ(flags_region.get_or_create(flags_scheme.key(4, 20), [&] { return ++calls, Flags{}; }),
              interop_flags(4, 20));
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(flags->stats().decode_errors, 0u);
}


// =====================================================================================
// --- get_multi splits its reads: at most max_fields_per_read fields per HMGET ----------
// A hash's fields are read by several HMGETs, all in the one batch, so no single reply
// outgrows a server's client-output-buffer-limit (which kills the connection and turns
// every key into a miss, recomputed on every call).
// =====================================================================================

class HashReadSplit : public OnEachServerKind {};
INSTANTIATE_TEST_SUITE_P(Servers, HashReadSplit,
                         ::testing::Values(ServerKind::single, ServerKind::cluster, ServerKind::pipelined), kind_name);

// Sets client-output-buffer-limit on every master of the target for the
// lifetime of the object, then puts back what was there.
class OutputBufferLimit {
public:
    OutputBufferLimit(const Target& target, const std::string& limit) : target_(target) {
        const RawReply saved = raw(target_, {"CONFIG", "GET", "client-output-buffer-limit"});
        if (saved.elements.size() == 2) saved_ = saved.elements[1].str;
        raw_each_ok({"CONFIG", "SET", "client-output-buffer-limit", limit});
    }
    ~OutputBufferLimit() {
        if (!saved_.empty()) raw_each_ok({"CONFIG", "SET", "client-output-buffer-limit", saved_});
    }
    OutputBufferLimit(const OutputBufferLimit&) = delete;
    OutputBufferLimit& operator=(const OutputBufferLimit&) = delete;

private:
    void raw_each_ok(const std::vector<std::string>& argv) const {
        for (const RawReply& r : target_.raw_each(argv)) EXPECT_FALSE(r.is_error()) << r.str;
    }

    const Target& target_;
    std::string saved_;
};

TEST_P(HashReadSplit, TenThousandFieldsOfOneHashSurviveASixtyFourKilobyteOutputBufferLimit) {
    constexpr int fields = 10000;
    auto client = client_for(server());
    int hooked = 0;
    auto o = hash_options(client);
    o.error_hook = [&](const BackendErrorEvent& e) {
        ++hooked;
        ADD_FAILURE() << e.operation << ": " << e.message;
    };
    auto backend = flags_backend(o);
    const std::string hash = test_prefix() + "calculated-a|1";
    std::vector<std::pair<HashKey, FlagsBackend::entry_type>> entries;
    std::vector<HashKey> keys;
    for (int b = 0; b < fields; ++b) {
        keys.push_back(HashKey{hash, std::to_string(b)});
        entries.push_back({keys.back(), {b % 2 ? golden_flags() : other_flags(), {}}});
    }
    backend->set_multi(entries);
    ASSERT_EQ(raw(server(), {"HLEN", hash}).integer, fields);

    // One HMGET of all 10,000 fields answers ~150 kB (15 bytes a field); a
    // chunk of 1,000 about 15 kB.
    const OutputBufferLimit limit(server(), "normal 65536 0 0");
    raw(server(), {"CONFIG", "RESETSTAT"});
    const auto before = client->round_trips();
    std::vector<std::optional<FlagsBackend::entry_type>> got;
    ASSERT_NO_THROW(got = backend->get_multi(keys));
    EXPECT_EQ(client->round_trips() - before, 1u) << "every chunk in one batch";
    EXPECT_EQ(command_calls(server(), "hmget"), (fields + 999) / 1000) << "1000 fields per HMGET by default";
    ASSERT_EQ(got.size(), keys.size());
    std::size_t served = 0;
    for (int b = 0; b < fields; ++b) {
        const auto& entry = got[static_cast<std::size_t>(b)];
        if (!entry) continue;
        ++served;
        EXPECT_EQ(entry->value, b % 2 ? golden_flags() : other_flags()) << b;
    }
    EXPECT_EQ(served, keys.size());
    EXPECT_EQ(hooked, 0);
    EXPECT_EQ(backend->stats().reply_errors, 0u);
    EXPECT_EQ(backend->stats().decode_errors, 0u);

    // The symptom of the issue: the region recomputed every entry on every call.
    FlagsRegion region(backend);
    std::size_t created = 0;
    region.get_or_create_multi(keys, [&](const std::vector<HashKey>& missing) {
        created += missing.size();
        return std::vector<Flags>(missing.size(), golden_flags());
    });
    EXPECT_EQ(created, 0u);
    EXPECT_EQ(region.stats().backend_errors, 0u);
}

TEST_P(HashReadSplit, MaxFieldsPerReadSetsTheChunkAndKeepsOrder) {
    auto client = client_for(server());
    auto o = hash_options(client);
    o.max_fields_per_read = 7;
    auto backend = flags_backend(o);
    const HashKeyScheme scheme{test_prefix() + "a|"};
    std::vector<std::pair<HashKey, FlagsBackend::entry_type>> entries;
    for (int b = 0; b < 20; ++b) entries.push_back({scheme.key(1, b), {b % 3 ? golden_flags() : other_flags(), {}}});
    for (int b = 0; b < 5; ++b) entries.push_back({scheme.key(2, b), {other_flags(), {}}});
    backend->set_multi(entries);

    // The two hashes interleaved, a duplicate and a miss: results still in
    // the caller's order.
    std::vector<HashKey> keys;
    for (int b = 0; b < 20; ++b) {
        keys.push_back(scheme.key(1, b));
        if (b < 5) keys.push_back(scheme.key(2, b));
    }
    keys.push_back(scheme.key(1, 3));
    keys.push_back(scheme.key(1, 99));
    raw(server(), {"CONFIG", "RESETSTAT"});
    const auto before = client->round_trips();
    const auto got = backend->get_multi(keys);
    EXPECT_EQ(client->round_trips() - before, 1u * server().nodes_of({scheme.hash_of(1), scheme.hash_of(2)}));
    EXPECT_EQ(command_calls(server(), "hmget"), 5) << "hash 1: 22 fields by 7, 4 HMGETs; hash 2: 5 fields, 1";
    ASSERT_EQ(got.size(), keys.size());
    for (std::size_t i = 0; i + 1 < keys.size(); ++i) {
        ASSERT_TRUE(got[i]) << keys[i];
        const int b = std::stoi(keys[i].field);
        const bool first = keys[i].hash == scheme.hash_of(1);
        EXPECT_EQ(got[i]->value, first && b % 3 ? golden_flags() : other_flags()) << keys[i];
    }
    EXPECT_FALSE(got.back());

    // 20 fields of one hash by 7: 7 + 7 + 6.
    std::vector<HashKey> twenty;
    for (int b = 0; b < 20; ++b) twenty.push_back(scheme.key(1, b));
    raw(server(), {"CONFIG", "RESETSTAT"});
    const auto again = client->round_trips();
    const auto all = backend->get_multi(twenty);
    EXPECT_EQ(client->round_trips() - again, 1u);
    EXPECT_EQ(command_calls(server(), "hmget"), 3);
    for (const auto& entry : all) EXPECT_TRUE(entry);

    // No split at all: the largest value is not an overflow.
    auto whole = hash_options(client);
    whole.max_fields_per_read = ~std::size_t{0};
    raw(server(), {"CONFIG", "RESETSTAT"});
    const auto unsplit = flags_backend(whole)->get_multi(twenty);
    EXPECT_EQ(command_calls(server(), "hmget"), 1);
    for (const auto& entry : unsplit) EXPECT_TRUE(entry);
}

TEST(HashReadSplitOptions, FieldsPerReadMustBeAtLeastOne) {
    auto client = client_for(server());
    auto o = hash_options(client);
    EXPECT_EQ(o.max_fields_per_read, 1000u) << "the default";
    o.max_fields_per_read = 0;
    const std::string message = message_of<ConfigurationError>([&] { FlagsBackend(o, flags_codec()); });
    EXPECT_NE(message.find("max_fields_per_read"), std::string::npos) << message;
    o.max_fields_per_read = 1;
    EXPECT_NO_THROW(FlagsBackend(o, flags_codec()));

    dogpile::RedisSymmetricBackendOptions symmetric{client, std::chrono::hours(1)};
    EXPECT_EQ(symmetric.max_pairs_per_read, 1000u);
    symmetric.max_pairs_per_read = 0;
    const std::string symmetric_message = message_of<ConfigurationError>(
        [&] { dogpile::RedisSymmetricBackend<Flags, FlagsCodec>(symmetric, flags_codec()); });
    EXPECT_NE(symmetric_message.find("max_pairs_per_read"), std::string::npos) << symmetric_message;
}

// The symmetric store reads through the same code: its a-side hash is split too.
TEST(HashReadSplitOptions, TheSymmetricStoreSplitsItsReadsToo) {
    auto client = client_for(server());
    dogpile::RedisSymmetricBackendOptions o{client, std::chrono::hours(1)};
    o.a_prefix = test_prefix() + "a2b-a|";
    o.b_prefix = test_prefix() + "a2b-b|";
    o.max_pairs_per_read = 7;
    dogpile::RedisSymmetricBackend<Flags, FlagsCodec> backend(o, flags_codec());
    std::vector<std::pair<dogpile::A2BKey, FlagsBackend::entry_type>> entries;
    std::vector<dogpile::A2BKey> keys;
    for (int b = 0; b < 20; ++b) {
        keys.push_back(dogpile::A2BKey{"1", std::to_string(b)});
        entries.push_back({keys.back(), {b % 2 ? golden_flags() : other_flags(), {}}});
    }
    backend.set_multi(entries);
    raw(server(), {"CONFIG", "RESETSTAT"});
    const auto before = client->round_trips();
    const auto got = backend.get_multi(keys);
    EXPECT_EQ(client->round_trips() - before, 1u);
    EXPECT_EQ(command_calls(Target(ServerKind::single), "hmget"), 3);
    ASSERT_EQ(got.size(), keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        ASSERT_TRUE(got[i]) << i;
        EXPECT_EQ(got[i]->value, i % 2 ? golden_flags() : other_flags()) << i;
    }
}

// A Client that hands every call to a real one, but batch() sends other
// commands in the given places: how one HMGET of a batch is made to fail
// while the others around it are served.
class ReplacingClient final : public dogpile::redis::Client {
public:
    using Replacements = std::vector<std::pair<std::size_t, dogpile::redis::Command>>;

    ReplacingClient(std::shared_ptr<dogpile::redis::Client> inner, Replacements replacements)
        : inner_(std::move(inner)), replacements_(std::move(replacements)) {}

    using Client::batch;
    using Client::command;
    using Client::eval;

    dogpile::redis::Reply command(std::string_view key, const dogpile::redis::Command& cmd) override {
        return inner_->command(key, cmd);
    }
    std::vector<dogpile::redis::Reply> pipeline(std::string_view key,
                                                const std::vector<dogpile::redis::Command>& commands) override {
        return inner_->pipeline(key, commands);
    }
    std::vector<dogpile::redis::Reply> batch(const std::vector<dogpile::redis::KeyedCommand>& commands,
                                             const std::vector<const dogpile::redis::Script*>& scripts) override {
        std::vector<dogpile::redis::KeyedCommand> sent = commands;
        for (const auto& [at, replacement] : replacements_) {
            if (at < sent.size()) sent[at].command = replacement;
        }
        return inner_->batch(sent, scripts);
    }
    dogpile::redis::Reply eval(const dogpile::redis::Script& script, const dogpile::redis::ScriptCall& call) override {
        return inner_->eval(script, call);
    }
    std::vector<dogpile::redis::Reply> eval_batch(const dogpile::redis::Script& script,
                                                  const std::vector<dogpile::redis::ScriptCall>& calls) override {
        return inner_->eval_batch(script, calls);
    }
    void with_connection(std::string_view key, const std::function<void(dogpile::redis::Connection&)>& fn) override {
        inner_->with_connection(key, fn);
    }
    dogpile::redis::ConnectionOptions connection_options(std::string_view key) const override {
        return inner_->connection_options(key);
    }
    std::uint64_t round_trips() const override { return inner_->round_trips(); }

private:
    std::shared_ptr<dogpile::redis::Client> inner_;
    Replacements replacements_;
};

TEST_P(HashReadSplit, AnErrorReplyCostsOnlyItsOwnChunk) {
    const std::string hash = test_prefix() + "a|1";
    std::vector<std::pair<HashKey, StringBackend::entry_type>> entries;
    std::vector<HashKey> keys;
    for (int b = 0; b < 20; ++b) {
        keys.push_back(HashKey{hash, std::to_string(b)});
        entries.push_back({keys.back(), {"v" + std::to_string(b), {}}});
    }
    StringBackend(hash_options(client_for(server()))).set_multi(entries);

    // The second HMGET (fields 8..14) sent without fields: the server answers
    // it with an error, the first and the third as usual.
    auto client = std::make_shared<ReplacingClient>(
        client_for(server()), ReplacingClient::Replacements{{1, dogpile::redis::Command{"HMGET", hash}}});
    std::vector<std::string> reported;
    auto o = hash_options(client);
    o.max_fields_per_read = 7;
    o.error_hook = [&](const BackendErrorEvent& e) {
        EXPECT_EQ(std::string(e.operation), "get_multi");
        EXPECT_THROW(std::rethrow_exception(e.error), dogpile::redis::ReplyError);
        reported.emplace_back(e.message);
    };
    StringBackend backend(o);
    const auto got = backend.get_multi(keys);
    ASSERT_EQ(got.size(), 20u);
    for (int b = 0; b < 20; ++b) {
        const auto& entry = got[static_cast<std::size_t>(b)];
        if (b >= 7 && b < 14) {
            EXPECT_FALSE(entry) << b;
        } else {
            ASSERT_TRUE(entry) << b;
            EXPECT_EQ(entry->value, "v" + std::to_string(b));
        }
    }
    ASSERT_EQ(reported.size(), 1u);
    EXPECT_NE(reported[0].find("fields 8..14 of 20"), std::string::npos) << reported[0];
    EXPECT_EQ(backend.stats().reply_errors, 1u);

    // An error about the connection in one chunk concerns every key: it throws.
    auto busy = std::make_shared<ReplacingClient>(
        client_for(server()),
        ReplacingClient::Replacements{
            {2, dogpile::redis::Command{"EVAL", "return redis.error_reply('BUSY pretend a script runs')", "0"}}});
    auto busy_options = hash_options(busy);
    busy_options.max_fields_per_read = 7;
    StringBackend busy_backend(busy_options);
    const std::string message = message_of<dogpile::redis::ReplyError>([&] { busy_backend.get_multi(keys); });
    EXPECT_NE(message.find("BUSY"), std::string::npos) << message;
    EXPECT_NE(message.find("fields 15..20 of 20"), std::string::npos) << message;
}

TEST_P(HashReadSplit, AWrongTypeKeyFailsEachOfItsChunksAndNothingElse) {
    int hooked = 0;
    auto o = hash_options(client_for(server()));
    o.max_fields_per_read = 7;
    o.error_hook = counting_wrongtype_hook(hooked);
    auto backend = flags_backend(o);
    const HashKeyScheme scheme{test_prefix() + "a|"};
    raw(server(), {"SET", scheme.hash_of("str"), "not a hash"});
    std::vector<std::pair<HashKey, FlagsBackend::entry_type>> entries;
    std::vector<HashKey> keys;
    for (int b = 0; b < 20; ++b) {
        keys.push_back(scheme.key("str", b));
        keys.push_back(scheme.key(1, b));
        entries.push_back({keys.back(), {golden_flags(), {}}});
    }
    backend->set_multi(entries);
    const auto got = backend->get_multi(keys);
    ASSERT_EQ(got.size(), 40u);
    for (std::size_t i = 0; i < got.size(); ++i) {
        if (i % 2 == 0) {
            EXPECT_FALSE(got[i]) << i;
        } else {
            ASSERT_TRUE(got[i]) << i;
            EXPECT_EQ(got[i]->value, golden_flags());
        }
    }
    EXPECT_EQ(hooked, 3) << "one report per HMGET: 20 fields by 7";
    EXPECT_EQ(backend->stats().reply_errors, 3u);
}

}  // namespace

// --- FlagSet and Flags regions share one hash store ------------------------------

// The workload's two value types write the same bytes: a region of either
// reads what a region of the other wrote, for both flag codecs.
template <class FlagsCodecType, class FlagSetCodecType>
void expect_flags_and_flag_set_regions_share_entries(const std::string& prefix) {
    using dogpile::codec::FlagSet;
    using dogpile::codec::FlagTemplate;
    const KeyTemplate key_template = KeyTemplate::of(golden_flags());
    const FlagTemplate& names = FlagTemplate::of(key_template);
    RedisHashBackendOptions options{client_for(server()), 1h};
    Region<Flags, HashKey> flags_region(
        std::make_shared<RedisHashBackend<Flags, FlagsCodecType>>(options, FlagsCodecType{key_template}));
    Region<FlagSet, HashKey> flag_set_region(
        std::make_shared<RedisHashBackend<FlagSet, FlagSetCodecType>>(options, FlagSetCodecType{names}));
    const HashKeyScheme scheme(prefix);

    flags_region.set(scheme.key(1, 1), golden_flags());
    const std::optional<FlagSet> read = flag_set_region.get(scheme.key(1, 1));
    ASSERT_TRUE(read.has_value());
    EXPECT_EQ(read->to_flags(), golden_flags());
    EXPECT_TRUE((*read)["a"]);
    EXPECT_FALSE((*read)["bb"]);

    flag_set_region.set(scheme.key(1, 2), FlagSet::from_flags(names, other_flags()));
    EXPECT_EQ(flags_region.get(scheme.key(1, 2)), std::optional<Flags>(other_flags()));
    EXPECT_EQ(raw_hget(server(), scheme.hash_of(1), "1"),
              std::optional<std::string>(FlagsCodecType{key_template}.encode(golden_flags())));
    EXPECT_EQ(raw_hget(server(), scheme.hash_of(1), "2"),
              std::optional<std::string>(FlagSetCodecType{names}.encode(FlagSet::from_flags(names, other_flags()))));
    EXPECT_EQ(flag_set_region.stats().misses, 0u);
    EXPECT_EQ(flags_region.stats().backend_errors + flag_set_region.stats().backend_errors, 0u);
}

TEST(FlagSetHashStore, ValuesOnlyFlagsAndFlagSetRegionsReadEachOthersEntries) {
    expect_flags_and_flag_set_regions_share_entries<FlagsCodec, dogpile::codec::FlagSetCodec>(test_prefix());
}

TEST(FlagSetHashStore, BitpackedFlagsAndFlagSetRegionsReadEachOthersEntries) {
    expect_flags_and_flag_set_regions_share_entries<dogpile::codec::BitpackedCodec,
                                                    dogpile::codec::BitpackedFlagSetCodec>(test_prefix());
}

TEST(FlagSetHashStore, TheGoldenBytesAreTheFlagSetsToo) {
    using dogpile::codec::FlagSet;
    const auto& names = dogpile::codec::FlagTemplate::of(KeyTemplate::of(golden_flags()));
    RedisHashBackendOptions options{client_for(server()), 1h};
    Region<FlagSet, HashKey> region(std::make_shared<RedisHashBackend<FlagSet, dogpile::codec::FlagSetCodec>>(
        options, dogpile::codec::FlagSetCodec{names}));
    const HashKeyScheme scheme(test_prefix());
    raw(server(), {"HSET", scheme.hash_of(3), "4", golden_bytes});
    const FlagSet value = region.get_or_create(scheme.key(3, 4), [&] { return FlagSet(names); });
    EXPECT_EQ(value, FlagSet::from_flags(names, golden_flags()));
    EXPECT_EQ(region.stats().creations, 0u);
}
