// RedisSymmetricBackend against a real redis-server: both directions written
// (by one script in atomic mode, mirrors first in per-node mode), the TTL rule
// on both, invalidation of either side removing exactly the mirror fields,
// NOSCRIPT recovery, binary-safe ids, corrupt payloads and the Region on top.
// The behavioural suites run in both modes (SymmetricMode); the cluster side
// of the modes is in test_redis_cluster_backends.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <dogpile/backends/redis/symmetric.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "support/redis_server.hpp"
#include "support/message_of.hpp"

// Test names and failure messages show the mode by name.
namespace dogpile::redis {
void PrintTo(SymmetricMode mode, std::ostream* out) { *out << to_string(mode); }
}  // namespace dogpile::redis

namespace {

using namespace std::chrono_literals;
using dogpile::A2BKey;
using dogpile::BackendErrorEvent;
using dogpile::ConfigurationError;
using dogpile::DecodeError;
using dogpile::Region;
using dogpile::RedisSymmetricBackend;
using dogpile::RedisSymmetricBackendOptions;
using dogpile::codec::Flags;
using dogpile::codec::FlagsCodec;
using dogpile::codec::KeyTemplate;
using dogpile::redis::ReplyError;
using dogpile::redis::SymmetricMode;
using dogpile::redis::TtlPolicy;
using dogpile::test::RawReply;
using dogpile::test::RedisServer;

using Backend = RedisSymmetricBackend<Flags, FlagsCodec>;
using Entry = Backend::entry_type;

Flags flags(bool read, bool write) { return {{"read", read}, {"write", write}}; }
FlagsCodec codec() { return FlagsCodec{KeyTemplate{"read", "write"}}; }
std::string encoded(const Flags& f) { return codec().encode(f); }
Entry entry(const Flags& f) { return Entry{f, {}}; }

std::string test_prefix() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->test_suite_name()) + "." + info->name() + ":";
}

RedisServer& server() { return RedisServer::shared(); }

RawReply raw(const std::vector<std::string>& argv) {
    RawReply r = server().raw(argv);
    EXPECT_FALSE(r.is_error()) << argv.front() << ": " << r.str;
    return r;
}

std::optional<std::string> hget(const std::string& hash, const std::string& field) {
    RawReply r = raw({"HGET", hash, field});
    if (r.is_nil()) return std::nullopt;
    return r.str;
}

std::vector<std::string> hkeys(const std::string& hash) {
    std::vector<std::string> out;
    for (const auto& e : raw({"HKEYS", hash}).elements) out.push_back(e.str);
    std::sort(out.begin(), out.end());
    return out;
}

long long pttl(const std::string& key) { return raw({"PTTL", key}).integer; }
bool exists(const std::string& key) { return raw({"EXISTS", key}).integer == 1; }

// Per-test prefixes keep tests on the shared server apart.
RedisSymmetricBackendOptions mode_options(SymmetricMode mode,
                                          std::optional<dogpile::Duration> ttl = std::chrono::hours(1),
                                          TtlPolicy policy = TtlPolicy::on_create) {
    RedisSymmetricBackendOptions o;
    o.client = dogpile::redis::make_client(server().url());
    o.ttl = ttl;
    o.ttl_policy = policy;
    o.a_prefix = test_prefix() + "a2b-a|";
    o.b_prefix = test_prefix() + "a2b-b|";
    o.mode = mode;
    return o;
}

RedisSymmetricBackendOptions options(std::optional<dogpile::Duration> ttl = std::chrono::hours(1),
                                     TtlPolicy policy = TtlPolicy::on_create) {
    return mode_options(SymmetricMode::atomic, ttl, policy);
}

// The suites below run once per mode: options() inside them means "in this
// test's mode", and test_prefix() differs per mode (".../atomic" vs
// ".../per_node"), so the two runs never share keys.
class SymmetricModeTest : public ::testing::TestWithParam<SymmetricMode> {
protected:
    SymmetricMode mode() const { return GetParam(); }
    RedisSymmetricBackendOptions options(std::optional<dogpile::Duration> ttl = std::chrono::hours(1),
                                         TtlPolicy policy = TtlPolicy::on_create) const {
        return mode_options(mode(), ttl, policy);
    }
};

