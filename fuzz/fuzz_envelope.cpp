// envelope::unwrap, and EnvelopeCodec around the flags codec.

#include "fuzz_common.hpp"

#include <dogpile/codec/envelope.hpp>
#include <dogpile/codec/values.hpp>

namespace envelope = dogpile::codec::envelope;
using dogpile::codec::EnvelopeCodec;
using dogpile::codec::FlagsCodec;
using dogpile::codec::KeyTemplate;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto input = dogpile_fuzz::as_bytes(data, size);
    try {
        const envelope::Unwrapped first = envelope::unwrap(input);
        const std::string wrapped = envelope::wrap(first.metadata, first.payload);
        const envelope::Unwrapped second = envelope::unwrap(wrapped);
        if (second.metadata.created_at != first.metadata.created_at ||
            second.metadata.version != first.metadata.version ||
            second.metadata.expiry_owner != first.metadata.expiry_owner || second.payload != first.payload) {
            dogpile_fuzz::fail("unwrap(wrap(unwrap(x))) lost information");
        }
        if (envelope::wrap(second.metadata, second.payload) != wrapped) dogpile_fuzz::fail("wrap is not a fixed point");
    } catch (const dogpile::DecodeError&) {
    }

    static const EnvelopeCodec<FlagsCodec> codec{
        FlagsCodec{KeyTemplate{"a", "bb", "ccc", "dddd", "eeeee", "ffffff", "ggggggg", "hhhhhhhh"}}};
    dogpile_fuzz::check_decode(codec, input);
    return 0;
}
