// Regions configured from settings (settings.hpp, config.hpp) with the
// built-in memory and null backends and a user backend: every kind of
// setting parsed, every error path (unknown key, malformed values, unknown
// or missing backend) naming the full key, prefix isolation, and
// environment variables turned into settings.

#include <dogpile/backends/config.hpp>
#include <dogpile/config.hpp>
#include <dogpile/settings.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/message_of.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::BackendErrorPolicy;
using dogpile::BackendRegistry;
using dogpile::ClockPolicy;
using dogpile::ConfigurationError;
using dogpile::Duration;
using dogpile::EvictionPolicy;
using dogpile::ExpirationTime;
using dogpile::LockTimeoutPolicy;
using dogpile::MemoryBackend;
using dogpile::NullBackend;
using dogpile::Region;
using dogpile::RegionOptions;
using dogpile::Settings;
using dogpile::SettingsMap;
using dogpile::StalePolicy;
using dogpile::test::message_of;

using Registry = BackendRegistry<std::string>;

using dogpile::test::contains;

#define EXPECT_CONTAINS(text, part) EXPECT_TRUE(contains(text, part)) << "in: " << (text)

std::string config_error(const SettingsMap& values, const std::string& prefix = "cache.") {
    return message_of<ConfigurationError>(
        [&] { (void)dogpile::region_config_from_settings(values, prefix, dogpile::builtin_backends<std::string>()); });
}

// --- Settings: each kind of value --------------------------------------------

TEST(Settings, DurationsInEveryUnit) {
    const SettingsMap values{{"p.plain", "600"}, {"p.s", "600s"}, {"p.min", "5min"},     {"p.ms", "250ms"},
                             {"p.h", "2h"},      {"p.d", "1d"},   {"p.spaced", " 7 s "}, {"p.upper", "3MIN"}};
    const Settings settings(values, "p.");
    EXPECT_EQ(settings.get_duration("plain"), Duration(600s));
    EXPECT_EQ(settings.get_duration("s"), Duration(600s));
    EXPECT_EQ(settings.get_duration("min"), Duration(5min));
    EXPECT_EQ(settings.get_duration("ms"), Duration(250ms));
    EXPECT_EQ(settings.get_duration("h"), Duration(2h));
    EXPECT_EQ(settings.get_duration("d"), Duration(24h));
    EXPECT_EQ(settings.get_duration("spaced"), Duration(7s));
    EXPECT_EQ(settings.get_milliseconds("upper"), std::chrono::milliseconds(180000));
    EXPECT_EQ(settings.get_duration("absent"), std::nullopt);
    EXPECT_NO_THROW(settings.reject_unknown());
}

TEST(Settings, MalformedDurationsNameTheKey) {
    for (const char* bad : {"", "s", "5 minutes", "-5s", "1.5s", "5m", "0x10", "99999999999999999999d"}) {
        const SettingsMap values{{"p.ttl", bad}};
        const std::string message =
            message_of<ConfigurationError>([&] { (void)Settings(values, "p.").get_duration("ttl"); });
        EXPECT_CONTAINS(message, "setting 'p.ttl' = '" + std::string(bad) + "'");
        EXPECT_CONTAINS(message, "expected a duration such as 600 (seconds), 600s, 5min, 250ms");
    }
}

TEST(Settings, ExpirationTimeIsADurationOrNever) {
    const SettingsMap values{{"p.a", "5min"}, {"p.b", "never"}, {"p.c", "-1"}, {"p.d", "None"}, {"p.zero", "0"}};
    const Settings settings(values, "p.");
    EXPECT_EQ(settings.get_expiration_time("a"), ExpirationTime(5min));
    EXPECT_TRUE(settings.get_expiration_time("b")->is_never());
    EXPECT_TRUE(settings.get_expiration_time("c")->is_never());
    EXPECT_TRUE(settings.get_expiration_time("d")->is_never());
    const std::string message = message_of<ConfigurationError>([&] { (void)settings.get_expiration_time("zero"); });
    EXPECT_CONTAINS(message, "setting 'p.zero' = '0': expected a positive duration");
}