std::string mode_name(const ::testing::TestParamInfo<SymmetricMode>& info) {
    return dogpile::redis::to_string(info.param);
}

#define DOGPILE_SYMMETRIC_MODES(suite) \
    INSTANTIATE_TEST_SUITE_P(Modes, suite, ::testing::Values(SymmetricMode::atomic, SymmetricMode::per_node), mode_name)

std::string a_hash(const std::string& a) { return test_prefix() + "a2b-a|" + a; }
std::string b_hash(const std::string& b) { return test_prefix() + "a2b-b|" + b; }

using dogpile::test::message_of;

// --- options -----------------------------------------------------------------------

TEST(SymmetricOptions, DefaultsAreTheDesignPrefixes) {
    const RedisSymmetricBackendOptions o;
    EXPECT_EQ(o.a_prefix, "a2b-a|");
    EXPECT_EQ(o.b_prefix, "a2b-b|");
    EXPECT_EQ(o.ttl_policy, TtlPolicy::on_create);
    EXPECT_EQ(o.mode, SymmetricMode::atomic);
    EXPECT_STREQ(dogpile::redis::to_string(SymmetricMode::atomic), "atomic");
    EXPECT_STREQ(dogpile::redis::to_string(SymmetricMode::per_node), "per_node");
}

TEST(SymmetricOptions, RejectsOptionsThatCannotWork) {
    auto make = [](auto&& tweak) {
        auto o = options();
        tweak(o);
        return message_of<ConfigurationError>([&] { Backend(o, codec()); });
    };
    EXPECT_NE(make([](auto& o) { o.client = nullptr; }).find("client"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.b_prefix = o.a_prefix; }).find("a_prefix"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.b_prefix = o.a_prefix + "x"; }).find("a_prefix"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.a_prefix.clear(); }).find("a_prefix"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.ttl.reset(); }).find("needs a ttl"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.ttl_policy = TtlPolicy::none; }).find("none"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.max_pairs_per_call = 0; }).find("max_pairs_per_call"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.max_pairs_per_call = 100000; }).find("max_pairs_per_call"), std::string::npos);
    EXPECT_NE(make([](auto& o) { o.mode = static_cast<SymmetricMode>(7); }).find("mode"), std::string::npos);
}

TEST(SymmetricOptions, DocumentedConstructionCompilesAndWorks) {
    // As in the header comment of backends/redis/symmetric.hpp (with this test's prefixes).
    auto client = dogpile::redis::make_client(server().url());
    dogpile::RedisSymmetricBackendOptions o{client, std::chrono::hours(1)};
    o.a_prefix = test_prefix() + "a2b-a|";
    o.b_prefix = test_prefix() + "a2b-b|";
    auto backend = std::make_shared<dogpile::RedisSymmetricBackend<Flags, FlagsCodec>>(o, codec());
    dogpile::Region<Flags, dogpile::A2BKey> region(backend);
    EXPECT_EQ(region.get_or_create(dogpile::A2BKey{"7", "42"}, [] { return flags(true, true); }), flags(true, true));
    EXPECT_EQ(backend->invalidate_b("42"), 1u);
    EXPECT_FALSE(exists(a_hash("7")));
}

TEST(A2BKeyType, ComparesAndHashes) {
    EXPECT_EQ((A2BKey{"1", "2"}), (A2BKey{"1", "2"}));
    EXPECT_NE((A2BKey{"1", "2"}), (A2BKey{"2", "1"}));
    EXPECT_LT((A2BKey{"1", "9"}), (A2BKey{"2", "0"}));
    EXPECT_LT((A2BKey{"1", "1"}), (A2BKey{"1", "2"}));
    EXPECT_NE(std::hash<A2BKey>{}(A2BKey{"1", "2"}), std::hash<A2BKey>{}(A2BKey{"2", "1"}));
}

// --- layout and TTL ------------------------------------------------------------------

class SymmetricLayout : public SymmetricModeTest {};
DOGPILE_SYMMETRIC_MODES(SymmetricLayout);

