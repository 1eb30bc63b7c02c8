// std::shared_ptr<const V> values on the Redis backends and the near cache,
// against a real redis-server:
// * every codec (FlagsCodec, BitpackedCodec, DictValuesCodec, the default
//   MsgpackCodec) decodes into the pointer through each backend (string, hash,
//   symmetric) and each payload mode, in get/get_multi/set/set_multi, and
//   the bytes are those of the same backend holding V by value (a reader of
//   V, e.g. a Python service, sees no difference);
// * a decode never copies V; a null pointer is an EncodeError, and a
//   set_multi holding one writes nothing;
// * a near-cache hit (backend, get_multi, and a Region on top) is the very
//   pointer decoded on the miss, with no copy of V.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <dogpile/backends/near_cache.hpp>
#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/backends/redis/plain.hpp>
#include <dogpile/backends/redis/symmetric.hpp>
#include <dogpile/codec/bitpacked.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/redis/tracking.hpp>
#include <dogpile/region.hpp>

#include "support/copy_counter.hpp"
#include "support/redis_server.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::A2BKey;
using dogpile::CachedValue;
using dogpile::EncodeError;
using dogpile::HashKey;
using dogpile::Metadata;
using dogpile::NearCacheBackend;
using dogpile::NearCacheOptions;
using dogpile::Region;
using dogpile::RedisBackend;
using dogpile::RedisBackendOptions;
using dogpile::RedisHashBackend;
using dogpile::RedisHashBackendOptions;
using dogpile::RedisSymmetricBackend;
using dogpile::RedisSymmetricBackendOptions;
using dogpile::codec::BitpackedCodec;
using dogpile::codec::Dict;
using dogpile::codec::DictValuesCodec;
using dogpile::codec::Flags;
using dogpile::codec::FlagsCodec;
using dogpile::codec::KeyTemplate;
using dogpile::codec::List;
using dogpile::redis::PayloadMode;
using dogpile::test::RedisServer;

// A user type for the default codec, counting its copies.
struct Profile {
    std::string name;
    std::vector<int> scores;
    dogpile::test::CopyCounter<Profile> counter;

    static inline std::atomic<int>& copies = dogpile::test::CopyCounter<Profile>::copies;

    Profile() = default;
    Profile(std::string n, std::vector<int> s) : name(std::move(n)), scores(std::move(s)) {}

    friend bool operator==(const Profile& a, const Profile& b) { return a.name == b.name && a.scores == b.scores; }

    MSGPACK_DEFINE(name, scores)
};

RedisServer& server() { return RedisServer::shared(); }

const KeyTemplate& flags_template() {
    static const KeyTemplate t{"admin", "delete", "read", "share", "write"};
    return t;
}

Flags flags_of(int i) {
    return Flags{
        {"admin", i % 2 == 0}, {"delete", i % 3 == 0}, {"read", true}, {"share", i % 5 == 0}, {"write", false}};
}

const KeyTemplate& dict_template() {
    static const KeyTemplate t{"id", "name", {"perm", {"read", "write"}}, "tags"};
    return t;
}

Dict dict_of(int i) {
    return Dict{{"id", i},
                {"name", "user" + std::to_string(i)},
                {"perm", Dict{{"read", true}, {"write", i % 2 == 0}}},
                {"tags", List{"a", i}}};
}

Profile profile_of(int i) { return Profile("user" + std::to_string(i), std::vector<int>(200, i)); }

// One backend kind, one codec: how to make both backends (of V and of
// shared_ptr<const V>), keys and values.
template <class V, class Codec, class Key, template <class, class> class BackendOf, class Options>
struct Case {
    using value_type = V;
    using key_type = Key;
    using codec_type = Codec;
    using ByValue = BackendOf<V, Codec>;
    using Shared = BackendOf<std::shared_ptr<const V>, Codec>;
    using options_type = Options;
};

