#pragma once
// Key generators for memoize() and memoize_multi() (dogpile.cache's
// function_key_generator): called as key_generator(prefix, args...) with the
// prefix "<name>" or "<name>|<key_namespace>", they return the cache key.
//   ReprKeyGenerator         the default: "users|42 'en'", never ambiguous
//   ToStrKeyGenerator(f)     dogpile.cache's to_str: the arguments f accepts
//                            are keyed by the text f returns
//   SpaceJoinedKeyGenerator  the old ambiguous format, for existing caches
// Any callable with that signature will do (a generic lambda); for a region
// whose keys are not std::string it returns the region's key type.
//
// Thread safety: the generators are stateless or hold only their to_str; they
// are called concurrently from every thread calling the memoized function.

#include <cstddef>
#include <functional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "details/key_repr.hpp"

namespace dogpile {

namespace details {

// "<ns>|" then each argument, as `append` writes it, separated by spaces.
template <class Append, class... Args>
std::string space_joined(std::string_view ns, [[maybe_unused]] Append append, const Args&... args) {
    std::string key(ns);
    key += '|';
    [[maybe_unused]] std::size_t position = 0;
    ((key += (position++ == 0 ? "" : " "), append(key, args)), ...);
    return key;
}

}  // namespace details

/// The default key: the namespace, '|', then every argument's repr-like text
/// (see details/key_repr.hpp) joined by spaces: "users|42 'en'",
/// "users|'x y' 1.5 None (1, 2) ['a', 'b']". Two different argument lists of the
/// same types never share a key, whatever their strings hold, but for a type
/// keyed through its operator<< that prints two values alike, and for
/// std::optional<std::optional<T>>, whose two kinds of empty both read None.
/// Equal values of different types may share one: 7 and std::optional<int>(7),
/// 0.1f and 0.1, std::int8_t(97) and 97.
struct ReprKeyGenerator {
    /// The key of `args` under the prefix `ns`.
    template <class... Args>
    std::string operator()(std::string_view ns, const Args&... args) const {
        return details::space_joined(
            ns, [](std::string& out, const auto& arg) { details::append_repr(out, arg); }, args...);
    }
};

/// The keys memoize made before ReprKeyGenerator, byte for byte: arguments as
/// raw text (numbers through std::to_string, bool as True/False) joined by
/// spaces, "users|42 en". Ambiguous: f("a b", "c") and f("a", "b c") share a
/// key, as do 0.1 and 0.1000001, and 'a' and 97. Only for caches that already
/// hold keys in this format.
struct SpaceJoinedKeyGenerator {
    /// The key of `args` under the prefix `ns`.
    template <class... Args>
    std::string operator()(std::string_view ns, const Args&... args) const {
        return details::space_joined(
            ns, [](std::string& out, const auto& arg) { append_part(out, arg); }, args...);
    }

private:
    template <class T>
    static void append_part(std::string& out, const T& arg) {
        if constexpr (std::is_same_v<T, bool>) {
            out += arg ? "True" : "False";
        } else if constexpr (std::is_arithmetic_v<T>) {
            out += std::to_string(arg);
        } else if constexpr (std::is_array_v<T> && std::is_same_v<std::remove_cv_t<std::remove_extent_t<T>>, char>) {
            out += details::c_string_in(arg);  // as before, but never read past a buffer without a NUL
        } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
            out += std::string_view(arg);
        } else {
            std::ostringstream text;
            text << arg;
            out += text.str();
        }
    }
};

/// dogpile.cache's to_str. An argument `to_str` can be called with is keyed as
/// the text it returns, quoted like a string (so it cannot pass for two
/// arguments); the others as ReprKeyGenerator keys them. Two values whose
/// to_str texts are equal share a key, and so does a string argument with that
/// text: give to_str overloads only for types whose text identifies the value.
/// \code
///   auto to_str = [](const User& u) { return u.id; };
///   memoize(region, "profiles", fn, ToStrKeyGenerator(to_str));   // "profiles|'u-17' 'en'"
/// \endcode
template <class ToStr>
class ToStrKeyGenerator {
public:
    /// Keys the arguments `to_str` accepts by the text it returns.
    explicit ToStrKeyGenerator(ToStr to_str) : to_str_(std::move(to_str)) {}

    /// The key of `args` under the prefix `ns`.
    template <class... Args>
    std::string operator()(std::string_view ns, const Args&... args) const {
        return details::space_joined(
            ns,
            [this](std::string& out, const auto& arg) {
                if constexpr (std::is_invocable_v<const ToStr&, decltype(arg)>) {
                    details::append_repr(out, std::string(std::invoke(to_str_, arg)));
                } else {
                    details::append_repr(out, arg);
                }
            },
            args...);
    }

private:
    ToStr to_str_;
};

}  // namespace dogpile