TEST_P(SymmetricLayout, AWriteLandsInBothDirections) {
    Backend backend(options(), codec());
    backend.set(A2BKey{"7", "42"}, entry(flags(true, false)));
    EXPECT_EQ(hget(a_hash("7"), "42"), encoded(flags(true, false)));
    EXPECT_EQ(hget(b_hash("42"), "7"), encoded(flags(true, false)));
    EXPECT_EQ(hkeys(a_hash("7")), (std::vector<std::string>{"42"}));
    EXPECT_EQ(hkeys(b_hash("42")), (std::vector<std::string>{"7"}));
    EXPECT_GT(pttl(a_hash("7")), 3600000 - 60000);
    EXPECT_GT(pttl(b_hash("42")), 3600000 - 60000);

    const auto got = backend.get(A2BKey{"7", "42"});
    ASSERT_TRUE(got);
    EXPECT_EQ(got->value, flags(true, false));
    EXPECT_EQ(got->metadata.expiry_owner, dogpile::ExpiryOwner::store);
    EXPECT_FALSE(backend.get(A2BKey{"42", "7"}));
}

class SymmetricTtl : public SymmetricModeTest {};
DOGPILE_SYMMETRIC_MODES(SymmetricTtl);

TEST_P(SymmetricTtl, OnCreateNeverProlongsEitherSide) {
    Backend backend(options(), codec());
    backend.set(A2BKey{"7", "42"}, entry(flags(true, true)));
    raw({"PEXPIRE", a_hash("7"), "5000"});
    raw({"PEXPIRE", b_hash("42"), "5000"});
    backend.set(A2BKey{"7", "43"}, entry(flags(true, true)));
    backend.set_multi({{A2BKey{"8", "42"}, entry(flags(false, true))}, {A2BKey{"7", "44"}, entry(flags(true, true))}});
    EXPECT_LE(pttl(a_hash("7")), 5000);
    EXPECT_LE(pttl(b_hash("42")), 5000);
    EXPECT_GT(pttl(b_hash("43")), 3600000 - 60000);
    EXPECT_GT(pttl(a_hash("8")), 3600000 - 60000);
    EXPECT_GT(pttl(b_hash("44")), 3600000 - 60000);
}

TEST_P(SymmetricTtl, RefreshOnWriteAndNone) {
    Backend refresh(options(std::chrono::hours(1), TtlPolicy::refresh_on_write), codec());
    refresh.set(A2BKey{"1", "2"}, entry(flags(true, true)));
    raw({"PEXPIRE", a_hash("1"), "5000"});
    raw({"PEXPIRE", b_hash("2"), "5000"});
    refresh.set(A2BKey{"1", "2"}, entry(flags(false, false)));
    EXPECT_GT(pttl(a_hash("1")), 3600000 - 60000);
    EXPECT_GT(pttl(b_hash("2")), 3600000 - 60000);

    Backend none(options(std::nullopt, TtlPolicy::none), codec());
    none.set_multi({{A2BKey{"3", "4"}, entry(flags(true, true))}});
    EXPECT_EQ(pttl(a_hash("3")), -1);
    EXPECT_EQ(pttl(b_hash("4")), -1);
    EXPECT_EQ(none.get(A2BKey{"3", "4"})->value, flags(true, true));
}

// --- batches -----------------------------------------------------------------------

class SymmetricBatches : public SymmetricModeTest {};
DOGPILE_SYMMETRIC_MODES(SymmetricBatches);

// Per-node mode writes in two steps (mirrors, then entries), each one round
// trip on one server.
TEST_P(SymmetricBatches, SetMultiAndGetMultiAreOneRoundTripEach) {
    auto o = options();
    o.max_pairs_per_call = 3;  // several calls for one a, still one round trip
    auto client = o.client;
    Backend backend(o, codec());
    backend.set(A2BKey{"warm", "up"}, entry(flags(true, true)));  // loads the script
    std::vector<std::pair<A2BKey, Entry>> entries;
    std::vector<A2BKey> keys;
    for (int a = 0; a < 20; ++a) {
        for (int b = 0; b < 10; ++b) {
            keys.push_back(A2BKey{std::to_string(a), std::to_string(b)});
            if ((a + b) % 4 != 0) entries.push_back({keys.back(), entry(flags(a % 2 == 0, b % 2 == 0))});
        }
    }
    auto before = client->round_trips();
    backend.set_multi(entries);
    EXPECT_EQ(client->round_trips() - before, mode() == SymmetricMode::atomic ? 1u : 2u);

    before = client->round_trips();
    const auto got = backend.get_multi(keys);
    EXPECT_EQ(client->round_trips() - before, 1u);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const int a = std::stoi(keys[i].a), b = std::stoi(keys[i].b);
        if ((a + b) % 4 == 0) {
            EXPECT_FALSE(got[i]) << keys[i];
        } else {
            ASSERT_TRUE(got[i]) << keys[i];
            EXPECT_EQ(got[i]->value, flags(a % 2 == 0, b % 2 == 0));
            EXPECT_EQ(hget(b_hash(keys[i].b), keys[i].a), encoded(flags(a % 2 == 0, b % 2 == 0))) << keys[i];
        }
    }
}

