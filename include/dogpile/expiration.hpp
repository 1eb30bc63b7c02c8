#pragma once
// ExpirationTime: a positive duration, or "never" (dogpile.cache's -1).

#include <chrono>
#include <optional>
#include <string>

#include "cached_value.hpp"
#include "errors.hpp"

namespace dogpile {

/// How old a value may be before it is recreated: a positive duration, or never (dogpile.cache's -1
/// or None).
class ExpirationTime {
public:
    /// Never expires. Also the default, as in dogpile.cache (expiration_time=None).
    ExpirationTime() = default;

    /// Implicit from any std::chrono duration, as dogpile.cache takes seconds; throws
    /// ConfigurationError unless it is positive.
    template <class Rep, class Period>
    ExpirationTime(std::chrono::duration<Rep, Period> d)  // NOLINT(google-explicit-constructor): reads like dogpile
        : duration_(std::chrono::duration_cast<Duration>(d)) {
        if (*duration_ <= Duration::zero()) {
            throw ConfigurationError(
                "expiration_time must be positive (use ExpirationTime::never() for no expiry), got " +
                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms");
        }
    }

    /// Never expires (the default).
    static ExpirationTime never() { return ExpirationTime{}; }

    /// Whether it never expires.
    bool is_never() const noexcept { return !duration_.has_value(); }
    /// The duration, or std::nullopt for never.
    std::optional<Duration> duration() const noexcept { return duration_; }

    /// Whether a value created at `created_at` is older than the duration at `now` (never for
    /// never).
    bool expired(TimePoint created_at, TimePoint now) const noexcept {
        return duration_ && now - created_at > *duration_;
    }

    /// The same duration, or both never.
    friend bool operator==(const ExpirationTime& a, const ExpirationTime& b) { return a.duration_ == b.duration_; }
    /// Not operator==.
    friend bool operator!=(const ExpirationTime& a, const ExpirationTime& b) { return !(a == b); }

private:
    std::optional<Duration> duration_;
};

}  // namespace dogpile
