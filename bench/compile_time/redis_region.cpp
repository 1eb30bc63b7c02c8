// A TU that uses a Redis region: the library's workload (hash store, values-only
// permission flags, distributed lock), as an application writes it.
#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/redis/client.hpp>
#include <dogpile/region.hpp>

#include <chrono>
#include <memory>

int main() {
    using dogpile::codec::Flags;
    using dogpile::codec::FlagsCodec;
    auto client = dogpile::redis::make_client("redis://127.0.0.1:6379");
    dogpile::RedisHashBackendOptions options{client, std::chrono::hours(1)};
    options.distributed_lock = dogpile::redis::LockOptions{};
    auto backend = std::make_shared<dogpile::RedisHashBackend<Flags, FlagsCodec>>(
        options, FlagsCodec(dogpile::codec::KeyTemplate{"can_edit", "can_view"}));
    dogpile::Region<Flags, dogpile::HashKey> region(backend);
    dogpile::redis::HashKeyScheme calculated{"calculated-a|"};
    const auto flags = region.get_or_create(calculated.key(7, 42), [] {
        return Flags{{"can_edit", false}, {"can_view", true}};
    });
    return flags.size() == 2 ? 0 : 1;
}
