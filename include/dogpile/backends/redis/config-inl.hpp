#pragma once
// Definitions of backends/redis/config.hpp's non-template functions
// (details/linkage.hpp: header-only, or compiled once into dogpile::redis_compiled).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "config.hpp"

namespace dogpile::details {

// The tls.* keys on top of a rediss:// URL's TLS options (tls_options.hpp).
DOGPILE_INLINE void apply_tls_settings(redis::ConnectionOptions& connection, const Settings& arguments) {
    const auto ca_file = arguments.get_string("tls.ca_file");
    const auto ca_dir = arguments.get_string("tls.ca_dir");
    const auto cert_file = arguments.get_string("tls.cert_file");
    const auto key_file = arguments.get_string("tls.key_file");
    const auto server_name = arguments.get_string("tls.server_name");
    const auto verify_hostname = arguments.get_bool("tls.verify_hostname");
    const auto min_protocol = arguments.get_enum<redis::TlsVersion>(
        "tls.min_protocol", {{"1.2", redis::TlsVersion::tls1_2}, {"1.3", redis::TlsVersion::tls1_3}});
    const auto insecure = arguments.get_bool("tls.insecure_skip_verification");
    const char* first = ca_file           ? "tls.ca_file"
                        : ca_dir          ? "tls.ca_dir"
                        : cert_file       ? "tls.cert_file"
                        : key_file        ? "tls.key_file"
                        : server_name     ? "tls.server_name"
                        : verify_hostname ? "tls.verify_hostname"
                        : min_protocol    ? "tls.min_protocol"
                        : insecure        ? "tls.insecure_skip_verification"
                                          : nullptr;
    if (first == nullptr) return;
    if (!connection.tls) {
        throw arguments.error(first, "is a TLS setting: the url must be rediss://host[:port] for TLS");
    }
    redis::TlsOptions& tls = *connection.tls;
    if (ca_file) tls.ca_file = trim_setting(*ca_file);
    if (ca_dir) tls.ca_dir = trim_setting(*ca_dir);
    if (cert_file) tls.cert_file = trim_setting(*cert_file);
    if (key_file) tls.key_file = trim_setting(*key_file);
    if (server_name) tls.server_name = trim_setting(*server_name);
    if (verify_hostname) tls.verify_hostname = *verify_hostname;
    if (min_protocol) tls.min_protocol = *min_protocol;
    if (insecure) {
        tls.verification =
            *insecure ? redis::TlsVerification::insecure_skip_verification : redis::TlsVerification::verify_peer;
    }
}

// The client keys on top of a pool whose address came from a URL.
DOGPILE_INLINE void apply_client_settings(redis::PoolOptions& pool, const Settings& arguments) {
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
    apply_tls_settings(connection, arguments);
    if (auto failures = arguments.get_integer<std::size_t>("breaker_failure_threshold", 1)) {
        pool.breaker.failure_threshold = *failures;
    }
    if (auto interval = arguments.get_milliseconds("breaker_probe_interval")) pool.breaker.probe_interval = *interval;
    if (auto enabled = arguments.get_bool("breaker"); enabled && !*enabled)
        pool.breaker.failure_threshold = std::nullopt;
}

// "redis://user:pw@h1:p1,h2:p2?q" -> "redis://user:pw@h1:p1?q": the node
// URL whose credentials and query options every node shares.
DOGPILE_INLINE std::string first_node_url(std::string_view cluster_url) {
    const auto query_at = cluster_url.find('?');
    const std::string_view query =
        query_at == std::string_view::npos ? std::string_view() : cluster_url.substr(query_at);
    const std::string_view head = cluster_url.substr(0, query_at);
    const auto at = head.rfind('@');
    const auto scheme_end = head.find("://");
    const std::size_t hosts_start = at != std::string_view::npos           ? at + 1
                                    : scheme_end == std::string_view::npos ? 0
                                                                           : scheme_end + 3;
    return std::string(head.substr(0, head.find(',', hosts_start))) + std::string(query);
}

DOGPILE_INLINE void validate_client_settings(const Settings& arguments, const std::function<void()>& validate) {
    try {
        validate();
    } catch (const ConfigurationError& e) {
        throw ConfigurationError("settings '" + arguments.prefix() + "*' (Redis client): " + e.what());
    }
}

DOGPILE_INLINE std::shared_ptr<redis::Client> redis_client_from_settings(const Settings& arguments,
                                                                         const RedisConfigDefaults& defaults) {
    const auto url = arguments.get_string("url");
    const auto cluster_url = arguments.get_string("cluster_url");
    if (url && cluster_url) {
        throw arguments.error("cluster_url", "and " + arguments.key("url") + " are both set: expected one of them");
    }
    if (!url && !cluster_url) {
        if (defaults.client) return defaults.client;
        throw arguments.error("url", "is required: expected redis://[[user]:password@]host[:port][/db] or "
                                     "unix:///path/to.sock (or " +
                                         arguments.key("cluster_url") +
                                         " = redis://host:port,host:port for a Redis Cluster)");
    }

    if (url) {
        redis::PoolOptions pool = defaults.pool;
        try {
            pool.connection = redis::ConnectionOptions::from_url(trim_setting(*url), std::move(pool.connection));
        } catch (const ConfigurationError& e) {
            throw arguments.error("url", std::string("is refused: ") + e.what());
        }
        apply_client_settings(pool, arguments);
        if (!pool.breaker.on_state_change) pool.breaker.on_state_change = redis::report_breaker_to(defaults.error_hook);
        validate_client_settings(arguments, [&] {
            pool.connection.validate();
            pool.validate();
        });
        return redis::make_client(std::move(pool));
    }

    redis::ClusterOptions cluster;
    try {
        cluster = redis::ClusterOptions::from_url(trim_setting(*cluster_url));
        cluster.pool.connection =
            redis::ConnectionOptions::from_url(first_node_url(trim_setting(*cluster_url)), defaults.pool.connection);
    } catch (const ConfigurationError& e) {
        throw arguments.error("cluster_url", std::string("is refused: ") + e.what());
    }
    const redis::ConnectionOptions connection = std::move(cluster.pool.connection);
    cluster.pool = defaults.pool;
    cluster.pool.connection = connection;
    apply_client_settings(cluster.pool, arguments);
    if (!cluster.pool.breaker.on_state_change) {
        cluster.pool.breaker.on_state_change = redis::report_breaker_to(defaults.error_hook);
    }
    if (auto read_from = arguments.get_enum<redis::ReadFrom>(
            "read_from", {{"primary", redis::ReadFrom::primary}, {"replica", redis::ReadFrom::replica}})) {
        cluster.read_from = *read_from;
    }
    validate_client_settings(arguments, [&] { cluster.validate(); });
    return std::make_shared<redis::ClusterClient>(std::move(cluster));
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
