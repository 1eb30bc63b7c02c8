// The values-only codec for dicts, with a fixed nested template.

#include "fuzz_common.hpp"

#include <dogpile/codec/values.hpp>

using dogpile::codec::KeyTemplate;
using dogpile::codec::ValuesCodec;

// Mirrored in fuzz/corpus/generate.py.
static const KeyTemplate& fuzz_template() {
    static const KeyTemplate key_template{
        "id", "name", "tags", {"perm", {"read", "write", {"admin", {"level", "scopes"}}}}, {"empty", {}}};
    return key_template;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const ValuesCodec codec{fuzz_template()};
    dogpile_fuzz::check_decode(codec, dogpile_fuzz::as_bytes(data, size));
    return 0;
}
