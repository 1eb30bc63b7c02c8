// The values-only codec for flat boolean dicts (FlagsCodec), 25 flags.

#include "fuzz_common.hpp"

#include <string>
#include <utility>
#include <vector>

#include <dogpile/codec/values.hpp>

using dogpile::codec::FlagsCodec;
using dogpile::codec::KeyTemplate;

// perm_00 .. perm_24, mirrored in fuzz/corpus/generate.py.
static KeyTemplate numbered(int count) {
    std::vector<std::string> names;
    for (int i = 0; i < count; ++i) names.push_back((i < 10 ? "perm_0" : "perm_") + std::to_string(i));
    return KeyTemplate::flat(std::move(names));
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const FlagsCodec codec{numbered(25)};
    static const FlagsCodec empty{KeyTemplate{}};
    const auto input = dogpile_fuzz::as_bytes(data, size);
    dogpile_fuzz::check_decode(codec, input);
    dogpile_fuzz::check_decode(empty, input);
    return 0;
}