struct HashFlags : Case<Flags, FlagsCodec, HashKey, RedisHashBackend, RedisHashBackendOptions> {
    static FlagsCodec codec() { return FlagsCodec{flags_template()}; }
    static Flags value(int i) { return flags_of(i); }
};
struct HashBitpacked : Case<Flags, BitpackedCodec, HashKey, RedisHashBackend, RedisHashBackendOptions> {
    static BitpackedCodec codec() { return BitpackedCodec{flags_template()}; }
    static Flags value(int i) { return flags_of(i); }
};
struct HashDict : Case<Dict, DictValuesCodec, HashKey, RedisHashBackend, RedisHashBackendOptions> {
    static DictValuesCodec codec() { return DictValuesCodec{dict_template()}; }
    static Dict value(int i) { return dict_of(i); }
};
template <class V, class C>
using HashDefault = RedisHashBackend<V, dogpile::codec::MsgpackCodec<V>>;
struct HashProfile : Case<Profile, void, HashKey, HashDefault, RedisHashBackendOptions> {
    static Profile value(int i) { return profile_of(i); }
};
struct StringDict : Case<Dict, DictValuesCodec, std::string, RedisBackend, RedisBackendOptions> {
    static DictValuesCodec codec() { return DictValuesCodec{dict_template()}; }
    static Dict value(int i) { return dict_of(i); }
};
template <class V, class C>
using StringDefault = RedisBackend<V, dogpile::codec::MsgpackCodec<V>>;
struct StringProfile : Case<Profile, void, std::string, StringDefault, RedisBackendOptions> {
    static Profile value(int i) { return profile_of(i); }
};
struct SymmetricFlags : Case<Flags, FlagsCodec, A2BKey, RedisSymmetricBackend, RedisSymmetricBackendOptions> {
    static FlagsCodec codec() { return FlagsCodec{flags_template()}; }
    static Flags value(int i) { return flags_of(i); }
};
template <class V, class C>
using SymmetricDefault = RedisSymmetricBackend<V, dogpile::codec::MsgpackCodec<V>>;
struct SymmetricProfile : Case<Profile, void, A2BKey, SymmetricDefault, RedisSymmetricBackendOptions> {
    static Profile value(int i) { return profile_of(i); }
};

// A fresh key space per test and mode, so the cases never see each other's entries.
std::string fresh_prefix() {
    static std::atomic<int> counter{0};
    return "shared" + std::to_string(counter++) + ":";
}

template <class Key>
Key key_of(const std::string& prefix, int i);
template <>
std::string key_of<std::string>(const std::string& prefix, int i) {
    return prefix + "k" + std::to_string(i);
}
template <>
HashKey key_of<HashKey>(const std::string& prefix, int i) {
    return HashKey{prefix + "calculated-a|" + std::to_string(i % 2), std::to_string(i)};
}
template <>
A2BKey key_of<A2BKey>(const std::string& prefix, int i) {
    return A2BKey{prefix + "u" + std::to_string(i % 2), prefix + "o" + std::to_string(i)};
}

RedisBackendOptions options_for(RedisBackendOptions o, const std::string& /*prefix*/, PayloadMode /*mode*/) {
    return o;  // the string store's payload is always the envelope
}
RedisHashBackendOptions options_for(RedisHashBackendOptions o, const std::string&, PayloadMode mode) {
    o.ttl = std::chrono::hours(1);
    o.payload = mode;
    return o;
}
RedisSymmetricBackendOptions options_for(RedisSymmetricBackendOptions o, const std::string&, PayloadMode mode) {
    o.ttl = std::chrono::hours(1);
    o.payload = mode;
    return o;
}

template <class C, class Backend>
std::shared_ptr<Backend> make_backend(PayloadMode mode) {
    typename C::options_type o;
    o.client = dogpile::redis::make_client(server().url());
    o = options_for(std::move(o), "", mode);
    if constexpr (std::is_void_v<typename C::codec_type>) {
        return std::make_shared<Backend>(std::move(o));
    } else {
        return std::make_shared<Backend>(std::move(o), C::codec());
    }
}

// Whole-second stamps: the envelope keeps created_at, so it must survive the round trip exactly.
Metadata stamp() {
    return Metadata::created_now(std::chrono::time_point_cast<std::chrono::seconds>(dogpile::WallClock::now()));
}

