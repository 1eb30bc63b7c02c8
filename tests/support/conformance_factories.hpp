#pragma once
// The factories that run the Backend contract (dogpile/testing/backend_suite.hpp)
// on the Redis stores, and helpers for factories elsewhere (the Cluster ones).
// Each factory takes `Server`, a type whose static get() returns the
// RedisServer to use: the same factories run on the shared plaintext server
// (test_redis_backend_conformance.cpp) and on a TLS server
// (test_redis_tls_conformance.cpp).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <dogpile/backends/redis/hash_key.hpp>
#include <dogpile/codec/envelope.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/testing/backend_suite.hpp>

#include "near_cache_stack.hpp"
#include "redis_server.hpp"

namespace dogpile::test::conformance {

using dogpile::redis::HashKey;

// A key prefix no other test, and no other backend of this test, uses.
inline std::string unique_prefix() {
    static std::atomic<unsigned> made{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->test_suite_name()) + "." + info->name() + "#" + std::to_string(made.fetch_add(1)) + ":";
}

// Hash-store keys the store must keep apart: empty and NUL fields, a NUL in
// the hash name, CR LF, non-UTF-8 bytes, a long field; all under `prefix`.
inline std::vector<HashKey> awkward_hash_keys(const std::string& prefix) {
    using dogpile::testing::bytes_of;
    return {{prefix + "h", ""},
            {prefix + "h", std::string(1, '\0')},
            {prefix + std::string("h\0x", 3), "f"},
            {prefix + "h", "a b\r\n"},
            {prefix + bytes_of({0xff}), bytes_of({0xfe, 0xc1})},
            {prefix + "h", std::string(300, 'f')}};
}


using dogpile::A2BKey;
using dogpile::test::NearCacheStack;
using dogpile::testing::BackendCapabilities;
using dogpile::testing::MetadataKept;
using dogpile::testing::MutexOffer;
using dogpile::testing::bytes_of;

inline void raw_ok(const RedisServer& server, const std::vector<std::string>& argv) {
    const auto r = server.raw(argv);
    ASSERT_FALSE(r.is_error()) << argv.front() << ": " << r.str;
}

inline dogpile::redis::LockOptions lock_options(const std::string& prefix) {
    dogpile::redis::LockOptions lock;
    lock.prefix = prefix + "lock|";
    return lock;
}

// Above the kit's 1 MiB awkward value.
inline constexpr std::size_t payload_limit = 2u << 20;

// --- plain: one string per key ------------------------------------------------------

template <class Server>
struct PlainStore {
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
        o.client = dogpile::redis::make_client(Server::get().url());
        o.key_prefix = prefix;
        o.distributed_lock = lock_options(prefix);
        o.limits.max_payload_bytes = payload_limit;
        return std::make_shared<dogpile::RedisBackend<Value>>(o);
    }
    Key key(std::size_t i) { return "k" + std::to_string(i); }
    Value value(std::size_t i) { return "value " + std::to_string(i); }
    Value over_limit_value() { return std::string(payload_limit + 1, 'x'); }
    void corrupt(const Key& key, const std::string& bytes) { raw_ok(Server::get(), {"SET", prefix + key, bytes}); }
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
            bytes_of({0xc1, 0x01}),  // truncated envelope
            envelope::wrap(dogpile::Metadata{},
                           bytes_of({0xdd, 0xff, 0xff, 0xff, 0xff})),                 // array claiming 4 G elements
            envelope::wrap(dogpile::Metadata{}, bytes_of({0x93, 0x01, 0x02, 0x03})),  // wrong type
            envelope::wrap(dogpile::Metadata{}, bytes_of({0xa5, 0x61})),              // truncated payload
            std::string(),
        };
    }

    std::string prefix;
};

// --- the hash store -------------------------------------------------------------------

template <class Server, dogpile::redis::PayloadMode mode>
struct HashStore {
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
        o.client = dogpile::redis::make_client(Server::get().url());
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
    void corrupt(const Key& key, const std::string& bytes) {
        raw_ok(Server::get(), {"HSET", key.hash, key.field, bytes});
    }

    std::string prefix;
};

// --- the symmetric store --------------------------------------------------------------

template <class Server, dogpile::redis::SymmetricMode mode>
struct SymmetricStore {
    using Value = std::string;
    using Key = A2BKey;
    static std::string name() {
        return mode == dogpile::redis::SymmetricMode::atomic ? "SymmetricAtomic" : "SymmetricPerNode";
    }
    static BackendCapabilities capabilities() {
        BackendCapabilities c;
        c.metadata = MetadataKept::store_managed;
        c.mutex = MutexOffer::exclusive;
        return c;
    }
    std::shared_ptr<dogpile::Backend<Value, Key>> make() {
        prefix = unique_prefix();
        dogpile::RedisSymmetricBackendOptions o;
        o.client = dogpile::redis::make_client(Server::get().url());
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
        return {{"a", ""},
                {"a", std::string(1, '\0')},
                {std::string("a\0x", 3), "b"},
                {"a b\r\n", "b"},
                {bytes_of({0xff}), bytes_of({0xfe, 0xc1})},
                {"a", std::string(300, 'b')}};
    }
    // Reads come from the A side.
    void corrupt(const Key& key, const std::string& bytes) {
        raw_ok(Server::get(), {"HSET", a_prefix + key.a, key.b, bytes});
    }

    std::string prefix;
    std::string a_prefix;
};

// --- the near cache in front of the hash store -----------------------------------------

template <class Server>
struct NearCacheOverHash {
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
        tracking.connection = Server::get().options();
        NearCacheStack stack = dogpile::test::make_near_cache_stack(tracking, 4, lock_options(prefix));
        listener = stack.listener;
        cache = stack.cache;
        EXPECT_TRUE(listener->wait_until_tracking(std::chrono::seconds(30))) << listener->last_error();
        return cache;
    }
    Key key(std::size_t i) { return {prefix + "h" + std::to_string(i % 3), std::to_string(i)}; }
    Value value(std::size_t i) { return "value " + std::to_string(i); }
    std::vector<Key> awkward_keys() { return awkward_hash_keys(prefix); }
    // A write behind the near cache's back: dropped from the near tier at once
    // rather than when its invalidation message arrives.
    void corrupt(const Key& key, const std::string& bytes) {
        raw_ok(Server::get(), {"HSET", key.hash, key.field, bytes});
        cache->invalidate_near(key.hash);
    }

    std::string prefix;
    std::shared_ptr<dogpile::redis::InvalidationListener> listener;
    std::shared_ptr<Near> cache;
};

}  // namespace dogpile::test::conformance
