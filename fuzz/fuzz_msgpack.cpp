// MsgpackCodec<T> over msgpack-c: the validator must stop every input that
// would make msgpack-c misbehave or allocate out of proportion (run with
// -malloc_limit_mb to catch the latter).

#include "fuzz_common.hpp"

#include <map>
#include <string>
#include <vector>

#include <dogpile/codec/msgpack.hpp>

using dogpile::codec::MsgpackCodec;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const MsgpackCodec<std::map<std::string, std::vector<int>>> maps;
    static const MsgpackCodec<std::vector<std::string>> strings;
    const auto input = dogpile_fuzz::as_bytes(data, size);
    dogpile_fuzz::check_decode(maps, input);
    dogpile_fuzz::check_decode(strings, input);
    return 0;
}
