// A region configured from environment variables, the way an ops team sets a
// service's cache without a rebuild (config.hpp, settings.hpp):
//
//   export DOGPILE_REGION_BACKEND=memory DOGPILE_REGION_EXPIRATION_TIME=5min
//   export DOGPILE_REGION_ARGUMENTS__CAPACITY=10000
//   ./config_from_env
//
//   export DOGPILE_REGION_BACKEND=redis DOGPILE_REGION_ARGUMENTS__URL=redis://127.0.0.1:6379/0
//   export DOGPILE_REGION_ARGUMENTS__TTL=1h
//   ./config_from_env
//
// "__" separates sections (ARGUMENTS__URL is arguments.url). A misspelt or
// malformed variable stops the program with a message naming it.
#include <dogpile/backends/config.hpp>
#include <dogpile/backends/redis/config.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/config.hpp>
#include <dogpile/region.hpp>
#include <dogpile/settings.hpp>

#include <iostream>
#include <string>

int main(int /*argc*/, char** /*argv*/, char** environment) {
    dogpile::SettingsMap settings = dogpile::settings_from_environment("DOGPILE_REGION_", environment);
    settings.emplace("backend", "memory");  // when DOGPILE_REGION_BACKEND is not set

    auto registry = dogpile::builtin_backends<std::string>();
    dogpile::register_redis_backends(registry);

    dogpile::Region<std::string> region;
    try {
        dogpile::configure_from_config(region, settings, "", registry);
    } catch (const dogpile::ConfigurationError& e) {
        // Keys are reported as read from the environment: "arguments.url" is DOGPILE_REGION_ARGUMENTS__URL.
        std::cerr << "cache configuration: " << e.what() << '\n';
        return 2;
    }

    int computed = 0;
    for (int i = 0; i < 3; ++i) {
        region.get_or_create("greeting", [&] {
            ++computed;
            return std::string("hello from a region configured by the environment");
        });
    }
    std::cout << settings.at("backend") << " region: computed " << computed
              << " time(s) for 3 reads: " << region.get("greeting").value_or("(not cached)") << '\n';
}
