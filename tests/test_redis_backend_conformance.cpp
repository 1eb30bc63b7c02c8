// The Backend contract (dogpile/testing/backend_suite.hpp) on the Redis stores
// against a real redis-server: the plain store, the hash store (raw and
// envelope payloads), the symmetric store in both modes, and the near cache in
// front of the hash store. On a Redis Cluster: test_redis_cluster_backends.cpp.

#include <dogpile/testing/backend_suite.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <dogpile/codec/envelope.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis.hpp>

#include "support/conformance_factories.hpp"
#include "support/redis_server.hpp"

namespace {

using dogpile::A2BKey;
using dogpile::HashKey;
using dogpile::testing::BackendCapabilities;
using dogpile::testing::MetadataKept;
using dogpile::testing::MutexOffer;
using dogpile::test::conformance::unique_prefix;
using dogpile::test::conformance::awkward_hash_keys;
using dogpile::testing::bytes_of;
using dogpile::test::RedisServer;

RedisServer& server() { return RedisServer::shared(); }

void raw_ok(const std::vector<std::string>& argv) {
    const auto r = server().raw(argv);
    ASSERT_FALSE(r.is_error()) << argv.front() << ": " << r.str;
}

dogpile::redis::LockOptions lock_options(const std::string& prefix) {
    dogpile::redis::LockOptions lock;
    lock.prefix = prefix + "lock|";
    return lock;
}

// Above the kit's 1 MiB awkward value.
constexpr std::size_t payload_limit = 2u << 20;

// --- plain: one string per key ------------------------------------------------------

struct Plain {
    using Value = std::string;
    using Key = std::string;
    static std::string name() { return "Plain"; }
    static BackendCapabilities capabilities() {
        BackendCapabilities c;
        c.mutex = MutexOffer::exclusive;
        c.refuses_values_over_a_limit = true;
        return c;
    }
    std::shared_ptr<dogpile::Backend<Value, Key>> make() {
        prefix = unique_prefix();
        dogpile::RedisBackendOptions o;
        o.client = dogpile::redis::make_client(server().url());
        o.key_prefix = prefix;
        o.distributed_lock = lock_options(prefix);
        o.limits.max_payload_bytes = payload_limit;
        return std::make_shared<dogpile::RedisBackend<Value>>(o);
    }
    Key key(std::size_t i) { return "k" + std::to_string(i); }
    Value value(std::size_t i) { return "value " + std::to_string(i); }
    Value over_limit_value() { return std::string(payload_limit + 1, 'x'); }
    void corrupt(const Key& key, const std::string& bytes) { raw_ok({"SET", prefix + key, bytes}); }
    // The plain store always wraps the codec's bytes in dogpile's envelope.
    std::vector<std::string> corrupt_payloads() {
        namespace envelope = dogpile::codec::envelope;
        const std::string good = dogpile::codec::MsgpackCodec<std::string>{}.encode("x");
        std::string version_2 = envelope::wrap(dogpile::Metadata{}, good);
        version_2[1] = 2;
        return {
            dogpile::testing::random_bytes(40, 5),
            good,  // bare msgpack, no envelope
            version_2,
            bytes_of({0xc1, 0x01}),                                                    // truncated envelope
            envelope::wrap(dogpile::Metadata{}, bytes_of({0xdd, 0xff, 0xff, 0xff, 0xff})),  // array claiming 4 G elements
            envelope::wrap(dogpile::Metadata{}, bytes_of({0x93, 0x01, 0x02, 0x03})),        // wrong type
            envelope::wrap(dogpile::Metadata{}, bytes_of({0xa5, 0x61})),                    // truncated payload
            std::string(),
        };
    }

    std::string prefix;
};

// --- the hash store -------------------------------------------------------------------

template <dogpile::redis::PayloadMode mode>
struct Hash {
    using Value = std::string;
    using Key = HashKey;
    static std::string name() { return mode == dogpile::redis::PayloadMode::raw ? "HashRaw" : "HashEnvelope"; }
    static BackendCapabilities capabilities() {
        BackendCapabilities c;
        c.metadata = mode == dogpile::redis::PayloadMode::raw ? MetadataKept::store_managed : MetadataKept::as_set;
        c.mutex = MutexOffer::exclusive;
        c.refuses_values_over_a_limit = true;
        return c;
    }
    std::shared_ptr<dogpile::Backend<Value, Key>> make() {
        prefix = unique_prefix();
        dogpile::RedisHashBackendOptions o;
        o.client = dogpile::redis::make_client(server().url());
        o.ttl = std::chrono::hours(1);
        o.payload = mode;
        o.distributed_lock = lock_options(prefix);
        o.limits.max_payload_bytes = payload_limit;
        return std::make_shared<dogpile::RedisHashBackend<Value>>(o);
    }
    // Three hashes, so multi operations span several.
    Key key(std::size_t i) { return {prefix + "h" + std::to_string(i % 3), std::to_string(i)}; }
    Value value(std::size_t i) { return "value " + std::to_string(i); }
    Value over_limit_value() { return std::string(payload_limit + 1, 'x'); }
    std::vector<Key> awkward_keys() { return awkward_hash_keys(prefix); }
    void corrupt(const Key& key, const std::string& bytes) { raw_ok({"HSET", key.hash, key.field, bytes}); }

