#pragma once
// Definitions of cluster_options.hpp (details/linkage.hpp: inline when header-only).

#include "cluster_options.hpp"

namespace dogpile::redis {

DOGPILE_INLINE void ClusterOptions::validate() const {
    if (seeds.empty()) throw ConfigurationError("redis cluster options: at least one seed node is needed");
    pool.validate();
    if (pool.connection.db != 0) {
        throw ConfigurationError("redis cluster options: a Redis Cluster has only database 0 (got db " +
                                 std::to_string(pool.connection.db) + ")");
    }
    for (const auto& seed : seeds) seed.apply_to(pool.connection).validate();
    if (max_redirects < 1) throw ConfigurationError("redis cluster options: max_redirects must be at least 1");
    if (retry_initial.count() <= 0) {
        throw ConfigurationError("redis cluster options: retry_initial must be positive");
    }
    if (retry_max < retry_initial) {
        throw ConfigurationError("redis cluster options: retry_max must not be below retry_initial");
    }
    if (retry_timeout && retry_timeout->count() < 0) {
        throw ConfigurationError("redis cluster options: retry_timeout must not be negative");
    }
    if (refresh_interval.count() < 0) {
        throw ConfigurationError("redis cluster options: refresh_interval must not be negative");
    }
}

DOGPILE_INLINE ClusterOptions ClusterOptions::from_url(std::string_view url) {
    const std::string shown = details::redact_url(url);
    const auto scheme_end = url.find("://");
    const std::string_view scheme = url.substr(0, scheme_end);
    if (scheme_end == std::string_view::npos || (scheme != "redis" && scheme != "rediss")) {
        throw ConfigurationError("redis cluster URL '" + shown +
                                 "': expected redis[s]://[[user]:password@]host:port[,host:port...][?options]");
    }
    std::string_view rest = url.substr(scheme_end + 3);
    std::string_view query;
    if (const auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q);
        rest = rest.substr(0, q);
    }
    std::string_view userinfo;
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
        userinfo = rest.substr(0, at + 1);
        rest = rest.substr(at + 1);
    }
    if (rest.find('/') != std::string_view::npos) {
        throw ConfigurationError("redis cluster URL '" + shown + "': a Redis Cluster has no databases; drop the /path");
    }
    ClusterOptions options;
    while (true) {
        const auto comma = rest.find(',');
        const std::string_view host = rest.substr(0, comma);
        if (host.empty()) throw ConfigurationError("redis cluster URL '" + shown + "': empty host in the node list");
        const ConnectionOptions node = ConnectionOptions::from_url(std::string(scheme) + "://" + std::string(userinfo) +
                                                                   std::string(host) + std::string(query));
        if (options.seeds.empty()) options.pool.connection = node;
        options.seeds.push_back(NodeAddress{node.host, node.port});
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
    }
    options.validate();
    return options;
}

}  // namespace dogpile::redis