template <class C>
void round_trips(PayloadMode mode) {
    using V = typename C::value_type;
    using Ptr = std::shared_ptr<const V>;
    using Key = typename C::key_type;
    const auto shared = make_backend<C, typename C::Shared>(mode);
    const auto by_value = make_backend<C, typename C::ByValue>(mode);
    const std::string prefix = fresh_prefix();
    const Metadata metadata = stamp();
    const bool envelope = mode == PayloadMode::envelope || std::is_same_v<Key, std::string>;

    // set/get, and the bytes are those of a backend of V both ways.
    const Key k0 = key_of<Key>(prefix, 0);
    shared->set(k0, CachedValue<Ptr>{std::make_shared<const V>(C::value(0)), metadata});
    const auto got = shared->get(k0);
    ASSERT_TRUE(got);
    ASSERT_NE(got->value, nullptr);
    EXPECT_TRUE(*got->value == C::value(0));
    if (envelope) {
        EXPECT_EQ(got->metadata.created_at, metadata.created_at);
    }
    const auto read_as_value = by_value->get(k0);
    ASSERT_TRUE(read_as_value);
    EXPECT_TRUE(read_as_value->value == C::value(0));

    const Key k1 = key_of<Key>(prefix, 1);
    by_value->set(k1, CachedValue<V>{C::value(1), metadata});
    const auto read_as_shared = shared->get(k1);
    ASSERT_TRUE(read_as_shared);
    EXPECT_TRUE(*read_as_shared->value == C::value(1));

    // set_multi/get_multi, with a miss in the middle.
    std::vector<std::pair<Key, CachedValue<Ptr>>> writes;
    for (int i = 2; i < 6; ++i) {
        writes.emplace_back(key_of<Key>(prefix, i), CachedValue<Ptr>{std::make_shared<const V>(C::value(i)), metadata});
    }
    shared->set_multi(writes);
    const std::vector<Key> keys{key_of<Key>(prefix, 2), key_of<Key>(prefix, 99), key_of<Key>(prefix, 5),
                                key_of<Key>(prefix, 3), key_of<Key>(prefix, 4)};
    const auto many = shared->get_multi(keys);
    ASSERT_EQ(many.size(), keys.size());
    EXPECT_FALSE(many[1]);
    const int expected[] = {2, -1, 5, 3, 4};
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (expected[i] < 0) continue;
        ASSERT_TRUE(many[i]) << i;
        ASSERT_NE(many[i]->value, nullptr);
        EXPECT_TRUE(*many[i]->value == C::value(expected[i])) << i;
        EXPECT_EQ(many[i]->value.use_count(), 1) << "a decoded value is owned by the result alone";
    }

    // A null pointer has no encoding; in a batch, nothing of the batch is written.
    const Key kn = key_of<Key>(prefix, 50);
    EXPECT_THROW(shared->set(kn, CachedValue<Ptr>{nullptr, metadata}), EncodeError);
    const Key kb = key_of<Key>(prefix, 51);
    EXPECT_THROW(shared->set_multi({{kb, CachedValue<Ptr>{std::make_shared<const V>(C::value(51)), metadata}},
                                    {kn, CachedValue<Ptr>{nullptr, metadata}}}),
                 EncodeError);
    EXPECT_FALSE(shared->get(kn));
    EXPECT_FALSE(shared->get(kb));
}

class SharedValuesRoundTrip : public ::testing::TestWithParam<PayloadMode> {};

TEST_P(SharedValuesRoundTrip, HashFlagsCodec) { round_trips<HashFlags>(GetParam()); }
TEST_P(SharedValuesRoundTrip, HashBitpackedCodec) { round_trips<HashBitpacked>(GetParam()); }
TEST_P(SharedValuesRoundTrip, HashDictValuesCodec) { round_trips<HashDict>(GetParam()); }
TEST_P(SharedValuesRoundTrip, HashDefaultMsgpackCodec) { round_trips<HashProfile>(GetParam()); }
TEST_P(SharedValuesRoundTrip, SymmetricFlagsCodec) { round_trips<SymmetricFlags>(GetParam()); }
TEST_P(SharedValuesRoundTrip, SymmetricDefaultMsgpackCodec) { round_trips<SymmetricProfile>(GetParam()); }

INSTANTIATE_TEST_SUITE_P(PayloadModes, SharedValuesRoundTrip,
                         ::testing::Values(PayloadMode::raw, PayloadMode::envelope),
                         [](const auto& info) { return std::string(dogpile::redis::to_string(info.param)); });