TEST(Settings, IntegersWithinTheirRange) {
    const SettingsMap values{{"p.n", "42"},    {"p.neg", "-3"},   {"p.word", "many"},
                             {"p.big", "300"}, {"p.frac", "4.5"}, {"p.minus", "-1"}};
    const Settings settings(values, "p.");
    EXPECT_EQ(settings.get_integer<int>("n"), 42);
    EXPECT_EQ(settings.get_integer<int>("neg"), -3);
    EXPECT_EQ(settings.get_integer<int>("absent"), std::nullopt);
    EXPECT_CONTAINS(message_of<ConfigurationError>([&] { (void)settings.get_integer<int>("word"); }),
                    "setting 'p.word' = 'many': expected a whole number from");
    EXPECT_CONTAINS(message_of<ConfigurationError>([&] { (void)settings.get_integer<int>("big", 1, 255); }),
                    "setting 'p.big' = '300': expected a whole number from 1 to 255");
    EXPECT_CONTAINS(message_of<ConfigurationError>([&] { (void)settings.get_integer<int>("frac"); }), "'p.frac'");
    EXPECT_CONTAINS(message_of<ConfigurationError>([&] { (void)settings.get_integer<std::size_t>("minus"); }),
                    "setting 'p.minus' = '-1': expected a whole number from 0 to");
}

TEST(Settings, BooleansNumbersAndEnums) {
    const SettingsMap values{{"p.t1", "true"},     {"p.t2", "Yes"}, {"p.t3", "on"},  {"p.t4", "1"},
                             {"p.f1", "FALSE"},    {"p.f2", "no"},  {"p.f3", "off"}, {"p.f4", "0"},
                             {"p.maybe", "maybe"}, {"p.x", "2.5"},  {"p.y", "-1"},   {"p.e", "LRU"},
                             {"p.bad_e", "fifo"}};
    const Settings settings(values, "p.");
    for (const char* name : {"t1", "t2", "t3", "t4"}) EXPECT_EQ(settings.get_bool(name), true) << name;
    for (const char* name : {"f1", "f2", "f3", "f4"}) EXPECT_EQ(settings.get_bool(name), false) << name;
    EXPECT_CONTAINS(message_of<ConfigurationError>([&] { (void)settings.get_bool("maybe"); }),
                    "setting 'p.maybe' = 'maybe': expected true or false");
    EXPECT_EQ(settings.get_number("x", 0, 10), 2.5);
    EXPECT_CONTAINS(message_of<ConfigurationError>([&] { (void)settings.get_number("y", 0, 10); }), "'p.y'");
    const auto policy = [&](const char* name) {
        return settings.get_enum<EvictionPolicy>(name,
                                                 {{"lru", EvictionPolicy::lru}, {"clock", EvictionPolicy::clock}});
    };
    EXPECT_EQ(policy("e"), EvictionPolicy::lru);
    EXPECT_CONTAINS(message_of<ConfigurationError>([&] { (void)policy("bad_e"); }),
                    "setting 'p.bad_e' = 'fifo': expected one of lru, clock");
}

TEST(Settings, UnknownKeysAreRejectedWithWhatWasExpected) {
    const SettingsMap values{{"p.known", "1"}, {"p.knwon", "1"}, {"p.args.size", "2"}, {"p.args.colour", "red"}};
    const Settings settings(values, "p.");
    (void)settings.get_integer<int>("known");
    (void)settings.get_integer<int>("also_known");
    const Settings args = settings.section("args");
    (void)args.get_integer<int>("size");
    EXPECT_EQ(settings.unknown_keys(), (std::set<std::string>{"p.args.colour", "p.knwon"}));
    const std::string message = message_of<ConfigurationError>([&] { args.reject_unknown(); });
    EXPECT_EQ(message, "unknown setting 'p.args.colour' (expected one of: p.args.size)");
    EXPECT_EQ(message_of<ConfigurationError>([&] { settings.reject_unknown_outside("args"); }),
              "unknown setting 'p.knwon' (expected one of: p.also_known, p.known)");
}

TEST(Settings, FromEnvironment) {
    const char* environment[] = {"PATH=/usr/bin",
                                 "MYAPP_CACHE_BACKEND=memory",
                                 "MYAPP_CACHE_EXPIRATION_TIME=5min",
                                 "MYAPP_CACHE_ARGUMENTS__CAPACITY=100",
                                 "MYAPP_CACHE_=ignored (empty name)",
                                 "MYAPP_OTHER_BACKEND=null",
                                 "NO_EQUALS_SIGN",
                                 nullptr};
    const SettingsMap settings = dogpile::settings_from_environment("MYAPP_CACHE_", environment);
    EXPECT_EQ(settings,
              (SettingsMap{{"backend", "memory"}, {"expiration_time", "5min"}, {"arguments.capacity", "100"}}));
    EXPECT_TRUE(dogpile::settings_from_environment("X_", nullptr).empty());
}

// --- Regions from settings ----------------------------------------------------

