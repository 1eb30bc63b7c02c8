#pragma once
// Settings: a view of a flat key-value map (an INI section, environment
// variables, a service's config) under a key prefix, with typed getters that
// remember which keys were read, so that every key under the prefix nobody
// read is rejected (reject_unknown()). config.hpp builds regions from it.
//
//   dogpile::SettingsMap values{{"cache.expiration_time", "5min"}, {"cache.arguments.capacity", "1000"}};
//   dogpile::Settings settings(values, "cache.");
//   auto expiration = settings.get_expiration_time("expiration_time");   // 300 s
//   auto capacity = settings.section("arguments").get_integer<std::size_t>("capacity");
//   settings.reject_unknown();
//
// Every malformed value throws ConfigurationError naming the full key and what
// was expected. Keys outside the prefix are not looked at.
//
// Thread safety: a Settings (and the sections made from it, which share its
// record of read keys) is for one thread; the map must outlive it.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "cached_value.hpp"
#include "errors.hpp"
#include "expiration.hpp"

namespace dogpile {

/// A flat key-value map: an INI section, environment variables, a service's config.
using SettingsMap = std::map<std::string, std::string, std::less<>>;

namespace details {

inline std::string_view trim_setting(std::string_view s) noexcept {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

inline std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// "600" (seconds, as dogpile.cache's expiration_time), "600s", "5min",
// "250ms", "2h", "1d". Whole numbers only; std::nullopt when malformed or
// too large for Duration.
inline std::optional<Duration> parse_duration(std::string_view text) {
    text = trim_setting(text);
    std::uint64_t count = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
    if (error != std::errc() || end == text.data()) return std::nullopt;
    const std::string unit =
        lowercase(trim_setting(std::string_view(end, static_cast<std::size_t>(text.data() + text.size() - end))));
    std::uint64_t ms_per_unit = 0;
    if (unit.empty() || unit == "s") {
        ms_per_unit = 1000;
    } else if (unit == "ms") {
        ms_per_unit = 1;
    } else if (unit == "min") {
        ms_per_unit = 60 * 1000;
    } else if (unit == "h") {
        ms_per_unit = 3600 * 1000;
    } else if (unit == "d") {
        ms_per_unit = 24 * 3600 * 1000;
    } else {
        return std::nullopt;
    }
    // Duration counts in its own period (finer than ms): stay below its maximum.
    constexpr auto max_ms =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(Duration::max()).count());
    if (count > max_ms / ms_per_unit) return std::nullopt;
    return std::chrono::duration_cast<Duration>(
        std::chrono::milliseconds(static_cast<std::int64_t>(count * ms_per_unit)));
}

inline std::optional<bool> parse_bool(std::string_view text) {
    const std::string word = lowercase(trim_setting(text));
    if (word == "true" || word == "yes" || word == "on" || word == "1") return true;
    if (word == "false" || word == "no" || word == "off" || word == "0") return false;
    return std::nullopt;
}

inline std::string join_names(const std::set<std::string>& names) {
    std::string out;
    for (const auto& name : names) {
        if (!out.empty()) out += ", ";
        out += name;
    }
    return out;
}

}  // namespace details

/// The duration forms the getters accept, for error messages.
inline constexpr std::string_view duration_examples = "600 (seconds), 600s, 5min, 250ms, 2h or 1d";

/// A view of a SettingsMap under a key prefix, with typed getters that remember which keys were
/// read, so reject_unknown() can refuse every key nobody read. A malformed value throws
/// ConfigurationError naming the full key and what was expected. For one thread (with the sections
/// made from it); the map must outlive it.
class Settings {
public:
    /// The keys of `values` that start with `prefix` ("cache."; empty: all of
    /// them). `values` must outlive the view.
    Settings(const SettingsMap& values, std::string prefix)
        : state_(std::make_shared<State>(State{&values, {}, {}})), prefix_(std::move(prefix)) {}

    /// The prefix every key of this view starts with.
    const std::string& prefix() const noexcept { return prefix_; }

    /// The full key of `name`: prefix + name.
    std::string key(std::string_view name) const { return prefix_ + std::string(name); }

    /// The view of prefix + name + "."; it shares this view's record of read
    /// keys, so reject_unknown() on either sees what the other read.
    Settings section(std::string_view name) const { return Settings(state_, key(name) + "."); }

    /// Whether the key is set; does not count as reading it.
    bool contains(std::string_view name) const { return state_->values->count(key(name)) != 0; }

