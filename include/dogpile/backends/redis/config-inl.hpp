#pragma once
// Definitions of backends/redis/config.hpp's non-template functions
// (details/linkage.hpp: header-only, or compiled once into dogpile::redis_compiled).

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "config.hpp"

namespace dogpile::details {

DOGPILE_INLINE std::shared_ptr<redis::Client> redis_client_from_settings(const Settings& arguments,
                                                                         const RedisConfigDefaults& defaults) {
    const auto url = defaults.client
                         ? arguments.get_string("url")
                         : std::optional<std::string>(arguments.require_string(
                               "url", "redis://[[user]:password@]host[:port][/db] or unix:///path/to.sock"));
    if (!url) return defaults.client;

    redis::PoolOptions pool = defaults.pool;
    try {
        pool.connection = redis::ConnectionOptions::from_url(trim_setting(*url), std::move(pool.connection));
    } catch (const ConfigurationError& e) {
        throw arguments.error("url", std::string("is refused: ") + e.what());
    }
    redis::ConnectionOptions& connection = pool.connection;
    if (auto username = arguments.get_string("username")) connection.username = *username;
    if (auto password = arguments.get_string("password")) connection.password = *password;
    if (auto size = arguments.get_integer<std::size_t>("pool_size", 1, 100000)) pool.size = *size;
    if (auto timeout = arguments.get_milliseconds("pool_timeout")) pool.acquire_timeout = *timeout;
    if (auto timeout = arguments.get_milliseconds("idle_check_after")) pool.idle_check_after = *timeout;
    if (auto timeout = arguments.get_milliseconds("connect_timeout")) connection.connect_timeout = *timeout;
    if (auto timeout = arguments.get_milliseconds("command_timeout")) connection.command_timeout = *timeout;
    if (auto name = arguments.get_string("client_name")) connection.client_name = *name;
    if (auto keepalive = arguments.get_bool("tcp_keepalive")) connection.tcp_keepalive = *keepalive;
    try {
        connection.validate();
        pool.validate();
    } catch (const ConfigurationError& e) {
        throw ConfigurationError("settings '" + arguments.prefix() + "*' (Redis client): " + e.what());
    }
    return redis::make_client(std::move(pool));
}

DOGPILE_INLINE std::optional<redis::TtlPolicy> ttl_policy_setting(const Settings& arguments) {
    return arguments.get_enum<redis::TtlPolicy>("ttl_policy", {{"on_create", redis::TtlPolicy::on_create},
                                                               {"refresh_on_write", redis::TtlPolicy::refresh_on_write},
                                                               {"none", redis::TtlPolicy::none}});
}

DOGPILE_INLINE std::optional<redis::PayloadMode> payload_setting(const Settings& arguments) {
    return arguments.get_enum<redis::PayloadMode>(
        "payload", {{"raw", redis::PayloadMode::raw}, {"envelope", redis::PayloadMode::envelope}});
}

DOGPILE_INLINE RedisBackendOptions plain_options_from_settings(const Settings& arguments,
                                                              const RedisConfigDefaults& defaults) {
    RedisBackendOptions options;
    common_redis_options(options, arguments, defaults);
    if (auto prefix = arguments.get_string("key_prefix")) options.key_prefix = *prefix;
    options.ttl = arguments.get_duration("ttl");
    return options;
}

DOGPILE_INLINE RedisHashBackendOptions hash_options_from_settings(const Settings& arguments,
                                                                  const RedisConfigDefaults& defaults) {
    RedisHashBackendOptions options;
    hash_store_options(options, arguments, defaults);
    if (auto n = arguments.get_integer<std::size_t>("max_fields_per_call", 1)) options.max_fields_per_call = *n;
    if (auto n = arguments.get_integer<std::size_t>("max_fields_per_read", 1)) options.max_fields_per_read = *n;
    if (auto whole = arguments.get_bool("whole_hash_reads"); whole && !*whole) options.whole_hash_reads = std::nullopt;
    return options;
}

DOGPILE_INLINE RedisSymmetricBackendOptions symmetric_options_from_settings(const Settings& arguments,
                                                                            const RedisConfigDefaults& defaults) {
    RedisSymmetricBackendOptions options;
    hash_store_options(options, arguments, defaults);
    if (auto prefix = arguments.get_string("a_prefix")) options.a_prefix = *prefix;
    if (auto prefix = arguments.get_string("b_prefix")) options.b_prefix = *prefix;
    if (auto n = arguments.get_integer<std::size_t>("max_pairs_per_call", 1)) options.max_pairs_per_call = *n;
    if (auto n = arguments.get_integer<std::size_t>("max_pairs_per_read", 1)) options.max_pairs_per_read = *n;
    if (auto mode = arguments.get_enum<redis::SymmetricMode>(
            "mode", {{"atomic", redis::SymmetricMode::atomic}, {"per_node", redis::SymmetricMode::per_node}})) {
        options.mode = *mode;
    }
    return options;
}

}  // namespace dogpile::details