TEST(ConfigureFromConfig, EveryRegionOptionParsed) {
    const SettingsMap values{{"cache.backend", "memory"},
                             {"cache.expiration_time", "5min"},
                             {"cache.lock_timeout", "250ms"},
                             {"cache.backend_time_budget", "400ms"},
                             {"cache.on_lock_timeout", "create_value"},
                             {"cache.stale", "never_serve"},
                             {"cache.on_backend_error", "raise"},
                             {"cache.early_refresh_beta", "1.5"},
                             {"cache.clock_policy", "precise"},
                             {"cache.key_mangler", "sha1"},
                             {"cache.key_mangler_max_length", "8"}};
    RegionOptions base;
    base.error_hook = [](const dogpile::BackendErrorEvent&) {};
    const auto config = dogpile::region_config_from_settings(values, "cache.", dogpile::builtin_backends<std::string>(),
                                                             std::move(base));
    const RegionOptions& o = config.options;
    EXPECT_EQ(o.expiration_time, ExpirationTime(5min));
    EXPECT_EQ(o.lock_timeout, std::chrono::milliseconds(250));
    EXPECT_EQ(o.backend_time_budget, std::chrono::milliseconds(400));
    EXPECT_EQ(o.on_lock_timeout, LockTimeoutPolicy::create_value);
    EXPECT_EQ(o.stale, StalePolicy::never_serve);
    EXPECT_EQ(o.on_backend_error, BackendErrorPolicy::raise);
    ASSERT_TRUE(o.early_refresh.has_value());
    EXPECT_EQ(o.early_refresh->beta, 1.5);
    EXPECT_EQ(o.clock_policy, ClockPolicy::precise);
    ASSERT_TRUE(o.key_mangler);
    EXPECT_EQ(o.key_mangler("short"), "short");
    EXPECT_EQ(o.key_mangler("a longer key"), dogpile::sha1_mangle_key("a longer key"));
    EXPECT_TRUE(o.error_hook) << "what settings cannot hold comes from the base options";
    EXPECT_NE(dynamic_cast<MemoryBackend<std::string>*>(config.backend.get()), nullptr);
}

TEST(ConfigureFromConfig, DefaultsWhenOnlyTheBackendIsGiven) {
    const SettingsMap values{{"cache.backend", "memory"}};
    const auto config =
        dogpile::region_config_from_settings(values, "cache.", dogpile::builtin_backends<std::string>());
    const RegionOptions defaults;
    EXPECT_TRUE(config.options.expiration_time.is_never());
    EXPECT_EQ(config.options.lock_timeout, std::nullopt);
    EXPECT_EQ(config.options.stale, defaults.stale);
    EXPECT_FALSE(config.options.key_mangler);
    EXPECT_FALSE(config.options.early_refresh.has_value());
}

TEST(ConfigureFromConfig, MemoryBackendArguments) {
    const SettingsMap values{{"cache.backend", "memory"},           {"cache.arguments.capacity", "64"},
                             {"cache.arguments.eviction", "clock"}, {"cache.arguments.ttl", "10min"},
                             {"cache.arguments.shards", "4"},       {"cache.arguments.clock_policy", "precise"}};
    const auto config =
        dogpile::region_config_from_settings(values, "cache.", dogpile::builtin_backends<std::string>());
    auto* memory = dynamic_cast<MemoryBackend<std::string>*>(config.backend.get());
    ASSERT_NE(memory, nullptr);
    EXPECT_EQ(memory->options().capacity, std::size_t{64});
    EXPECT_EQ(memory->options().eviction, EvictionPolicy::clock);
    EXPECT_EQ(memory->options().ttl, Duration(10min));
    EXPECT_EQ(memory->options().shards, std::size_t{4});
    EXPECT_EQ(memory->options().clock_policy, ClockPolicy::precise);

    EXPECT_EQ(config_error({{"cache.backend", "memory"}, {"cache.arguments.shards", "3"}}),
              "setting 'cache.arguments.shards' = '3': expected a power of two");
    EXPECT_EQ(config_error({{"cache.backend", "memory"}, {"cache.arguments.ttl", "0s"}}),
              "setting 'cache.arguments.ttl' must be positive");
}