    /// Whether any key under section(name) is set.
    bool has_section(std::string_view name) const {
        const std::string start = key(name) + ".";
        const auto it = state_->values->lower_bound(start);
        return it != state_->values->end() && it->first.compare(0, start.size(), start) == 0;
    }

    /// The raw value (untrimmed), or std::nullopt when the key is not set.
    std::optional<std::string> get_string(std::string_view name) const {
        const std::string full = key(name);
        state_->known.insert(full);
        const auto it = state_->values->find(full);
        if (it == state_->values->end()) return std::nullopt;
        state_->consumed.insert(full);
        return it->second;
    }

    /// A key that must be set; `expected` says what it holds ("a backend name").
    std::string require_string(std::string_view name, std::string_view expected) const {
        auto value = get_string(name);
        if (!value) throw error(name, "is required: expected " + std::string(expected));
        return *std::move(value);
    }

    /// A duration: a number of seconds, or a number with a unit (ms, s, min, h, d).
    std::optional<Duration> get_duration(std::string_view name) const {
        return parse(name, "a duration such as " + std::string(duration_examples),
                     [](std::string_view text) { return details::parse_duration(text); });
    }

    /// A duration in whole milliseconds, as the Redis client's options take them.
    std::optional<std::chrono::milliseconds> get_milliseconds(std::string_view name) const {
        const auto d = get_duration(name);
        if (!d) return std::nullopt;
        return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
    }

    /// A duration, or "never" / "none" / "-1" (dogpile.cache's -1 and None). A
    /// zero duration is refused, as ExpirationTime refuses it.
    std::optional<ExpirationTime> get_expiration_time(std::string_view name) const {
        const auto text = get_string(name);
        if (!text) return std::nullopt;
        const std::string word = details::lowercase(details::trim_setting(*text));
        if (word == "never" || word == "none" || word == "-1") return ExpirationTime::never();
        const auto d = details::parse_duration(*text);
        if (!d || *d == Duration::zero()) {
            throw malformed(name, *text,
                            "a positive duration such as " + std::string(duration_examples) + ", or never");
        }
        return ExpirationTime(*d);
    }

    /// A whole number in [min, max] (decimal digits, an optional '-').
    template <class Int>
    std::optional<Int> get_integer(std::string_view name, Int min = std::numeric_limits<Int>::min(),
                                   Int max = std::numeric_limits<Int>::max()) const {
        static_assert(std::is_integral_v<Int> && !std::is_same_v<Int, bool>, "use get_bool for booleans");
        const std::string expected = "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
        return parse(name, expected, [min, max](std::string_view text) -> std::optional<Int> {
            text = details::trim_setting(text);
            Int value{};
            const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
            if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
                return std::nullopt;
            }
            return value;
        });
    }

    /// A decimal number in [min, max].
    std::optional<double> get_number(std::string_view name, double min, double max) const {
        const std::string expected = "a number from " + std::to_string(min) + " to " + std::to_string(max);
        return parse(name, expected, [min, max](std::string_view text) -> std::optional<double> {
            text = details::trim_setting(text);
            double value = 0;
            const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
            if (error != std::errc() || end != text.data() + text.size() || !(value >= min && value <= max)) {
                return std::nullopt;
            }
            return value;
        });
    }

    /// true/yes/on/1 or false/no/off/0, any case.
    std::optional<bool> get_bool(std::string_view name) const {
        return parse(name, "true or false (also yes/no, on/off, 1/0)",
                     [](std::string_view text) { return details::parse_bool(text); });
    }

    /// One of the names in `choices` (exact, case-insensitive).
    template <class Enum>
    std::optional<Enum> get_enum(std::string_view name,
                                 std::initializer_list<std::pair<std::string_view, Enum>> choices) const {
        std::string expected = "one of ";
        for (const auto& choice : choices) {
            if (&choice != choices.begin()) expected += ", ";
            expected += choice.first;
        }
        return parse(name, expected, [choices](std::string_view text) -> std::optional<Enum> {
            const std::string word = details::lowercase(details::trim_setting(text));
            for (const auto& [choice_name, value] : choices) {
                if (word == choice_name) return value;
            }
            return std::nullopt;
        });
    }

    /// The keys under this view's prefix that no getter has read, in order.
    std::set<std::string> unknown_keys() const { return unknown_keys_except(""); }

