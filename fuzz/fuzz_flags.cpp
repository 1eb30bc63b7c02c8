// The values-only codecs for flat boolean dicts, 25 flags: FlagsCodec on its
// own, and differentially against FlagSetCodec (same bytes, other type).

#include "fuzz_common.hpp"

#include <string>
#include <utility>
#include <vector>

#include <dogpile/codec/values.hpp>

using dogpile::codec::FlagsCodec;
using dogpile::codec::FlagSetCodec;
using dogpile::codec::FlagTemplate;
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
    static const FlagSetCodec set_codec{numbered(25)};
    static const FlagSetCodec empty_set{FlagTemplate::empty()};
    const auto input = dogpile_fuzz::as_bytes(data, size);
    dogpile_fuzz::check_decode(codec, input);
    dogpile_fuzz::check_decode(empty, input);
    dogpile_fuzz::check_same_decode(codec, set_codec, input);
    dogpile_fuzz::check_same_decode(empty, empty_set, input);
    return 0;
}
