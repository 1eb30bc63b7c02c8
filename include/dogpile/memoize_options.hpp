#pragma once
// The options of one memoized function (dogpile.cache's cache_on_arguments and
// cache_multi_on_arguments arguments): MemoizeOptions<Value, KeyGenerator>.
//
// Thread safety: the options are copied into the memoized object; the
// callables they hold (expiration_time, should_cache, the key generator) are
// called from every thread calling it, concurrently.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "expiration.hpp"
#include "memoize_keys.hpp"

namespace dogpile {

/// dogpile.cache's expiration_time argument: unset (the region's), a fixed
/// ExpirationTime, or a callable returning one, called at every call of the
/// memoized function (dogpile.cache accepts a callable too).
class MemoizeExpiration {
public:
    MemoizeExpiration() = default;

    /// A fixed expiration time.
    MemoizeExpiration(ExpirationTime fixed)  // NOLINT(google-explicit-constructor): reads like dogpile
        : fixed_(fixed) {}

    /// A fixed expiration time; ConfigurationError unless `d` is positive.
    template <class Rep, class Period>
    MemoizeExpiration(std::chrono::duration<Rep, Period> d)  // NOLINT(google-explicit-constructor)
        : fixed_(ExpirationTime(d)) {}

    /// A callable returning the ExpirationTime, called at every call of the memoized function.
    template <class PerCall, std::enable_if_t<std::is_invocable_r_v<ExpirationTime, PerCall&>, int> = 0>
    MemoizeExpiration(PerCall per_call)  // NOLINT(google-explicit-constructor)
        : per_call_(std::move(per_call)) {}

    /// Whether it is a callable.
    bool is_per_call() const noexcept { return static_cast<bool>(per_call_); }

    /// What this call uses; nullopt: the region's expiration_time.
    std::optional<ExpirationTime> resolve() const {
        if (per_call_) return per_call_();
        return fixed_;
    }

private:
    std::optional<ExpirationTime> fixed_;
    std::function<ExpirationTime()> per_call_;
};

/// The options of one memoized function (memoize(), memoize_multi()).
template <class Value, class KeyGenerator = ReprKeyGenerator>
struct MemoizeOptions {
    /// dogpile.cache's namespace: keys start "<name>|<key_namespace>|" instead
    /// of "<name>|", as function_key_generator(namespace, fn) makes
    /// "module:fn|namespace|...". Empty: no namespace.
    std::string key_namespace{};
    /// How old a result may be; unset: the region's expiration_time.
    MemoizeExpiration expiration_time{};
    /// Values for which this returns false are returned but not stored, by a
    /// call and by refresh() (dogpile.cache's should_cache_fn).
    std::function<bool(const Value&)> should_cache{};
    /// Called as key_generator(prefix, args...) (see memoize_keys.hpp).
    KeyGenerator key_generator{};

    /// These options with another key generator; a lambda cannot be assigned
    /// to key_generator after the fact, so this builds a new struct:
    /// `options.with_key_generator(ToStrKeyGenerator(to_str))`.
    template <class OtherKeyGenerator>
    MemoizeOptions<Value, std::decay_t<OtherKeyGenerator>> with_key_generator(OtherKeyGenerator&& generator) const {
        return {key_namespace, expiration_time, should_cache, std::forward<OtherKeyGenerator>(generator)};
    }
};

}  // namespace dogpile
