// BitpackedCodec: flags as bits of one msgpack integer (<= 64 flags) or bin.

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include <dogpile/codec/bitpacked.hpp>
#include <dogpile/codec/values.hpp>

#include "interop/codec_cases.hpp"
#include "interop/python_interop.hpp"

namespace {

using dogpile::ConfigurationError;
using dogpile::DecodeError;
using dogpile::EncodeError;
using dogpile::codec::BitpackedCodec;
using dogpile::codec::Flags;
using dogpile::codec::KeyTemplate;
using dogpile_test::golden_flags;
using dogpile_test::numbered_flags;
using dogpile_test::to_hex;

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (const int v : values) out.push_back(static_cast<char>(v));
    return out;
}

Flags all(int count, bool value) {
    Flags flags = numbered_flags(count);
    for (auto& entry : flags) entry.second = value;
    return flags;
}

Flags random_flags(int count, std::mt19937& rng) {
    Flags flags = numbered_flags(count);
    for (auto& entry : flags) entry.second = (rng() & 1u) != 0;
    return flags;
}

TEST(BitpackedGolden, EightFlagsAreOneByte) {
    // a, ccc, eeeee, ggggggg set: bits 0, 2, 4, 6.
    const BitpackedCodec codec{KeyTemplate::of(golden_flags())};
    EXPECT_EQ(to_hex(codec.encode(golden_flags())), "55");
    EXPECT_EQ(codec.decode(bytes({0x55})), golden_flags());
}

TEST(BitpackedGolden, TwentyFiveFlagsFitInFiveBytes) {
    const BitpackedCodec codec{KeyTemplate::of(numbered_flags(25))};
    EXPECT_EQ(to_hex(codec.encode(all(25, true))), "ce01ffffff");
    EXPECT_EQ(to_hex(codec.encode(all(25, false))), "00");
    std::mt19937 rng(25);
    for (int i = 0; i < 200; ++i) {
        const Flags flags = random_flags(25, rng);
        const std::string encoded = codec.encode(flags);
        EXPECT_LE(encoded.size(), 5u);
        EXPECT_EQ(codec.decode(encoded), flags);
    }
}

TEST(BitpackedRoundTrip, EveryCombinationOfEightFlags) {
    const BitpackedCodec codec{KeyTemplate::of(golden_flags())};
    Flags flags = golden_flags();
    for (int bits = 0; bits < 256; ++bits) {
        int i = 0;
        for (auto& entry : flags) entry.second = ((bits >> i++) & 1) != 0;
        const std::string encoded = codec.encode(flags);
        EXPECT_EQ(codec.decode(encoded), flags) << bits;
    }
}

TEST(BitpackedRoundTrip, SizesAroundTheIntegerAndBinForms) {
    std::mt19937 rng(7);
    for (const int count : {0, 1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 70, 128, 300, 2100}) {
        const BitpackedCodec codec{KeyTemplate::of(numbered_flags(count))};
        for (const Flags& flags : {all(count, true), all(count, false), random_flags(count, rng)}) {
            EXPECT_EQ(codec.decode(codec.encode(flags)), flags) << count << " flags";
        }
    }
    // 64 flags all set: the full uint64.
    EXPECT_EQ(to_hex(BitpackedCodec{KeyTemplate::of(numbered_flags(64))}.encode(all(64, true))), "cfffffffffffffffff");
    // 70 flags: a bin of 9 bytes.
    EXPECT_EQ(to_hex(BitpackedCodec{KeyTemplate::of(numbered_flags(70))}.encode(all(70, true))),
              "c409ffffffffffffffff3f");
}

TEST(BitpackedDecode, AcceptsAnyIntegerEncodingOfTheValue) {
    const BitpackedCodec codec{KeyTemplate::of(golden_flags())};
    for (const std::string& encoding :
         {bytes({0xcc, 0x55}), bytes({0xcd, 0x00, 0x55}), bytes({0xce, 0, 0, 0, 0x55}),
          bytes({0xcf, 0, 0, 0, 0, 0, 0, 0, 0x55}), bytes({0xd0, 0x55}), bytes({0xd3, 0, 0, 0, 0, 0, 0, 0, 0x55})}) {
        EXPECT_EQ(codec.decode(encoding), golden_flags()) << to_hex(encoding);
    }
}

TEST(BitpackedDecode, RejectsBitsBeyondTheTemplate) {
    EXPECT_THROW(BitpackedCodec{KeyTemplate::of(golden_flags())}.decode(bytes({0xcd, 0x01, 0x00})), DecodeError);
    EXPECT_THROW(BitpackedCodec{KeyTemplate::of(numbered_flags(25))}.decode(bytes({0xce, 0x02, 0x00, 0x00, 0x00})),
                 DecodeError);
    EXPECT_THROW(BitpackedCodec{KeyTemplate{}}.decode(bytes({0x01})), DecodeError);
    // 70 flags use 6 bits of the last byte: the top two must be clear.
    const BitpackedCodec seventy{KeyTemplate::of(numbered_flags(70))};
    EXPECT_THROW(seventy.decode(bytes({0xc4, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x40})), DecodeError);
}