    /// Throws ConfigurationError for the first key under the prefix that no
    /// getter has read, listing the keys read in its section (what was expected).
    void reject_unknown() const { reject(unknown_keys_except("")); }

    /// The same, leaving alone the keys of section(name) (read later, by
    /// someone else).
    void reject_unknown_outside(std::string_view name) const { reject(unknown_keys_except(key(name) + ".")); }

    /// A ConfigurationError about key(name): "setting '<key>' <what>".
    ConfigurationError error(std::string_view name, const std::string& what) const {
        return ConfigurationError("setting '" + key(name) + "' " + what);
    }

    /// A ConfigurationError about key(name) holding `value` where `expected` was.
    ConfigurationError malformed(std::string_view name, std::string_view value, std::string_view expected) const {
        return error(name, "= '" + std::string(value) + "': expected " + std::string(expected));
    }

private:
    struct State {
        const SettingsMap* values;
        std::set<std::string> consumed;  // keys a getter found
        std::set<std::string> known;     // keys a getter asked for, found or not
    };

    Settings(std::shared_ptr<State> state, std::string prefix) : state_(std::move(state)), prefix_(std::move(prefix)) {}

    std::set<std::string> unknown_keys_except(const std::string& skipped_section) const {
        std::set<std::string> unknown;
        for (auto it = state_->values->lower_bound(prefix_); it != state_->values->end(); ++it) {
            if (it->first.compare(0, prefix_.size(), prefix_) != 0) break;
            if (!skipped_section.empty() && it->first.compare(0, skipped_section.size(), skipped_section) == 0)
                continue;
            if (state_->consumed.count(it->first) == 0) unknown.insert(it->first);
        }
        return unknown;
    }

    void reject(const std::set<std::string>& unknown) const {
        if (unknown.empty()) return;
        const std::string& key = *unknown.begin();
        const auto dot = key.rfind('.');
        const std::string section =
            dot == std::string::npos || dot + 1 <= prefix_.size() ? prefix_ : key.substr(0, dot + 1);
        std::set<std::string> expected = known_in(section);
        if (expected.empty()) expected = known_in(prefix_);
        std::string message = "unknown setting '" + key + "'";
        if (!expected.empty()) message += " (expected one of: " + details::join_names(expected) + ")";
        throw ConfigurationError(message);
    }

    template <class Parse>
    auto parse(std::string_view name, std::string_view expected, Parse&& parse_text) const
        -> decltype(parse_text(std::string_view{})) {
        const auto text = get_string(name);
        if (!text) return std::nullopt;
        auto value = parse_text(*text);
        if (!value) throw malformed(name, *text, expected);
        return value;
    }

    // Known keys directly in `section` (not in its sub-sections).
    std::set<std::string> known_in(const std::string& section) const {
        std::set<std::string> out;
        for (const auto& key : state_->known) {
            if (key.compare(0, section.size(), section) == 0 && key.find('.', section.size()) == std::string::npos) {
                out.insert(key);
            }
        }
        return out;
    }

    std::shared_ptr<State> state_;
    std::string prefix_;
};

/// The environment variables that start with `env_prefix`, as settings: the
/// prefix removed, lowercased, and "__" turned into "." (a section separator
/// environment names cannot hold), so with env_prefix "MYAPP_CACHE_"
/// \code{.unparsed}
///     MYAPP_CACHE_BACKEND=memory              -> backend = memory
///     MYAPP_CACHE_ARGUMENTS__CAPACITY=10000   -> arguments.capacity = 10000
/// \endcode
/// `environment` is a null-terminated array of "NAME=value" strings: POSIX's
/// `environ`, or main's third argument.
inline SettingsMap settings_from_environment(std::string_view env_prefix, const char* const* environment) {
    SettingsMap out;
    if (environment == nullptr) return out;
    for (const char* const* entry = environment; *entry != nullptr; ++entry) {
        const std::string_view line(*entry);
        const auto equals = line.find('=');
        if (equals == std::string_view::npos) continue;
        const std::string_view name = line.substr(0, equals);
        if (name.size() <= env_prefix.size() || name.compare(0, env_prefix.size(), env_prefix) != 0) continue;
        std::string key = details::lowercase(name.substr(env_prefix.size()));
        for (std::size_t at = key.find("__"); at != std::string::npos; at = key.find("__", at + 1)) {
            key.replace(at, 2, ".");
        }
        out.emplace(std::move(key), std::string(line.substr(equals + 1)));
    }
    return out;
}

}  // namespace dogpile
