#pragma once
/// \file
/// The Redis backends in a BackendRegistry (config.hpp), so a region's Redis
/// backend, client and codec come from settings:
///
/// \code
///   #include <dogpile/codec/msgpack.hpp>   // for the default codec
///   auto registry = dogpile::builtin_backends<std::string>();   // backends/config.hpp
///   dogpile::register_redis_backends(registry);
///   // cache.backend = redis
///   // cache.arguments.url = redis://cache.internal:6379/2
///   // cache.arguments.ttl = 1h
/// \endcode
///
/// Registered by key type: "redis" (RedisBackend, Key std::string),
/// "redis_hash" (RedisHashBackend, Key HashKey), "redis_symmetric"
/// (RedisSymmetricBackend, Key A2BKey).
///
/// Arguments (after `<prefix>arguments.`):
/// \code{.unparsed}
///   url                 redis[s]://[[user]:password@]host[:port][/db][?...] or unix:///path
///                       (options.hpp), for one server
///   cluster_url         redis[s]://[[user]:password@]host:port[,host:port...][?...]
///                       (cluster_options.hpp), for a Redis Cluster; with read_from
///                       (primary | replica). One of url and cluster_url is required
///                       unless RedisConfigDefaults::client is set, which is then used
///                       (and the client keys below are unknown).
///   username, password  override the URL's
///   pool_size           connections, default 8
///   pool_timeout        how long a caller waits for a free connection
///   connect_timeout, command_timeout, idle_check_after   durations
///   client_name, tcp_keepalive
///   breaker             true | false: the pool's circuit breaker (default true)
///   breaker_failure_threshold, breaker_probe_interval   its BreakerOptions
///   codec               one of the codecs given to register_redis_backends (default: the first)
///   distributed_lock    true: creators in other processes are serialized too
///   lock_ttl, lock_prefix, lock_max_wait   with distributed_lock
///   max_key_bytes, max_payload_bytes        BackendLimits
///   redis:              key_prefix, ttl
///   redis_hash:         ttl, ttl_policy (on_create | refresh_on_write | none),
///                       payload (raw | envelope), max_fields_per_call,
///                       max_fields_per_read, whole_hash_reads (true | false)
///   redis_symmetric:    ttl, ttl_policy, payload, a_prefix, b_prefix,
///                       max_pairs_per_call, max_pairs_per_read, mode (atomic | per_node)
///
///   tls.ca_file, tls.ca_dir, tls.cert_file, tls.key_file, tls.server_name,
///   tls.verify_hostname (true | false), tls.min_protocol (1.2 | 1.3),
///   tls.insecure_skip_verification (true | false)
///                       TLS (redis/tls_options.hpp) on top of a rediss:// url or
///                       cluster_url's query options; on a redis:// URL they are refused.
/// \endcode
///
/// Each backend built from a URL has a client (a connection pool) of its own;
/// give RedisConfigDefaults::client to share one.
///
/// Thread safety: as config.hpp (register before sharing the registry).

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../../config.hpp"
#include "../../details/linkage.hpp"
#include "../../errors.hpp"
#include "../../redis/client.hpp"
#include "../../redis/cluster.hpp"
#include "../../redis/cluster_options.hpp"
#include "../../redis/options.hpp"
#include "../../redis/pool.hpp"
#include "../../settings.hpp"
#include "hash.hpp"
#include "plain.hpp"
#include "symmetric.hpp"

