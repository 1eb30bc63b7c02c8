// Built by the pkg-config consumer (pkg_config.cmake, with nothing but the
// flags pkg-config gives) and by the add_subdirectory and FetchContent ones: the
// codecs need msgpack's definitions, the Redis client links hiredis.
#include <dogpile/codec/flag_set.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/dogpile.hpp>
#include <dogpile/redis.hpp>

#include <iostream>

int main() {
    const auto& names = dogpile::codec::FlagTemplate::of({"can_edit", "can_view"});
    const dogpile::codec::FlagSetCodec codec(names);
    const dogpile::codec::FlagSet flags(names, {{"can_view", true}});
    if (codec.decode(codec.encode(flags)) != flags) return 1;

    // Nothing listens on port 1: the client's code (and so hiredis' reader,
    // which it links) is compiled in, and it reports the refusal.
    auto client = dogpile::redis::make_client("redis://127.0.0.1:1/0?connect_timeout=500");
    try {
        client->command("k", {"PING"});
        return 1;
    } catch (const dogpile::Error& e) {
        std::cout << "consumer " << DOGPILE_VERSION_STRING << ": " << e.what() << "\n";
    }
    return 0;
}
