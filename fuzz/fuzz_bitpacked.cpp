// BitpackedCodec in both wire forms: integer (25 and 64 flags) and bin (70),
// and differentially against BitpackedFlagSetCodec (same bytes, FlagSet).

#include "fuzz_common.hpp"

#include <string>
#include <utility>
#include <vector>

#include <dogpile/codec/bitpacked.hpp>

using dogpile::codec::BitpackedCodec;
using dogpile::codec::BitpackedFlagSetCodec;
using dogpile::codec::KeyTemplate;

static KeyTemplate numbered(int count) {
    std::vector<std::string> names;
    for (int i = 0; i < count; ++i) names.push_back((i < 10 ? "perm_0" : "perm_") + std::to_string(i));
    return KeyTemplate::flat(std::move(names));
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const BitpackedCodec flags25{numbered(25)};
    static const BitpackedCodec flags64{numbered(64)};
    static const BitpackedCodec flags70{numbered(70)};
    static const BitpackedFlagSetCodec set25{numbered(25)};
    static const BitpackedFlagSetCodec set64{numbered(64)};
    static const BitpackedFlagSetCodec set70{numbered(70)};
    const auto input = dogpile_fuzz::as_bytes(data, size);
    dogpile_fuzz::check_decode(flags25, input);
    dogpile_fuzz::check_decode(flags64, input);
    dogpile_fuzz::check_decode(flags70, input);
    dogpile_fuzz::check_same_decode(flags25, set25, input);
    dogpile_fuzz::check_same_decode(flags64, set64, input);
    dogpile_fuzz::check_same_decode(flags70, set70, input);
    return 0;
}