// --- invalidation ------------------------------------------------------------------

class SymmetricInvalidation : public SymmetricModeTest {
protected:
    void SetUp() override {
        backend_ = std::make_unique<Backend>(options(), codec());
        // a=1 relates to b=10, 11; a=2 to 10, 12; a=3 to 12.
        backend_->set_multi({{A2BKey{"1", "10"}, entry(flags(true, true))},
                             {A2BKey{"1", "11"}, entry(flags(true, false))},
                             {A2BKey{"2", "10"}, entry(flags(false, true))},
                             {A2BKey{"2", "12"}, entry(flags(false, false))},
                             {A2BKey{"3", "12"}, entry(flags(true, true))}});
        raw({"SET", test_prefix() + "unrelated", "x"});
    }

    std::unique_ptr<Backend> backend_;
};
DOGPILE_SYMMETRIC_MODES(SymmetricInvalidation);

TEST_P(SymmetricInvalidation, InvalidateARemovesExactlyItsPairsFromBothSides) {
    EXPECT_EQ(backend_->invalidate_a("1"), 2u);
    EXPECT_FALSE(exists(a_hash("1")));
    EXPECT_EQ(hkeys(b_hash("10")), (std::vector<std::string>{"2"}));
    EXPECT_FALSE(exists(b_hash("11"))) << "its only field is gone";
    // Other users' entries survive, in both directions.
    EXPECT_EQ(hkeys(a_hash("2")), (std::vector<std::string>{"10", "12"}));
    EXPECT_EQ(hkeys(a_hash("3")), (std::vector<std::string>{"12"}));
    EXPECT_EQ(hkeys(b_hash("12")), (std::vector<std::string>{"2", "3"}));
    EXPECT_EQ(hget(b_hash("10"), "2"), encoded(flags(false, true)));
    EXPECT_TRUE(exists(test_prefix() + "unrelated"));
    EXPECT_FALSE(backend_->get(A2BKey{"1", "10"}));
    EXPECT_EQ(backend_->get(A2BKey{"2", "10"})->value, flags(false, true));
    EXPECT_EQ(backend_->invalidate_a("1"), 0u);
    EXPECT_EQ(backend_->invalidate_a("never-seen"), 0u);
}

TEST_P(SymmetricInvalidation, InvalidateBRemovesExactlyItsPairsFromBothSides) {
    EXPECT_EQ(backend_->invalidate_b("12"), 2u);
    EXPECT_FALSE(exists(b_hash("12")));
    EXPECT_EQ(hkeys(a_hash("2")), (std::vector<std::string>{"10"}));
    EXPECT_FALSE(exists(a_hash("3")));
    EXPECT_EQ(hkeys(a_hash("1")), (std::vector<std::string>{"10", "11"}));
    EXPECT_EQ(hkeys(b_hash("10")), (std::vector<std::string>{"1", "2"}));
    EXPECT_EQ(hkeys(b_hash("11")), (std::vector<std::string>{"1"}));
    EXPECT_TRUE(exists(test_prefix() + "unrelated"));
    EXPECT_FALSE(backend_->get(A2BKey{"2", "12"}));
    EXPECT_EQ(backend_->get(A2BKey{"2", "10"})->value, flags(false, true));
}

TEST_P(SymmetricInvalidation, EraseRemovesOnePairFromBothSides) {
    backend_->erase(A2BKey{"1", "10"});
    EXPECT_EQ(hkeys(a_hash("1")), (std::vector<std::string>{"11"}));
    EXPECT_EQ(hkeys(b_hash("10")), (std::vector<std::string>{"2"}));
    backend_->erase_multi({A2BKey{"2", "12"}, A2BKey{"3", "12"}, A2BKey{"9", "9"}});
    EXPECT_FALSE(exists(b_hash("12")));
    EXPECT_FALSE(exists(a_hash("3")));
    EXPECT_EQ(hkeys(a_hash("2")), (std::vector<std::string>{"10"}));
}

