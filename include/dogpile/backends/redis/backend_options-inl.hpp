#pragma once
// Definitions of backend_options.hpp (details/linkage.hpp: inline when header-only).

#include "backend_options.hpp"

namespace dogpile::redis {

DOGPILE_INLINE void BackendLimits::validate(std::string_view backend) const {
    if (max_key_bytes == 0) throw ConfigurationError(std::string(backend) + ": limits.max_key_bytes must be positive");
    if (max_payload_bytes == 0) {
        throw ConfigurationError(std::string(backend) + ": limits.max_payload_bytes must be positive");
    }
}

DOGPILE_INLINE const char* to_string(PayloadMode mode) noexcept {
    return mode == PayloadMode::raw ? "raw" : "envelope";
}

DOGPILE_INLINE const char* to_string(TtlPolicy policy) noexcept {
    switch (policy) {
        case TtlPolicy::on_create: return "on_create";
        case TtlPolicy::refresh_on_write: return "refresh_on_write";
        case TtlPolicy::none: break;
    }
    return "none";
}

DOGPILE_INLINE std::function<void(const BreakerEvent&)> report_breaker_to(BackendErrorHook hook) {
    if (!hook) return {};
    return [hook = std::move(hook)](const BreakerEvent& event) {
        const std::string message = "redis " + event.server + ": circuit breaker " +
                                    std::string(to_string(event.from)) + " -> " + std::string(to_string(event.to)) +
                                    ": " + event.message;
        std::exception_ptr error = event.to == BreakerState::open
                                       ? std::make_exception_ptr(CircuitOpenError(message))
                                       : std::make_exception_ptr(BreakerStateChanged(message));
        details::report(hook, "circuit_breaker", std::move(error));
    };
}

}  // namespace dogpile::redis

namespace dogpile::redis::details {

DOGPILE_INLINE void validate_client(const std::shared_ptr<Client>& client, std::string_view backend) {
    if (!client) throw ConfigurationError(std::string(backend) + ": options.client must not be null");
}

DOGPILE_INLINE std::chrono::milliseconds validate_ttl(const std::optional<Duration>& ttl, std::string_view what,
                                                      std::string_view backend) {
    if (!ttl) return std::chrono::milliseconds(0);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*ttl);
    if (ms.count() < 1) {
        throw ConfigurationError(std::string(backend) + ": " + std::string(what) +
                                 " must be at least 1 ms (Redis expiry has millisecond resolution)");
    }
    return ms;
}

DOGPILE_INLINE void validate_lock(const std::optional<LockOptions>& lock, std::string_view backend) {
    if (!lock) return;
    try {
        lock->validate();
    } catch (const ConfigurationError& e) {
        throw ConfigurationError(std::string(backend) + ": distributed_lock: " + e.what());
    }
}

DOGPILE_INLINE std::chrono::milliseconds validate_hash_ttl(const std::optional<Duration>& ttl, TtlPolicy policy,
                                                           std::string_view backend) {
    if (policy == TtlPolicy::none) {
        if (ttl) {
            throw ConfigurationError(std::string(backend) +
                                     ": ttl is set but ttl_policy is none; choose on_create or refresh_on_write, "
                                     "or drop the ttl");
        }
        return std::chrono::milliseconds(0);
    }
    if (!ttl) {
        throw ConfigurationError(std::string(backend) + ": ttl_policy " + to_string(policy) +
                                 " needs a ttl (or use TtlPolicy::none for entries without expiry)");
    }
    return validate_ttl(ttl, "ttl", backend);
}

DOGPILE_INLINE void validate_per_call(std::size_t value, std::size_t max, std::string_view what,
                                      std::string_view backend) {
    if (value == 0 || value > max) {
        throw ConfigurationError(std::string(backend) + ": " + std::string(what) + " must be in 1.." +
                                 std::to_string(max));
    }
}

DOGPILE_INLINE void validate_per_read(std::size_t value, std::string_view what, std::string_view backend) {
    if (value == 0) {
        throw ConfigurationError(std::string(backend) + ": " + std::string(what) +
                                 " must be at least 1 (fields per HMGET)");
    }
}

DOGPILE_INLINE void report(const BackendErrorHook& hook, std::string_view operation,
                           std::exception_ptr error) noexcept {
    if (!hook) return;
    try {
        std::string message;
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            message = e.what();
        } catch (...) {
            message = "unknown error";
        }
        hook(BackendErrorEvent{operation, error, message});
    } catch (...) {
    }
}

}  // namespace dogpile::redis::details
