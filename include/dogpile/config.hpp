#pragma once
// Regions configured from settings, as dogpile.cache's
// region.configure_from_config(settings, prefix): a flat key-value map
// (settings.hpp) names the backend, its arguments and the region's options.
//
//   dogpile::SettingsMap settings{{"cache.backend", "memory"},
//                                 {"cache.expiration_time", "5min"},
//                                 {"cache.arguments.capacity", "10000"}};
//   auto registry = dogpile::builtin_backends<std::string>();   // backends/config.hpp
//   dogpile::Region<std::string> region;
//   dogpile::configure_from_config(region, settings, "cache.", registry);
//
// Keys, after the prefix:
//   backend               a name in the registry (required)
//   arguments.<name>      the backend's arguments (see the backend's factory)
//   expiration_time       600, 600s, 5min, 250ms, 2h, 1d, or never
//   lock_timeout          a duration
//   backend_time_budget   a duration: all backend round trips of one call together
//   on_lock_timeout       raise | create_value
//   stale                 serve_while_regenerating | never_serve
//   on_backend_error      degrade | raise
//   early_refresh_beta    a number >= 0 (XFetch's beta; unset: no early refresh)
//   clock_policy          coarse | precise
//   key_mangler           none | sha1
//   key_mangler_max_length  with sha1: mangle only keys longer than this
// Any other key under the prefix, and any malformed value, is a
// ConfigurationError naming the key. What settings cannot hold (callables:
// the async creation runner, the error hook, clocks) comes from the `base`
// RegionOptions the settings are applied on top of.
//
// The registry starts empty. backends/config.hpp fills in "memory" and
// "null", backends/redis/config.hpp the Redis backends; a user backend is
// one add() away:
//
//   registry.add("mine", [](const dogpile::Settings& arguments) {
//       return std::make_shared<MyBackend>(arguments.require_string("path", "a file path"));
//   });
//
// Thread safety: a registry may be read (make, names) from many threads once
// filled; add() must happen before it is shared.

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "backend.hpp"
#include "clock.hpp"
#include "errors.hpp"
#include "key_mangler.hpp"
#include "region.hpp"
#include "region_options.hpp"
#include "settings.hpp"

namespace dogpile {

/// Backend factories by name, for one Value and Key type.
template <class Value, class Key = std::string>
class BackendRegistry {
public:
    using backend_type = Backend<Value, Key>;  ///< what the factories build
    /// Builds a backend from its arguments (the "<prefix>arguments." section).
    /// Arguments it does not read are rejected after it returns; what it
    /// throws as ConfigurationError should name the key (Settings::error).
    using Factory = std::function<std::shared_ptr<backend_type>(const Settings& arguments)>;

    BackendRegistry() = default;

    /// Throws ConfigurationError when `name` is taken, unless `replace` is yes.
    void add(std::string name, Factory factory, ReplaceExisting replace = ReplaceExisting::no) {
        if (name.empty()) throw ConfigurationError("a backend name must not be empty");
        if (!factory) throw ConfigurationError("backend '" + name + "': the factory must not be empty");
        if (replace == ReplaceExisting::no && factories_.count(name) != 0) {
            throw ConfigurationError("backend '" + name +
                                     "' is already registered; pass ReplaceExisting::yes to replace it");
        }
        factories_[std::move(name)] = std::move(factory);
    }

    /// Whether a factory is registered as `name`.
    bool contains(std::string_view name) const { return factories_.find(name) != factories_.end(); }

    /// The registered names, sorted.
    std::set<std::string> names() const {
        std::set<std::string> out;
        for (const auto& entry : factories_) out.insert(entry.first);
        return out;
    }