TEST_P(SymmetricInvalidation, ScriptsRecoverAfterScriptFlush) {
    raw({"SCRIPT", "FLUSH"});
    EXPECT_EQ(backend_->invalidate_a("3"), 1u);
    raw({"SCRIPT", "FLUSH"});
    backend_->set_multi({{A2BKey{"4", "10"}, entry(flags(true, true))}, {A2BKey{"5", "10"}, entry(flags(true, true))}});
    EXPECT_EQ(hkeys(b_hash("10")), (std::vector<std::string>{"1", "2", "4", "5"}));
    raw({"SCRIPT", "FLUSH"});
    backend_->erase(A2BKey{"4", "10"});
    EXPECT_EQ(hkeys(b_hash("10")), (std::vector<std::string>{"1", "2", "5"}));
    raw({"SCRIPT", "FLUSH"});
    backend_->set(A2BKey{"6", "10"}, entry(flags(true, true)));
    EXPECT_EQ(hget(a_hash("6"), "10"), encoded(flags(true, true)));
}

class SymmetricBinarySafety : public SymmetricModeTest {};
DOGPILE_SYMMETRIC_MODES(SymmetricBinarySafety);

TEST_P(SymmetricBinarySafety, IdsMayHoldAnyBytes) {
    Backend backend(options(), codec());
    const std::string nul("\0", 1);
    const A2BKey k1{"user " + nul + "|a\n", "obj|" + nul};
    const A2BKey k2{"other", k1.b};
    backend.set_multi({{k1, entry(flags(true, false))}, {k2, entry(flags(false, true))}});
    EXPECT_EQ(hget(b_hash(k1.b), k1.a), encoded(flags(true, false)));
    EXPECT_EQ(backend.get(k1)->value, flags(true, false));
    EXPECT_EQ(backend.invalidate_a(k1.a), 1u);
    EXPECT_EQ(hkeys(b_hash(k1.b)), (std::vector<std::string>{"other"}));
    EXPECT_EQ(backend.invalidate_b(k1.b), 1u);
    EXPECT_FALSE(exists(a_hash("other")));
}

// --- what each mode guarantees when a step fails ------------------------------------------
// A key of another type under a prefix makes one command fail (WRONGTYPE),
// standing in for a crash or an error between two steps.

class SymmetricFailures : public SymmetricModeTest {};
DOGPILE_SYMMETRIC_MODES(SymmetricFailures);

// Atomic: the script fails at its first command (the entry), nothing is
// written. Per node: the mirror step ran, the entry step failed: a mirror
// without an entry, never an entry without its mirror.
TEST_P(SymmetricFailures, AFailedWriteLeavesNoEntryWithoutItsMirror) {
    Backend backend(options(), codec());
    raw({"SET", a_hash("1"), "not a hash"});
    EXPECT_THROW(backend.set(A2BKey{"1", "10"}, entry(flags(true, true))), ReplyError);
    EXPECT_EQ(raw({"TYPE", a_hash("1")}).str, "string");
    if (mode() == SymmetricMode::atomic) {
        EXPECT_FALSE(exists(b_hash("10")));
    } else {
        EXPECT_EQ(hget(b_hash("10"), "1"), encoded(flags(true, true))) << "the mirror is written first";
        raw({"DEL", a_hash("1")});
        EXPECT_EQ(backend.invalidate_b("10"), 1u) << "the orphan mirror counts";
        EXPECT_FALSE(exists(b_hash("10")));
    }
}

