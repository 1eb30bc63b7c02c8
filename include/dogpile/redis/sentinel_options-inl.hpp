#pragma once
// Definitions of sentinel_options.hpp (details/linkage.hpp: inline when header-only).

#include "sentinel_options.hpp"

namespace dogpile::redis {

DOGPILE_INLINE void SentinelOptions::validate() const {
    if (master_name.empty()) throw ConfigurationError("redis sentinel options: master_name is empty");
    if (sentinels.empty()) throw ConfigurationError("redis sentinel options: at least one sentinel is needed");
    for (const auto& s : sentinels) s.apply_to(sentinel_connection).validate();
    pool.validate();
    if (resolve_interval.count() < 0) {
        throw ConfigurationError("redis sentinel options: resolve_interval must not be negative");
    }
}

DOGPILE_INLINE ConnectionOptions SentinelOptions::sentinel_connection_to(const NodeAddress& sentinel) const {
    ConnectionOptions o = sentinel.apply_to(sentinel_connection);
    o.db = 0;
    return o;
}

}  // namespace dogpile::redis