namespace dogpile {

/// A codec under the name the "codec" argument selects it by.
template <class Codec>
struct NamedCodec {
    std::string name;  ///< what the "codec" argument says to pick this codec
    Codec codec;       ///< the codec itself
};

/// A NamedCodec, with Codec deduced: `named_codec("msgpack", codec::MsgpackCodec<V>{})`.
template <class Codec>
NamedCodec<Codec> named_codec(std::string name, Codec codec) {
    return NamedCodec<Codec>{std::move(name), std::move(codec)};
}

/// What settings cannot hold.
struct RedisConfigDefaults {
    /// Used when the settings give neither url nor cluster_url: several
    /// regions share its pool.
    std::shared_ptr<redis::Client> client{};
    /// The base of clients made from a URL (on_connect, on_acquire, ...);
    /// the URL and the settings override what they name. For a cluster, the
    /// pool of each node.
    redis::PoolOptions pool{};
    /// every backend's error hook; also told of circuit breaker changes
    redis::BackendErrorHook error_hook{};
};

namespace details {

// A client from the url argument (and the client keys), or defaults.client.
std::shared_ptr<redis::Client> redis_client_from_settings(const Settings& arguments,
                                                          const RedisConfigDefaults& defaults);

// The options every Redis store has: client, distributed lock, limits, hook.
template <class Options>
void common_redis_options(Options& options, const Settings& arguments, const RedisConfigDefaults& defaults) {
    options.client = redis_client_from_settings(arguments, defaults);
    options.error_hook = defaults.error_hook;
    if (auto bytes = arguments.get_integer<std::size_t>("max_key_bytes", 1)) options.limits.max_key_bytes = *bytes;
    if (auto bytes = arguments.get_integer<std::size_t>("max_payload_bytes", 1))
        options.limits.max_payload_bytes = *bytes;

    const bool locking = arguments.get_bool("distributed_lock").value_or(false);
    redis::LockOptions lock;
    const auto ttl = arguments.get_milliseconds("lock_ttl");
    const auto prefix = arguments.get_string("lock_prefix");
    const auto max_wait = arguments.get_milliseconds("lock_max_wait");
    if (!locking && (ttl || prefix || max_wait)) {
        const char* const given = ttl ? "lock_ttl" : prefix ? "lock_prefix" : "lock_max_wait";
        throw arguments.error(given, "needs " + arguments.key("distributed_lock") + " = true");
    }
    if (!locking) return;
    if (ttl) lock.ttl = *ttl;
    if (prefix) lock.prefix = *prefix;
    if (max_wait) lock.max_wait = *max_wait;
    options.distributed_lock = lock;
}

std::optional<redis::TtlPolicy> ttl_policy_setting(const Settings& arguments);
std::optional<redis::PayloadMode> payload_setting(const Settings& arguments);

// What the two hash stores share: ttl, ttl_policy, payload.
template <class Options>
void hash_store_options(Options& options, const Settings& arguments, const RedisConfigDefaults& defaults) {
    common_redis_options(options, arguments, defaults);
    options.ttl = arguments.get_duration("ttl");
    if (auto policy = ttl_policy_setting(arguments)) options.ttl_policy = *policy;
    if (auto payload = payload_setting(arguments)) options.payload = *payload;
}

RedisBackendOptions plain_options_from_settings(const Settings& arguments, const RedisConfigDefaults& defaults);
RedisHashBackendOptions hash_options_from_settings(const Settings& arguments, const RedisConfigDefaults& defaults);
RedisSymmetricBackendOptions symmetric_options_from_settings(const Settings& arguments,
                                                             const RedisConfigDefaults& defaults);

// The SerializingBackend over Store with the codec the "codec" argument
// names (the first when unset). The store's own validation errors name the
// backend and the settings section.
template <class Store, class Value, class Options, class... Codecs>
std::shared_ptr<Backend<Value, typename Store::key_type>> make_redis_backend(
    std::string_view backend_name, const Settings& arguments, Options options,
    const std::tuple<NamedCodec<Codecs>...>& codecs) {
    const auto chosen = arguments.get_string("codec");
    const std::string wanted = chosen ? std::string(trim_setting(*chosen)) : std::get<0>(codecs).name;
    std::shared_ptr<Backend<Value, typename Store::key_type>> backend;
    std::set<std::string> names;
    try {
        std::apply(
            [&](const auto&... named) {
                const auto build = [&](const auto& one) {
                    names.insert(one.name);
                    if (backend || one.name != wanted) return;
                    using Codec = std::decay_t<decltype(one.codec)>;
                    backend =
                        std::make_shared<redis::SerializingBackend<Store, Value, Codec>>(std::move(options), one.codec);
                };
                (build(named), ...);
            },
            codecs);
    } catch (const ConfigurationError& e) {
        throw ConfigurationError("backend '" + std::string(backend_name) + "' (settings '" + arguments.prefix() +
                                 "*'): " + e.what());
    }
    if (!backend) throw arguments.malformed("codec", *chosen, "one of " + join_names(names));
    return backend;
}

}  // namespace details

/// Registers the Redis backends that fit Key (arguments: backends/redis/config.hpp). The
/// codecs are what the "codec" argument may name; the first is the default.
template <class Value, class Key, class FirstCodec, class... MoreCodecs>
void register_redis_backends(BackendRegistry<Value, Key>& registry, RedisConfigDefaults defaults,
                             NamedCodec<FirstCodec> first, NamedCodec<MoreCodecs>... more) {
    auto codecs = std::make_shared<const std::tuple<NamedCodec<FirstCodec>, NamedCodec<MoreCodecs>...>>(
        std::move(first), std::move(more)...);
    std::set<std::string> names;
    std::apply([&](const auto&... named) { (names.insert(named.name), ...); }, *codecs);
    if (names.size() != sizeof...(MoreCodecs) + 1)
        throw ConfigurationError("register_redis_backends: two codecs share a name");
    auto shared_defaults = std::make_shared<const RedisConfigDefaults>(std::move(defaults));

    if constexpr (std::is_same_v<Key, std::string>) {
        registry.add("redis", [codecs, shared_defaults](const Settings& arguments) {
            return details::make_redis_backend<redis::RedisStringStore, Value>(
                "redis", arguments, details::plain_options_from_settings(arguments, *shared_defaults), *codecs);
        });
    } else if constexpr (std::is_same_v<Key, HashKey>) {
        registry.add("redis_hash", [codecs, shared_defaults](const Settings& arguments) {
            return details::make_redis_backend<redis::RedisHashStore, Value>(
                "redis_hash", arguments, details::hash_options_from_settings(arguments, *shared_defaults), *codecs);
        });
    } else if constexpr (std::is_same_v<Key, A2BKey>) {
        registry.add("redis_symmetric", [codecs, shared_defaults](const Settings& arguments) {
            return details::make_redis_backend<redis::RedisSymmetricStore, Value>(
                "redis_symmetric", arguments, details::symmetric_options_from_settings(arguments, *shared_defaults),
                *codecs);
        });
    } else {
        static_assert(std::is_same_v<Key, std::string>, "the Redis backends take std::string, HashKey or A2BKey keys");
    }
}

/// The same with codec::MsgpackCodec<Value> as "msgpack", the only codec (a
/// TU that calls it includes dogpile/codec/msgpack.hpp).
template <class Value, class Key, class Codec = codec::MsgpackCodec<Value>>
void register_redis_backends(BackendRegistry<Value, Key>& registry, RedisConfigDefaults defaults = {}) {
    register_redis_backends(registry, std::move(defaults), named_codec("msgpack", Codec{}));
}

}  // namespace dogpile

#if DOGPILE_INCLUDE_DEFINITIONS
#include "config-inl.hpp"
#endif