// Per node, every removal takes the entries first and the mirrors after.
TEST(SymmetricPerNode, RemovalsTakeEntriesBeforeMirrors) {
    Backend backend(mode_options(SymmetricMode::per_node), codec());
    backend.set_multi({{A2BKey{"2", "20"}, entry(flags(true, true))},
                       {A2BKey{"3", "30"}, entry(flags(true, true))},
                       {A2BKey{"4", "30"}, entry(flags(true, true))},
                       {A2BKey{"5", "50"}, entry(flags(true, true))},
                       {A2BKey{"5", "51"}, entry(flags(true, true))}});

    // erase: the mirror step fails after the entry went.
    raw({"SET", b_hash("20"), "not a hash"});
    EXPECT_THROW(backend.erase(A2BKey{"2", "20"}), ReplyError);
    EXPECT_FALSE(exists(a_hash("2")));

    // invalidate_b: one entry removal fails; the mirrors are all still there.
    raw({"SET", a_hash("4"), "not a hash"});
    EXPECT_THROW(backend.invalidate_b("30"), ReplyError);
    EXPECT_FALSE(exists(a_hash("3"))) << "the other entry went";
    EXPECT_EQ(hkeys(b_hash("30")), (std::vector<std::string>{"3", "4"}));

    // invalidate_a: the entries' hash is deleted before the mirror step fails.
    raw({"SET", b_hash("51"), "not a hash"});
    EXPECT_THROW(backend.invalidate_a("5"), ReplyError);
    EXPECT_FALSE(exists(a_hash("5")));
    EXPECT_FALSE(exists(b_hash("50"))) << "the other mirror went";
}

// Per node on one server: a write or an erase is two round trips (mirrors and
// entries), an invalidation three (HKEYS, then the two removal steps).
TEST(SymmetricPerNode, StepsAreOneRoundTripEach) {
    auto o = mode_options(SymmetricMode::per_node);
    auto client = o.client;
    Backend backend(o, codec());
    backend.set(A2BKey{"warm", "up"}, entry(flags(true, true)));  // loads the script
    auto before = client->round_trips();
    backend.set(A2BKey{"1", "10"}, entry(flags(true, true)));
    EXPECT_EQ(client->round_trips() - before, 2u);
    backend.set_multi({{A2BKey{"1", "11"}, entry(flags(true, true))}, {A2BKey{"2", "11"}, entry(flags(true, true))}});
    before = client->round_trips();
    backend.erase_multi({A2BKey{"1", "10"}, A2BKey{"2", "11"}});
    EXPECT_EQ(client->round_trips() - before, 2u);
    backend.set(A2BKey{"2", "11"}, entry(flags(true, true)));
    before = client->round_trips();
    EXPECT_EQ(backend.invalidate_b("11"), 2u);
    EXPECT_EQ(client->round_trips() - before, 3u);
    before = client->round_trips();
    EXPECT_EQ(backend.invalidate_a("warm"), 1u);
    EXPECT_EQ(client->round_trips() - before, 3u);
    before = client->round_trips();
    EXPECT_EQ(backend.invalidate_a("warm"), 0u);
    EXPECT_EQ(client->round_trips() - before, 1u) << "nothing to remove after HKEYS";
}

// The modes share keys, fields, payloads and the TTL rule.
TEST(SymmetricModes, ReadAndInvalidateEachOthersData) {
    Backend atomic(mode_options(SymmetricMode::atomic), codec());
    Backend per_node(mode_options(SymmetricMode::per_node), codec());
    atomic.set(A2BKey{"1", "10"}, entry(flags(true, false)));
    per_node.set(A2BKey{"2", "10"}, entry(flags(false, true)));
    EXPECT_EQ(per_node.get(A2BKey{"1", "10"})->value, flags(true, false));
    EXPECT_EQ(atomic.get(A2BKey{"2", "10"})->value, flags(false, true));
    EXPECT_EQ(hget(b_hash("10"), "2"), encoded(flags(false, true)));
    EXPECT_GT(pttl(a_hash("2")), 3600000 - 60000);
    EXPECT_GT(pttl(b_hash("10")), 3600000 - 60000);

    EXPECT_EQ(per_node.invalidate_b("10"), 2u);
    EXPECT_FALSE(exists(a_hash("1")));
    EXPECT_FALSE(exists(a_hash("2")));
    EXPECT_FALSE(exists(b_hash("10")));

    per_node.set_multi({{A2BKey{"3", "30"}, entry(flags(true, true))}, {A2BKey{"3", "31"}, entry(flags(true, true))}});
    EXPECT_EQ(atomic.invalidate_a("3"), 2u);
    EXPECT_FALSE(exists(a_hash("3")));
    EXPECT_FALSE(exists(b_hash("30")));
    EXPECT_FALSE(exists(b_hash("31")));
}

// --- Region, corrupt payloads, lock ------------------------------------------------------