    /// The backend `name` built from `arguments`. Throws ConfigurationError for
    /// an unknown name (listing the registered ones) and for arguments the
    /// factory did not read; `name_key` is the setting the name came from.
    std::shared_ptr<backend_type> make(std::string_view name, const Settings& arguments,
                                       std::string_view name_key = "backend") const {
        const auto it = factories_.find(name);
        if (it == factories_.end()) {
            throw ConfigurationError("setting '" + std::string(name_key) + "' = '" + std::string(name) +
                                     "': unknown backend (registered: " + details::join_names(names()) + ")");
        }
        auto backend = it->second(arguments);
        if (!backend) throw ConfigurationError("backend '" + std::string(name) + "': its factory returned no backend");
        arguments.reject_unknown();
        return backend;
    }

private:
    std::map<std::string, Factory, std::less<>> factories_;
};

/// The ClockPolicy setting `name`: "coarse" or "precise" (any case); nullopt when unset.
inline std::optional<ClockPolicy> clock_policy_setting(const Settings& settings, std::string_view name) {
    return settings.get_enum<ClockPolicy>(name, {{"coarse", ClockPolicy::coarse}, {"precise", ClockPolicy::precise}});
}

/// The region options the settings give (keys listed atop dogpile/config.hpp), on top
/// of `base`. Reads only the region's own keys; does not reject unknown ones.
inline RegionOptions region_options_from_settings(const Settings& settings, RegionOptions base = {}) {
    RegionOptions options = std::move(base);
    if (auto expiration = settings.get_expiration_time("expiration_time")) options.expiration_time = *expiration;
    if (auto timeout = settings.get_milliseconds("lock_timeout")) options.lock_timeout = *timeout;
    if (auto budget = settings.get_milliseconds("backend_time_budget")) {
        if (budget->count() <= 0) throw settings.error("backend_time_budget", "must be a positive duration");
        options.backend_time_budget = *budget;
    }
    if (auto policy = settings.get_enum<LockTimeoutPolicy>(
            "on_lock_timeout",
            {{"raise", LockTimeoutPolicy::raise}, {"create_value", LockTimeoutPolicy::create_value}})) {
        options.on_lock_timeout = *policy;
    }
    if (auto stale = settings.get_enum<StalePolicy>(
            "stale", {{"serve_while_regenerating", StalePolicy::serve_while_regenerating},
                      {"never_serve", StalePolicy::never_serve}})) {
        options.stale = *stale;
    }
    if (auto policy = settings.get_enum<BackendErrorPolicy>(
            "on_backend_error", {{"degrade", BackendErrorPolicy::degrade}, {"raise", BackendErrorPolicy::raise}})) {
        options.on_backend_error = *policy;
    }
    if (auto beta = settings.get_number("early_refresh_beta", 0.0, 1e6)) options.early_refresh = EarlyRefresh{*beta};
    if (auto policy = clock_policy_setting(settings, "clock_policy")) options.clock_policy = *policy;
    enum class Mangler { none, sha1 };
    const auto mangler = settings.get_enum<Mangler>("key_mangler", {{"none", Mangler::none}, {"sha1", Mangler::sha1}});
    const auto max_length = settings.get_integer<std::size_t>("key_mangler_max_length", 1);
    if (max_length && mangler != Mangler::sha1) {
        throw settings.error("key_mangler_max_length", "needs " + settings.key("key_mangler") + " = sha1");
    }
    if (mangler == Mangler::none) options.key_mangler = nullptr;
    if (mangler == Mangler::sha1) {
        options.key_mangler =
            max_length ? KeyMangler(length_conditional_mangler(*max_length)) : KeyMangler(sha1_mangle_key);
    }
    return options;
}

/// A backend and the options of a region, built from settings.
template <class Value, class Key = std::string>
struct RegionConfig {
    std::shared_ptr<Backend<Value, Key>> backend;  ///< the configured backend
    RegionOptions options;                         ///< the region's options
};

/// Reads every key under `prefix` (rejecting unknown and malformed ones) and
/// builds the backend and the region options; nothing is configured yet.
template <class Value, class Key>
RegionConfig<Value, Key> region_config_from_settings(const SettingsMap& values, std::string prefix,
                                                     const BackendRegistry<Value, Key>& registry,
                                                     RegionOptions base = {}) {
    const Settings settings(values, std::move(prefix));
    const std::string name = settings.require_string(
        "backend", "a backend name (registered: " + details::join_names(registry.names()) + ")");
    RegionConfig<Value, Key> config;
    // The region's keys first: a mistake there is reported before any backend
    // (a Redis client, say) is built.
    config.options = region_options_from_settings(settings, std::move(base));
    if constexpr (!std::is_same_v<Key, std::string>) {
        if (config.options.key_mangler && settings.contains("key_mangler")) {
            throw settings.error("key_mangler",
                                 "applies to std::string keys only; this region's keys are another type");
        }
    }
    settings.reject_unknown_outside("arguments");
    config.backend = registry.make(details::trim_setting(name), settings.section("arguments"), settings.key("backend"));
    settings.reject_unknown();
    return config;
}

/// dogpile.cache's region.configure_from_config(settings, prefix).
template <class Value, class Key, class Hash>
void configure_from_config(Region<Value, Key, Hash>& region, const SettingsMap& values, std::string prefix,
                           const BackendRegistry<Value, Key>& registry, RegionOptions base = {},
                           ReplaceExisting replace = ReplaceExisting::no) {
    auto config = region_config_from_settings(values, std::move(prefix), registry, std::move(base));
    region.configure(std::move(config.backend), std::move(config.options), replace);
}

}  // namespace dogpile