TEST(ConfigureFromConfig, ConfiguredRegionReadsAndWrites) {
    const SettingsMap values{{"cache.backend", "memory"}, {"cache.expiration_time", "1h"}};
    Region<std::string> region;
    dogpile::configure_from_config(region, values, "cache.", dogpile::builtin_backends<std::string>());
    int calls = 0;
    EXPECT_EQ(region.get_or_create("k",
                                   [&] {
                                       ++calls;
                                       return std::string("v");
                                   }),
              "v");
    EXPECT_EQ(region.get_or_create("k",
                                   [&] {
                                       ++calls;
                                       return std::string("w");
                                   }),
              "v");
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(region.options().expiration_time, ExpirationTime(1h));

    EXPECT_CONTAINS(message_of<ConfigurationError>([&] {
                        dogpile::configure_from_config(region, values, "cache.",
                                                       dogpile::builtin_backends<std::string>());
                    }),
                    "already configured");
    const SettingsMap null_values{{"cache.backend", "null"}};
    dogpile::configure_from_config(region, null_values, "cache.", dogpile::builtin_backends<std::string>(), {},
                                   dogpile::ReplaceExisting::yes);
    EXPECT_EQ(region.get("k"), std::nullopt);
    EXPECT_NE(dynamic_cast<NullBackend<std::string>*>(&region.backend()), nullptr);
}

TEST(ConfigureFromConfig, UnknownKeyNamesTheFullKey) {
    EXPECT_CONTAINS(config_error({{"cache.backend", "memory"}, {"cache.expiration", "5min"}}),
                    "unknown setting 'cache.expiration' (expected one of: cache.backend, ");
    EXPECT_CONTAINS(config_error({{"cache.backend", "memory"}, {"cache.expiration", "5min"}}), "cache.expiration_time");
    EXPECT_EQ(config_error({{"cache.backend", "memory"}, {"cache.arguments.capcity", "5"}}),
              "unknown setting 'cache.arguments.capcity' (expected one of: cache.arguments.capacity, "
              "cache.arguments.clock_policy, cache.arguments.eviction, cache.arguments.shards, cache.arguments.ttl)");
    EXPECT_EQ(config_error({{"cache.backend", "null"}, {"cache.arguments.capacity", "5"}}),
              "unknown setting 'cache.arguments.capacity'");
    EXPECT_CONTAINS(config_error({{"cache.backend", "memory"}, {"cache.wrap.x", "1"}}),
                    "unknown setting 'cache.wrap.x'");
}

TEST(ConfigureFromConfig, MalformedRegionValuesNameTheKey) {
    EXPECT_EQ(config_error({{"cache.backend", "memory"}, {"cache.expiration_time", "soon"}}),
              "setting 'cache.expiration_time' = 'soon': expected a positive duration such as 600 (seconds), 600s, "
              "5min, 250ms, 2h or 1d, or never");
    EXPECT_CONTAINS(config_error({{"cache.backend", "memory"}, {"cache.lock_timeout", "10 parsecs"}}),
                    "setting 'cache.lock_timeout' = '10 parsecs': expected a duration");
    EXPECT_CONTAINS(config_error({{"cache.backend", "memory"}, {"cache.arguments.capacity", "lots"}}),
                    "setting 'cache.arguments.capacity' = 'lots': expected a whole number from 1 to");
    EXPECT_CONTAINS(config_error({{"cache.backend", "memory"}, {"cache.stale", "sometimes"}}),
                    "setting 'cache.stale' = 'sometimes': expected one of serve_while_regenerating, never_serve");
    EXPECT_EQ(config_error({{"cache.backend", "memory"}, {"cache.key_mangler_max_length", "8"}}),
              "setting 'cache.key_mangler_max_length' needs cache.key_mangler = sha1");
}

TEST(ConfigureFromConfig, UnknownBackendListsTheRegisteredNames) {
    EXPECT_EQ(config_error({{"cache.backend", "memcached"}}),
              "setting 'cache.backend' = 'memcached': unknown backend (registered: memory, null)");
}

TEST(ConfigureFromConfig, MissingBackend) {
    EXPECT_EQ(config_error({{"cache.expiration_time", "5min"}}),
              "setting 'cache.backend' is required: expected a backend name (registered: memory, null)");
    EXPECT_EQ(config_error({}),
              "setting 'cache.backend' is required: expected a backend name (registered: memory, null)");
}

TEST(ConfigureFromConfig, RegionMistakesAreReportedBeforeTheBackendIsBuilt) {
    int built = 0;
    Registry registry;
    registry.add("counted", [&](const Settings&) {
        ++built;
        return std::make_shared<NullBackend<std::string>>();
    });
    const SettingsMap values{{"cache.backend", "counted"}, {"cache.expiraton_time", "5min"}};
    EXPECT_CONTAINS(
        message_of<ConfigurationError>([&] { (void)dogpile::region_config_from_settings(values, "cache.", registry); }),
        "unknown setting 'cache.expiraton_time'");
    EXPECT_EQ(built, 0);
}