class SymmetricRegion : public SymmetricModeTest {};
DOGPILE_SYMMETRIC_MODES(SymmetricRegion);

TEST_P(SymmetricRegion, GetOrCreateAndMulti) {
    auto backend = std::make_shared<Backend>(options(), codec());
    Region<Flags, A2BKey> region(backend);
    int calls = 0;
    EXPECT_EQ(region.get_or_create(A2BKey{"7", "42"}, [&] { return ++calls, flags(true, false); }), flags(true, false));
    EXPECT_EQ(region.get_or_create(A2BKey{"7", "42"}, [&] { return ++calls, flags(false, false); }),
              flags(true, false));
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(hget(b_hash("42"), "7"), encoded(flags(true, false)));

    std::vector<A2BKey> asked;
    const auto values = region.get_or_create_multi({A2BKey{"7", "42"}, A2BKey{"7", "43"}, A2BKey{"8", "42"}},
                                                   [&](const std::vector<A2BKey>& missing) {
                                                       asked = missing;
                                                       return std::vector<Flags>(missing.size(), flags(true, true));
                                                   });
    EXPECT_EQ(asked, (std::vector<A2BKey>{A2BKey{"7", "43"}, A2BKey{"8", "42"}}));
    EXPECT_EQ(values, (std::vector<Flags>{flags(true, false), flags(true, true), flags(true, true)}));
    EXPECT_EQ(hkeys(b_hash("42")), (std::vector<std::string>{"7", "8"}));

    // Invalidating b=42 makes both users miss; the region recomputes them.
    backend->invalidate_b("42");
    EXPECT_EQ(region.get_or_create(A2BKey{"8", "42"}, [&] { return ++calls, flags(false, false); }),
              flags(false, false));
    EXPECT_EQ(calls, 2);
}

class SymmetricCorrupt : public SymmetricModeTest {};
DOGPILE_SYMMETRIC_MODES(SymmetricCorrupt);

TEST_P(SymmetricCorrupt, ACorruptPayloadIsAMissAndIsOverwrittenOnBothSides) {
    std::vector<std::string> hooked;
    auto o = options();
    o.error_hook = [&](const BackendErrorEvent& e) { hooked.emplace_back(e.message); };
    auto backend = std::make_shared<Backend>(o, codec());
    backend->set(A2BKey{"1", "2"}, entry(flags(true, true)));
    raw({"HSET", a_hash("1"), "3", std::string("\xdd\xff\xff\xff\xff", 5)});
    EXPECT_THROW(backend->get(A2BKey{"1", "3"}), DecodeError);
    const auto got = backend->get_multi({A2BKey{"1", "2"}, A2BKey{"1", "3"}});
    EXPECT_TRUE(got[0]);
    EXPECT_FALSE(got[1]);
    EXPECT_EQ(hooked.size(), 1u);
    EXPECT_EQ(backend->stats().decode_errors, 2u);

    Region<Flags, A2BKey> region(backend);
    EXPECT_EQ(region.get_or_create(A2BKey{"1", "3"}, [] { return flags(false, true); }), flags(false, true));
    EXPECT_EQ(hget(a_hash("1"), "3"), encoded(flags(false, true)));
    EXPECT_EQ(hget(b_hash("3"), "1"), encoded(flags(false, true)));
}

TEST(SymmetricLock, ResourceIsThatOfTheASideField) {
    auto o = options();
    Backend plain(o, codec());
    EXPECT_EQ(plain.get_mutex(A2BKey{"7", "42"}), nullptr);
    o.distributed_lock = dogpile::redis::LockOptions{};
    o.distributed_lock->prefix = test_prefix() + "lock|";
    Backend backend(o, codec());
    const std::string resource = backend.lock_resource(A2BKey{"7", "42"});
    EXPECT_EQ(resource, std::to_string(a_hash("7").size()) + ":" + a_hash("7") + "|42");
    auto mutex = backend.get_mutex(A2BKey{"7", "42"});
    ASSERT_NE(mutex, nullptr);
    ASSERT_TRUE(mutex->try_lock());
    EXPECT_TRUE(exists(test_prefix() + "lock|" + resource));
    mutex->unlock();
    EXPECT_FALSE(exists(test_prefix() + "lock|" + resource));
}

}  // namespace