// The string store has one payload mode, the envelope.
TEST(SharedValuesStringStore, DictValuesCodec) { round_trips<StringDict>(PayloadMode::envelope); }
TEST(SharedValuesStringStore, DefaultMsgpackCodec) { round_trips<StringProfile>(PayloadMode::envelope); }

TEST(SharedValuesDecode, ADecodeMovesTheValueIntoThePointerWithoutACopy) {
    const auto backend = make_backend<HashProfile, HashProfile::Shared>(PayloadMode::envelope);
    const std::string prefix = fresh_prefix();
    std::vector<HashKey> keys;
    for (int i = 0; i < 4; ++i) {
        keys.push_back(key_of<HashKey>(prefix, i));
        backend->set(keys.back(), CachedValue<std::shared_ptr<const Profile>>{
                                      std::make_shared<const Profile>(profile_of(i)), stamp()});
    }
    Profile::copies = 0;
    ASSERT_TRUE(backend->get(keys[0]));
    EXPECT_EQ(backend->get_multi(keys).size(), keys.size());
    EXPECT_EQ(Profile::copies, 0);
}

TEST(SharedValuesCodecAccessor, TheBackendHandsBackTheCodecItWasGiven) {
    const auto backend = make_backend<HashFlags, HashFlags::Shared>(PayloadMode::raw);
    const FlagsCodec& codec = backend->codec();
    EXPECT_EQ(codec.key_template(), flags_template());
}

// ------------------------------------------------------------ near cache

template <class V>
class NearShared {
public:
    using Ptr = std::shared_ptr<const V>;
    using Remote = RedisHashBackend<Ptr, dogpile::codec::MsgpackCodec<Ptr>>;
    using Near = NearCacheBackend<Ptr, HashKey>;

    NearShared() {
        dogpile::redis::TrackingOptions tracking;
        tracking.connection = server().options();
        listener = std::make_shared<dogpile::redis::InvalidationListener>(tracking);
        dogpile::redis::PoolOptions pool;
        pool.size = 2;
        pool.connection = server().options();
        RedisHashBackendOptions ro;
        ro.client = dogpile::redis::make_tracked_client(*listener, pool);
        ro.ttl = std::chrono::hours(1);
        remote = std::make_shared<Remote>(ro);
        NearCacheOptions<HashKey> near;
        near.listener = listener;
        near.redis_key = dogpile::redis_keys_of(*remote);
        cache = std::make_shared<Near>(remote, near);
    }

    std::shared_ptr<dogpile::redis::InvalidationListener> listener;
    std::shared_ptr<Remote> remote;
    std::shared_ptr<Near> cache;
};

TEST(SharedValuesNearCache, ANearHitIsThePointerDecodedOnTheMissWithoutACopy) {
    NearShared<Profile> near;
    ASSERT_TRUE(near.listener->wait_until_tracking(10s)) << near.listener->last_error();
    const std::string prefix = fresh_prefix();
    const HashKey a = key_of<HashKey>(prefix, 0);
    const HashKey b = key_of<HashKey>(prefix, 1);
    // Written on an untracked client: no invalidation is on its way.
    const auto writer = make_backend<HashProfile, HashProfile::Shared>(PayloadMode::raw);
    writer->set(a, CachedValue<std::shared_ptr<const Profile>>{std::make_shared<const Profile>(profile_of(0)),
                                                               Metadata::store_managed()});
    writer->set(b, CachedValue<std::shared_ptr<const Profile>>{std::make_shared<const Profile>(profile_of(1)),
                                                               Metadata::store_managed()});
    Profile::copies = 0;

    const auto miss = near.cache->get(a);  // decoded once, kept
    ASSERT_TRUE(miss && miss->value);
    ASSERT_TRUE(near.cache->near_contains(a));
    const long held = miss->value.use_count();  // ours and the near tier's
    for (int i = 0; i < 3; ++i) {
        const auto hit = near.cache->get(a);
        ASSERT_TRUE(hit);
        EXPECT_EQ(hit->value.get(), miss->value.get());
        EXPECT_EQ(miss->value.use_count(), held + 1);
    }

    const auto first = near.cache->get_multi({a, b});  // b: a miss, kept
    ASSERT_TRUE(first[0] && first[1]);
    EXPECT_EQ(first[0]->value.get(), miss->value.get());
    const auto again = near.cache->get_multi({b, a});
    ASSERT_TRUE(again[0] && again[1]);
    EXPECT_EQ(again[0]->value.get(), first[1]->value.get());
    EXPECT_EQ(again[1]->value.get(), miss->value.get());

    Region<std::shared_ptr<const Profile>, HashKey> region(near.cache);
    int calls = 0;
    const auto created = region.get_or_create(a, [&] {
        ++calls;
        return std::make_shared<const Profile>(profile_of(7));
    });
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(created.get(), miss->value.get());
    const auto multi = region.get_or_create_multi({b, a}, [&](const std::vector<HashKey>& missing) {
        calls += static_cast<int>(missing.size());
        return std::vector<std::shared_ptr<const Profile>>(missing.size());
    });
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(multi[0].get(), first[1]->value.get());
    EXPECT_EQ(multi[1].get(), miss->value.get());

    EXPECT_EQ(Profile::copies, 0);
    EXPECT_EQ(near.cache->stats().stored, 2u);
}

