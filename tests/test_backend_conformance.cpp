// The Backend contract (dogpile/testing/backend_suite.hpp) on the in-process
// backends and on the custom backend of examples/custom_backend.hpp. The Redis
// stores run it in test_redis_backend_conformance.cpp and, on a cluster, in
// test_redis_cluster_backends.cpp.

#include <dogpile/testing/backend_suite.hpp>

#include <memory>
#include <ostream>
#include <string>

#include <dogpile/backends/memory.hpp>
#include <dogpile/backends/null.hpp>

#include "../examples/custom_backend.hpp"

namespace {

using dogpile::testing::BackendCapabilities;
using dogpile::testing::Persistence;

// Keys and values as the kit's default awkward keys and values expect: strings.
struct StringKeysAndValues {
    using Value = std::string;
    using Key = std::string;
    Key key(std::size_t i) { return "key:" + std::to_string(i); }
    Value value(std::size_t i) { return "value " + std::to_string(i); }
};

template <dogpile::EvictionPolicy policy>
struct MemoryFactory : StringKeysAndValues {
    static std::string name() {
        switch (policy) {
            case dogpile::EvictionPolicy::clock: return "Clock";
            case dogpile::EvictionPolicy::lru: return "Lru";
            case dogpile::EvictionPolicy::tiny_lfu: break;
        }
        return "TinyLfu";
    }
    static BackendCapabilities capabilities() { return {}; }
    std::shared_ptr<dogpile::Backend<Value, Key>> make() {
        dogpile::MemoryBackendOptions o;
        o.capacity = 1000;
        o.eviction = policy;
        o.ttl = std::chrono::hours(1);
        return std::make_shared<dogpile::MemoryBackend<Value>>(o);
    }
};
using MemoryClock = MemoryFactory<dogpile::EvictionPolicy::clock>;
using MemoryLru = MemoryFactory<dogpile::EvictionPolicy::lru>;
using MemoryTinyLfu = MemoryFactory<dogpile::EvictionPolicy::tiny_lfu>;

struct UnboundedMemory : StringKeysAndValues {
    static std::string name() { return "Unbounded"; }
    static BackendCapabilities capabilities() { return {}; }
    std::shared_ptr<dogpile::Backend<Value, Key>> make() { return std::make_shared<dogpile::MemoryBackend<Value>>(); }
};

struct Null : StringKeysAndValues {
    static BackendCapabilities capabilities() {
        BackendCapabilities c;
        c.persistence = Persistence::stores_nothing;
        return c;
    }
    std::shared_ptr<dogpile::Backend<Value, Key>> make() { return std::make_shared<dogpile::NullBackend<Value>>(); }
};

// Swallows the example's call log.
struct NullBuffer : std::streambuf {
    int overflow(int c) override { return c; }
};

struct ExampleCustomBackend : StringKeysAndValues {
    static BackendCapabilities capabilities() { return {}; }
    std::shared_ptr<dogpile::Backend<Value, Key>> make() { return std::make_shared<LoggingMapBackend<Value>>(log); }

    NullBuffer buffer;
    std::ostream log{&buffer};
};

}  // namespace

DOGPILE_BACKEND_CONFORMANCE(Memory, MemoryTinyLfu, MemoryClock, MemoryLru, UnboundedMemory);
DOGPILE_BACKEND_CONFORMANCE(Null, Null);
DOGPILE_BACKEND_CONFORMANCE(CustomBackendExample, ExampleCustomBackend);