// A backend of the user's, with arguments of its own.
class PrefixingBackend final : public dogpile::Backend<std::string> {
public:
    PrefixingBackend(std::string tag, int copies) : tag_(std::move(tag)), copies_(copies) {}
    std::optional<entry_type> get(const std::string& key) override { return inner_.get(key); }
    void set(const std::string& key, const entry_type& entry) override {
        entry_type tagged = entry;
        for (int i = 0; i < copies_; ++i) tagged.value = tag_ + tagged.value;
        inner_.set(key, tagged);
    }
    void erase(const std::string& key) override { inner_.erase(key); }

private:
    std::string tag_;
    int copies_;
    MemoryBackend<std::string> inner_;
};

TEST(ConfigureFromConfig, UserRegisteredBackend) {
    auto registry = dogpile::builtin_backends<std::string>();
    registry.add("prefixing", [](const Settings& arguments) {
        return std::make_shared<PrefixingBackend>(arguments.require_string("tag", "the text put in front"),
                                                  arguments.get_integer<int>("copies", 1, 3).value_or(1));
    });
    EXPECT_EQ(registry.names(), (std::set<std::string>{"memory", "null", "prefixing"}));

    const SettingsMap values{{"c.backend", "prefixing"}, {"c.arguments.tag", "> "}, {"c.arguments.copies", "2"}};
    Region<std::string> region;
    dogpile::configure_from_config(region, values, "c.", registry);
    region.set("k", "v");
    EXPECT_EQ(region.get("k"), "> > v");

    EXPECT_EQ(message_of<ConfigurationError>([&] {
                  (void)dogpile::region_config_from_settings(SettingsMap{{"c.backend", "prefixing"}}, "c.", registry);
              }),
              "setting 'c.arguments.tag' is required: expected the text put in front");
    EXPECT_EQ(message_of<ConfigurationError>([&] {
                  (void)dogpile::region_config_from_settings(
                      SettingsMap{{"c.backend", "prefixing"}, {"c.arguments.tag", "x"}, {"c.arguments.size", "1"}},
                      "c.", registry);
              }),
              "unknown setting 'c.arguments.size' (expected one of: c.arguments.copies, c.arguments.tag)");
    EXPECT_CONTAINS(
        message_of<ConfigurationError>([&] { registry.add("memory", [](const Settings&) { return nullptr; }); }),
        "backend 'memory' is already registered");
    registry.add(
        "memory", [](const Settings&) { return std::make_shared<NullBackend<std::string>>(); },
        dogpile::ReplaceExisting::yes);
    const auto replaced = dogpile::region_config_from_settings(SettingsMap{{"c.backend", "memory"}}, "c.", registry);
    EXPECT_NE(dynamic_cast<NullBackend<std::string>*>(replaced.backend.get()), nullptr);
}

TEST(ConfigureFromConfig, PrefixIsolation) {
    const SettingsMap values{
        {"app1.backend", "memory"},           {"app1.expiration_time", "5min"},           {"app2.backend", "null"},
        {"app2.expiration_time", "nonsense"}, {"app2.arguments.whatever", "x"},           {"unrelated", "y"},
        {"app10.backend", "also unrelated"},  {"app1", "the bare prefix without its dot"}};
    const auto registry = dogpile::builtin_backends<std::string>();
    const auto first = dogpile::region_config_from_settings(values, "app1.", registry);
    EXPECT_EQ(first.options.expiration_time, ExpirationTime(5min));
    EXPECT_NE(dynamic_cast<MemoryBackend<std::string>*>(first.backend.get()), nullptr);
    EXPECT_CONTAINS(
        message_of<ConfigurationError>([&] { (void)dogpile::region_config_from_settings(values, "app2.", registry); }),
        "setting 'app2.expiration_time' = 'nonsense'");
}

TEST(ConfigureFromConfig, OtherKeyTypes) {
    // No std::hash for this key: only "null" is built in.
    struct OpaqueKey {
        int id;
    };
    const auto registry = dogpile::builtin_backends<int, OpaqueKey>();
    EXPECT_EQ(registry.names(), (std::set<std::string>{"null"}));
    const auto ints = dogpile::builtin_backends<int, int>();
    EXPECT_EQ(ints.names(), (std::set<std::string>{"memory", "null"}));
    Region<int, int> region;
    dogpile::configure_from_config(region, SettingsMap{{"backend", "memory"}}, "", ints);
    region.set(7, 49);
    EXPECT_EQ(region.get(7), 49);
    EXPECT_EQ(message_of<ConfigurationError>([&] {
                  (void)dogpile::region_config_from_settings(
                      SettingsMap{{"backend", "memory"}, {"key_mangler", "sha1"}}, "", ints);
              }),
              "setting 'key_mangler' applies to std::string keys only; this region's keys are another type");
}

}  // namespace