TEST(SharedValuesNearCache, FlagsThroughTheValuesCodecKeepThePointerToo) {
    using Ptr = std::shared_ptr<const Flags>;
    dogpile::redis::TrackingOptions tracking;
    tracking.connection = server().options();
    auto listener = std::make_shared<dogpile::redis::InvalidationListener>(tracking);
    dogpile::redis::PoolOptions pool;
    pool.size = 2;
    pool.connection = server().options();
    auto remote = std::make_shared<RedisHashBackend<Ptr, FlagsCodec>>(
        RedisHashBackendOptions{dogpile::redis::make_tracked_client(*listener, pool), std::chrono::hours(1)},
        FlagsCodec{flags_template()});
    NearCacheOptions<HashKey> near_options{listener, dogpile::redis_keys_of(*remote)};
    auto near = std::make_shared<NearCacheBackend<Ptr, HashKey>>(remote, near_options);
    ASSERT_TRUE(listener->wait_until_tracking(10s)) << listener->last_error();

    // Written on an untracked client (a script that writes may read first,
    // which a tracked client would be told about): no invalidation is on its way.
    const HashKey key = key_of<HashKey>(fresh_prefix(), 3);
    make_backend<HashFlags, HashFlags::Shared>(PayloadMode::raw)
        ->set(key, CachedValue<Ptr>{std::make_shared<const Flags>(flags_of(3)), Metadata::store_managed()});

    Region<Ptr, HashKey> region(near);
    int calls = 0;
    auto creator = [&] {
        ++calls;
        return Ptr{};
    };
    const Ptr decoded = region.get_or_create(key, creator);  // decoded once, kept
    ASSERT_NE(decoded, nullptr);
    EXPECT_EQ(*decoded, flags_of(3));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(region.get_or_create(key, creator).get(), decoded.get());
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(region.get(key)->get(), decoded.get());
}

// A null pointer from the creator cannot be written to Redis. The region
// treats an EncodeError as the caller's fault: reported, then rethrown
// whatever the backend error policy. should_cache keeps null out instead.
TEST(SharedValuesRegion, ANullPointerFromTheCreatorIsAnEncodeErrorUnlessShouldCacheSkipsIt) {
    using Ptr = std::shared_ptr<const Flags>;
    const auto backend = make_backend<HashFlags, HashFlags::Shared>(PayloadMode::raw);
    std::vector<std::string> errors;
    dogpile::RegionOptions options;
    options.error_hook = [&](const dogpile::BackendErrorEvent& event) { errors.emplace_back(event.message); };
    Region<Ptr, HashKey> region(backend, options);
    const HashKey key = key_of<HashKey>(fresh_prefix(), 1);
    EXPECT_THROW(region.get_or_create(key, [] { return Ptr{}; }), EncodeError);
    EXPECT_FALSE(backend->get(key));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors.front().find("null std::shared_ptr"), std::string::npos) << errors.front();

    dogpile::GetOrCreateOptions<Ptr> skip_null;
    skip_null.should_cache = [](const Ptr& value) { return value != nullptr; };
    EXPECT_EQ(region.get_or_create(
                  key, [] { return Ptr{}; }, skip_null),
              nullptr);
    EXPECT_FALSE(backend->get(key));
    EXPECT_EQ(errors.size(), 1u);
}

}  // namespace