    std::string prefix;
};
using HashRaw = Hash<dogpile::redis::PayloadMode::raw>;
using HashEnvelope = Hash<dogpile::redis::PayloadMode::envelope>;

// --- the symmetric store --------------------------------------------------------------

template <dogpile::redis::SymmetricMode mode>
struct Symmetric {
    using Value = std::string;
    using Key = A2BKey;
    static std::string name() { return mode == dogpile::redis::SymmetricMode::atomic ? "SymmetricAtomic" : "SymmetricPerNode"; }
    static BackendCapabilities capabilities() {
        BackendCapabilities c;
        c.metadata = MetadataKept::store_managed;
        c.mutex = MutexOffer::exclusive;
        return c;
    }
    std::shared_ptr<dogpile::Backend<Value, Key>> make() {
        prefix = unique_prefix();
        dogpile::RedisSymmetricBackendOptions o;
        o.client = dogpile::redis::make_client(server().url());
        o.ttl = std::chrono::hours(1);
        o.a_prefix = prefix + "a2b-a|";
        o.b_prefix = prefix + "a2b-b|";
        o.mode = mode;
        o.distributed_lock = lock_options(prefix);
        a_prefix = o.a_prefix;
        return std::make_shared<dogpile::RedisSymmetricBackend<Value>>(o);
    }
    Key key(std::size_t i) { return {"a" + std::to_string(i % 3), "b" + std::to_string(i)}; }
    Value value(std::size_t i) { return "value " + std::to_string(i); }
    std::vector<Key> awkward_keys() {
        return {{"a", ""}, {"a", std::string(1, '\0')}, {std::string("a\0x", 3), "b"}, {"a b\r\n", "b"},
                {bytes_of({0xff}), bytes_of({0xfe, 0xc1})}, {"a", std::string(300, 'b')}};
    }
    // Reads come from the A side.
    void corrupt(const Key& key, const std::string& bytes) { raw_ok({"HSET", a_prefix + key.a, key.b, bytes}); }

    std::string prefix;
    std::string a_prefix;
};
using SymmetricAtomic = Symmetric<dogpile::redis::SymmetricMode::atomic>;
using SymmetricPerNode = Symmetric<dogpile::redis::SymmetricMode::per_node>;

// --- the near cache in front of the hash store -----------------------------------------

struct NearCache {
    using Value = std::string;
    using Key = HashKey;
    using Remote = dogpile::RedisHashBackend<Value>;
    using Near = dogpile::NearCacheBackend<Value, HashKey>;
    static std::string name() { return "NearCacheOverHash"; }
    static BackendCapabilities capabilities() {
        BackendCapabilities c;
        c.metadata = MetadataKept::store_managed;
        c.mutex = MutexOffer::exclusive;  // the remote store's
        return c;
    }
    std::shared_ptr<dogpile::Backend<Value, Key>> make() {
        prefix = unique_prefix();
        dogpile::redis::TrackingOptions tracking;
        tracking.connection = server().options();
        listener = std::make_shared<dogpile::redis::InvalidationListener>(tracking);
        dogpile::redis::PoolOptions pool;
        pool.size = 4;
        pool.connection = server().options();
        dogpile::RedisHashBackendOptions o;
        o.client = dogpile::redis::make_tracked_client(*listener, pool);
        o.ttl = std::chrono::hours(1);
        o.distributed_lock = lock_options(prefix);
        auto remote = std::make_shared<Remote>(o);
        dogpile::NearCacheOptions<HashKey> near;
        near.listener = listener;
        near.redis_key = dogpile::redis_keys_of(*remote);
        near.capacity = 1000;
        cache = std::make_shared<Near>(remote, near);
        EXPECT_TRUE(listener->wait_until_tracking(std::chrono::seconds(30))) << listener->last_error();
        return cache;
    }
    Key key(std::size_t i) { return {prefix + "h" + std::to_string(i % 3), std::to_string(i)}; }
    Value value(std::size_t i) { return "value " + std::to_string(i); }
    std::vector<Key> awkward_keys() { return awkward_hash_keys(prefix); }
    // A write behind the near cache's back: dropped from the near tier at once
    // rather than when its invalidation message arrives.
    void corrupt(const Key& key, const std::string& bytes) {
        raw_ok({"HSET", key.hash, key.field, bytes});
        cache->invalidate_near(key.hash);
    }

    std::string prefix;
    std::shared_ptr<dogpile::redis::InvalidationListener> listener;
    std::shared_ptr<Near> cache;
};

}  // namespace

DOGPILE_BACKEND_CONFORMANCE(Redis, Plain, HashRaw, HashEnvelope, SymmetricAtomic, SymmetricPerNode, NearCache);
