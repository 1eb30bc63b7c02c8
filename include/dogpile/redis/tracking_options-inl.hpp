#pragma once
// Definitions of tracking_options.hpp (details/linkage.hpp: inline when header-only).

#include "tracking_options.hpp"

namespace dogpile::redis {

DOGPILE_INLINE void TrackingOptions::validate() const {
    connection.validate();
    if (reconnect_backoff_min.count() <= 0 || reconnect_backoff_max < reconnect_backoff_min) {
        throw ConfigurationError(
            "redis tracking options: reconnect_backoff_min must be positive and at most reconnect_backoff_max");
    }
    if (health_check_interval.count() <= 0) {
        throw ConfigurationError("redis tracking options: health_check_interval must be positive");
    }
    if (mode == TrackingMode::standard && !prefixes.empty()) {
        throw ConfigurationError(
            "redis tracking options: prefixes apply to TrackingMode::broadcast only (standard mode tracks the "
            "keys actually read)");
    }
    for (const auto& p : prefixes) {
        if (p.empty())
            throw ConfigurationError("redis tracking options: an empty prefix (leave prefixes empty for all keys)");
    }
}

DOGPILE_INLINE const char* to_string(FlushReason reason) noexcept {
    switch (reason) {
        case FlushReason::server_flush: return "server_flush";
        case FlushReason::listener_down: return "listener_down";
        case FlushReason::listener_up: return "listener_up";
        case FlushReason::data_connection_lost: return "data_connection_lost";
        case FlushReason::tracking_failed: break;
    }
    return "tracking_failed";
}

}  // namespace dogpile::redis