TEST(BitpackedDecode, RejectsWrongTypesAndLengths) {
    const BitpackedCodec codec{KeyTemplate::of(numbered_flags(25))};
    EXPECT_THROW(codec.decode(bytes({0xff})), DecodeError);  // -1
    EXPECT_THROW(codec.decode(bytes({0xc3})), DecodeError);
    EXPECT_THROW(codec.decode(bytes({0xa1, 'x'})), DecodeError);
    EXPECT_THROW(codec.decode(bytes({0x91, 0x01})), DecodeError);
    EXPECT_THROW(codec.decode(bytes({0xc4, 0x04, 0, 0, 0, 0})), DecodeError);  // a bin where an int belongs
    const BitpackedCodec seventy{KeyTemplate::of(numbered_flags(70))};
    EXPECT_THROW(seventy.decode(bytes({0x00})), DecodeError);  // an int where a bin belongs
    EXPECT_THROW(seventy.decode(bytes({0xc4, 0x08, 0, 0, 0, 0, 0, 0, 0, 0})), DecodeError);
    EXPECT_THROW(seventy.decode(bytes({0xc4, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})), DecodeError);
}

TEST(BitpackedDecode, EmptyTruncatedAndTrailing) {
    const BitpackedCodec codec{KeyTemplate::of(numbered_flags(25))};
    EXPECT_THROW(codec.decode(""), DecodeError);
    const std::string full = codec.encode(all(25, true));
    for (std::size_t size = 0; size < full.size(); ++size) {
        EXPECT_THROW(codec.decode(full.substr(0, size)), DecodeError) << size;
    }
    EXPECT_THROW(codec.decode(full + '\0'), DecodeError);

    const BitpackedCodec seventy{KeyTemplate::of(numbered_flags(70))};
    const std::string bin = seventy.encode(all(70, true));
    for (std::size_t size = 0; size < bin.size(); ++size) {
        EXPECT_THROW(seventy.decode(bin.substr(0, size)), DecodeError) << size;
    }
    EXPECT_THROW(seventy.decode(bin + '\0'), DecodeError);
}

TEST(BitpackedDecode, AbsurdLengthHeaders) {
    const BitpackedCodec seventy{KeyTemplate::of(numbered_flags(70))};
    for (const std::string& absurd : {bytes({0xdd, 0xff, 0xff, 0xff, 0xff}), bytes({0xdb, 0xff, 0xff, 0xff, 0xff}),
                                      bytes({0xc6, 0xff, 0xff, 0xff, 0xff}), bytes({0xc1})}) {
        EXPECT_THROW(seventy.decode(absurd), DecodeError) << to_hex(absurd);
        EXPECT_THROW(BitpackedCodec{KeyTemplate::of(golden_flags())}.decode(absurd), DecodeError) << to_hex(absurd);
    }
}

TEST(BitpackedEncode, KeysMustMatchTheTemplate) {
    const BitpackedCodec codec{KeyTemplate{"read", "write"}};
    EXPECT_THROW(codec.encode({{"read", true}}), EncodeError);
    EXPECT_THROW(codec.encode({{"read", true}, {"wrote", true}}), EncodeError);
    const BitpackedCodec seventy{KeyTemplate::of(numbered_flags(70))};
    Flags renamed = all(70, true);
    renamed.erase("perm_69");
    renamed.emplace("perm_zz", true);
    EXPECT_THROW(seventy.encode(renamed), EncodeError);
}

TEST(BitpackedApi, NeedsAFlatTemplate) {
    EXPECT_THROW((BitpackedCodec{KeyTemplate{{"perm", {"read"}}}}), ConfigurationError);
}

TEST(BitpackedInterop, PythonReadsAndWritesTheSameBits) {
    for (const int count : {25, 70}) {
        const std::string name = "bits" + std::to_string(count);
        const Flags flags = numbered_flags(count);
        dogpile_test::expect_python_agrees(name, BitpackedCodec{KeyTemplate::of(flags)}, flags);
    }
}

TEST(BitpackedInterop, PythonReadsAndWritesTheSameBitsAsFlagSet) {
    for (const int count : {25, 70}) {
        const std::string name = "bits" + std::to_string(count);
        const dogpile::codec::FlagSet set = dogpile_test::to_flag_set(numbered_flags(count));
        dogpile_test::expect_python_agrees(name, dogpile::codec::BitpackedFlagSetCodec{set.flag_template()}, set);
    }
}

}  // namespace
