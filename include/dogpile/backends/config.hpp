#pragma once
// The in-process backends in a BackendRegistry (config.hpp), so settings can
// name them:
//
//   auto registry = dogpile::builtin_backends<std::string>();
//   // cache.backend = memory
//   // cache.arguments.capacity = 10000
//
//   "memory"  MemoryBackend (when Value is copyable and Key hashable). Arguments:
//             capacity (entries), eviction (tiny_lfu | clock | lru), ttl
//             (a duration), shards (a power of two), clock_policy (coarse | precise).
//             max_weight needs a weigher, which settings cannot hold.
//   "null"    NullBackend, no arguments.
//
// Thread safety: as config.hpp (register before sharing the registry).

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>

#include "../cached_value.hpp"
#include "../config.hpp"
#include "../settings.hpp"
#include "memory.hpp"
#include "null.hpp"

namespace dogpile {

/// The MemoryBackendOptions an "arguments" section gives (capacity, eviction, ttl, shards, ...);
/// ConfigurationError for a malformed value.
inline MemoryBackendOptions memory_backend_options_from_settings(const Settings& arguments) {
    MemoryBackendOptions options;
    options.capacity = arguments.get_integer<std::size_t>("capacity", 1);
    if (auto eviction = arguments.get_enum<EvictionPolicy>(
            "eviction",
            {{"tiny_lfu", EvictionPolicy::tiny_lfu}, {"clock", EvictionPolicy::clock}, {"lru", EvictionPolicy::lru}})) {
        options.eviction = *eviction;
    }
    options.ttl = arguments.get_duration("ttl");
    if (options.ttl && *options.ttl == Duration::zero()) throw arguments.error("ttl", "must be positive");
    if (auto shards = arguments.get_integer<std::size_t>("shards", 1, std::size_t{1} << 16)) {
        if ((*shards & (*shards - 1)) != 0)
            throw arguments.malformed("shards", std::to_string(*shards), "a power of two");
        options.shards = *shards;
    }
    if (auto policy = clock_policy_setting(arguments, "clock_policy")) options.clock_policy = *policy;
    return options;
}

/// Adds "null", and "memory" when the types allow it.
template <class Value, class Key>
void register_builtin_backends(BackendRegistry<Value, Key>& registry) {
    registry.add("null", [](const Settings&) { return std::make_shared<NullBackend<Value, Key>>(); });
    if constexpr (std::is_copy_constructible_v<Value> && std::is_default_constructible_v<std::hash<Key>>) {
        registry.add("memory", [](const Settings& arguments) {
            return std::make_shared<MemoryBackend<Value, Key>>(memory_backend_options_from_settings(arguments));
        });
    }
}

/// A registry holding the built-in backends.
template <class Value, class Key = std::string>
BackendRegistry<Value, Key> builtin_backends() {
    BackendRegistry<Value, Key> registry;
    register_builtin_backends(registry);
    return registry;
}

}  // namespace dogpile
