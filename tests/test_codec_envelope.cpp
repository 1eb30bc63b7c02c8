// The envelope: dogpile metadata in front of a codec's payload.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <type_traits>

#include <dogpile/codec/envelope.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/codec/values.hpp>

#include "interop/codec_cases.hpp"
#include "interop/python_interop.hpp"

namespace {

using dogpile::CachedValue;
using dogpile::DecodeError;
using dogpile::Duration;
using dogpile::ExpiryOwner;
using dogpile::Metadata;
using dogpile::TimePoint;
using dogpile::codec::EnvelopeCodec;
using dogpile::codec::Flags;
using dogpile::codec::FlagsCodec;
using dogpile::codec::KeyTemplate;
using dogpile::codec::MsgpackCodec;
using dogpile_test::golden_flags;
using dogpile_test::to_hex;
namespace envelope = dogpile::codec::envelope;
using std::chrono::microseconds;
using std::chrono::nanoseconds;

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (const int v : values) out.push_back(static_cast<char>(v));
    return out;
}

TimePoint at_micros(std::int64_t micros) {
    return TimePoint(std::chrono::duration_cast<Duration>(microseconds(micros)));
}

Metadata sample_metadata() {
    return Metadata{at_micros(dogpile_test::envelope_created_us), 1, ExpiryOwner::region,
                    std::chrono::duration_cast<Duration>(microseconds(dogpile_test::envelope_creation_us))};
}

// Format 1 as first written: 13 bytes of fields, no creation time.
const std::string format1_header =
    bytes({0xc1, 0x01, 0x0d, 0x00, 0x06, 0x0a, 0x24, 0x18, 0x20, 0x22, 0x40, 0x00, 0x00, 0x00, 0x01, 0x00});
// Format 1 with the creation time (250,000 us) appended: 21 bytes of fields.
const std::string golden_header = bytes({0xc1, 0x01, 0x15, 0x00, 0x06, 0x0a, 0x24, 0x18, 0x20, 0x22, 0x40, 0x00,
                                         0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xd0, 0x90});

TEST(Envelope, GoldenBytes) {
    EXPECT_EQ(envelope::header_size, 24u);
    EXPECT_EQ(to_hex(envelope::wrap(sample_metadata(), "payload")), to_hex(golden_header + "payload"));
}

TEST(Envelope, RoundTrip) {
    for (const Metadata& metadata :
         {sample_metadata(), Metadata{at_micros(0), 0, ExpiryOwner::store},
          Metadata{at_micros(-86'400'000'000), 0xffffffffu, ExpiryOwner::region}, Metadata::store_managed()}) {
        for (const std::string& payload : {std::string(), std::string("\x00\xc1\xff", 3), std::string(1000, 'p')}) {
            const std::string wrapped = envelope::wrap(metadata, payload);
            ASSERT_EQ(wrapped.size(), envelope::header_size + payload.size());
            const envelope::Unwrapped back = envelope::unwrap(wrapped);
            EXPECT_EQ(back.metadata.created_at, metadata.created_at);
            EXPECT_EQ(back.metadata.version, metadata.version);
            EXPECT_EQ(back.metadata.expiry_owner, metadata.expiry_owner);
            EXPECT_EQ(back.metadata.creation_time, metadata.creation_time);
            EXPECT_EQ(back.payload, payload);
            EXPECT_EQ(back.payload.data(), wrapped.data() + envelope::header_size);  // a view, not a copy
        }
    }
}

TEST(Envelope, KeepsMicrosecondsAndFloorsTheRest) {
    const TimePoint precise =
        at_micros(dogpile_test::envelope_created_us) + std::chrono::duration_cast<Duration>(nanoseconds(999));
    EXPECT_EQ(envelope::unwrap(envelope::wrap(Metadata{precise, 1, ExpiryOwner::region}, "")).metadata.created_at,
              at_micros(dogpile_test::envelope_created_us));
    // Before 1970, flooring keeps the order: -0.5us becomes -1us, not 0.
    const TimePoint before_epoch = TimePoint{} - std::chrono::duration_cast<Duration>(nanoseconds(500));
    if (before_epoch != TimePoint{}) {  // clocks coarser than ns cannot express it
        EXPECT_EQ(
            envelope::unwrap(envelope::wrap(Metadata{before_epoch, 1, ExpiryOwner::region}, "")).metadata.created_at,
            at_micros(-1));
    }
}

TEST(Envelope, SkipsFieldsAppendedByNewerWriters) {
    // Field block of 29 bytes: today's 21 plus 8 a later version defines.
    std::string wrapped = golden_header;
    wrapped[2] = 29;
    wrapped += std::string(8, '\x7f') + "payload";
    const envelope::Unwrapped back = envelope::unwrap(wrapped);
    EXPECT_EQ(back.metadata.created_at, at_micros(dogpile_test::envelope_created_us));
    EXPECT_EQ(back.metadata.creation_time, sample_metadata().creation_time);
    EXPECT_EQ(back.payload, "payload");
}

TEST(Envelope, ReadsEnvelopesWrittenBeforeCreationTimeExisted) {
    const std::string old_envelope = format1_header + "payload";  // unwrap returns views into it
    const envelope::Unwrapped back = envelope::unwrap(old_envelope);
    EXPECT_EQ(back.metadata.created_at, at_micros(dogpile_test::envelope_created_us));
    EXPECT_EQ(back.metadata.creation_time, Duration::zero());
    EXPECT_EQ(back.payload, "payload");
}

TEST(Envelope, IgnoresReservedFlagBits) {
    std::string wrapped = golden_header + "x";
    wrapped[15] = static_cast<char>(0xfe);
    EXPECT_EQ(envelope::unwrap(wrapped).metadata.expiry_owner, ExpiryOwner::region);
    wrapped[15] = static_cast<char>(0xff);
    EXPECT_EQ(envelope::unwrap(wrapped).metadata.expiry_owner, ExpiryOwner::store);
}

TEST(Envelope, MalformedHeadersAreDecodeErrors) {
    const std::string wrapped = envelope::wrap(sample_metadata(), "");
    for (std::size_t size = 0; size < wrapped.size(); ++size) {
        EXPECT_THROW(envelope::unwrap(wrapped.substr(0, size)), DecodeError) << "prefix of " << size;
    }
    std::string bad = wrapped;
    bad[0] = static_cast<char>(0x98);  // a bare values-only payload is not an envelope
    EXPECT_THROW(envelope::unwrap(bad), DecodeError);
    bad = wrapped;
    bad[1] = 2;
    try {
        envelope::unwrap(bad);
        ADD_FAILURE() << "format 2 accepted";
    } catch (const DecodeError& e) {
        EXPECT_NE(std::string(e.what()).find("format version 2"), std::string::npos) << e.what();
    }
    bad = wrapped;
    bad[2] = 12;  // too short for format 1's fields
    EXPECT_THROW(envelope::unwrap(bad), DecodeError);
    bad = wrapped;
    bad[2] = 22;  // claims one more field byte than there is
    EXPECT_THROW(envelope::unwrap(bad), DecodeError);
}

TEST(Envelope, CreatedAtOutsideTheClockRangeIsADecodeError) {
    constexpr auto max_micros = std::chrono::duration_cast<microseconds>(Duration::max()).count();
    if (max_micros == INT64_MAX) GTEST_SKIP() << "this clock represents every int64 microsecond count";
    std::string wrapped = golden_header;
    for (int i = 3; i < 11; ++i) wrapped[static_cast<std::size_t>(i)] = static_cast<char>(i == 3 ? 0x7f : 0xff);
    EXPECT_THROW(envelope::unwrap(wrapped), DecodeError);
    for (int i = 3; i < 11; ++i) wrapped[static_cast<std::size_t>(i)] = static_cast<char>(i == 3 ? 0x80 : 0x00);
    EXPECT_THROW(envelope::unwrap(wrapped), DecodeError);
}

TEST(EnvelopeCodecTest, WrapsAnyCodec) {
    const FlagsCodec flags_codec{KeyTemplate::of(golden_flags())};
    const EnvelopeCodec<FlagsCodec> codec{flags_codec};
    static_assert(std::is_same_v<EnvelopeCodec<FlagsCodec>::value_type, CachedValue<Flags>>);
    const CachedValue<Flags> entry{golden_flags(), sample_metadata()};
    const std::string encoded = codec.encode(entry);
    EXPECT_EQ(to_hex(encoded), to_hex(golden_header + flags_codec.encode(golden_flags())));
    const CachedValue<Flags> back = codec.decode(encoded);
    EXPECT_EQ(back.value, golden_flags());
    EXPECT_EQ(back.metadata.created_at, entry.metadata.created_at);
    // The inner codec's DecodeError comes through.
    EXPECT_THROW(codec.decode(golden_header + "\x90"), DecodeError);
    EXPECT_THROW(codec.decode(flags_codec.encode(golden_flags())), DecodeError);  // not wrapped

    const EnvelopeCodec<MsgpackCodec<std::string>> strings;  // default-constructible when the inner codec is
    EXPECT_EQ(strings.decode(strings.encode({"hi", sample_metadata()})).value, "hi");
}

TEST(EnvelopeInterop, PythonReadsTheHeader) {
    const std::string wrapped =
        envelope::wrap(sample_metadata(), FlagsCodec{KeyTemplate::of(golden_flags())}.encode(golden_flags()));
    const auto checked = dogpile_test::run_codec_interop("check envelope " + to_hex(wrapped));
    EXPECT_EQ(checked.status, 0) << checked.output;
}

TEST(EnvelopeInterop, ReadsANewerPythonWritersEnvelope) {
    std::string error;
    const std::string python_bytes = dogpile_test::python_emit("envelope", error);
    ASSERT_TRUE(error.empty()) << error;
    const envelope::Unwrapped unwrapped = envelope::unwrap(python_bytes);
    EXPECT_EQ(unwrapped.metadata.created_at, at_micros(dogpile_test::envelope_created_us));
    EXPECT_EQ(unwrapped.metadata.version, 1u);
    EXPECT_EQ(unwrapped.metadata.expiry_owner, ExpiryOwner::store);
    EXPECT_EQ(unwrapped.metadata.creation_time,
              std::chrono::duration_cast<Duration>(microseconds(dogpile_test::envelope_creation_us)));
    EXPECT_EQ(FlagsCodec{KeyTemplate::of(golden_flags())}.decode(unwrapped.payload), golden_flags());
}

}  // namespace
