// MsgpackCodec<T>: the generic codec. Round trips through msgpack-c's
// adaptors, and every kind of malformed or hostile input becomes a DecodeError.

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <dogpile/codec/msgpack.hpp>

#include "interop/python_interop.hpp"

namespace {

using dogpile::DecodeError;
using dogpile::codec::DecodeLimits;
using dogpile::codec::MsgpackCodec;
using dogpile_test::to_hex;

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (const int v : values) out.push_back(static_cast<char>(v));
    return out;
}

struct Profile {
    std::string name;
    std::int64_t id = 0;
    std::vector<std::string> groups;
    std::map<std::string, bool> flags;
    MSGPACK_DEFINE(name, id, groups, flags)

    friend bool operator==(const Profile& a, const Profile& b) {
        return a.name == b.name && a.id == b.id && a.groups == b.groups && a.flags == b.flags;
    }
};

template <class T>
T round_trip(const T& value) {
    const MsgpackCodec<T> codec;
    return codec.decode(codec.encode(value));
}

using Map = std::map<std::string, std::vector<int>>;

// --- round trips ----------------------------------------------------------------

TEST(MsgpackCodecRoundTrip, Scalars) {
    EXPECT_EQ(round_trip(std::string("hello")), "hello");
    EXPECT_EQ(round_trip(std::string()), "");
    EXPECT_EQ(round_trip(std::numeric_limits<std::int64_t>::min()), std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(round_trip(std::numeric_limits<std::uint64_t>::max()), std::numeric_limits<std::uint64_t>::max());
    EXPECT_EQ(round_trip(-1), -1);
    EXPECT_EQ(round_trip(2.5), 2.5);
    EXPECT_EQ(round_trip(true), true);
}

TEST(MsgpackCodecRoundTrip, Containers) {
    const Map map{{"a", {1, 2, 3}}, {"b", {}}, {"c", {-7}}};
    EXPECT_EQ(round_trip(map), map);
    const std::vector<std::string> strings{"x", std::string(300, 'y'), ""};
    EXPECT_EQ(round_trip(strings), strings);
    const std::map<std::string, bool> flags{{"read", true}, {"write", false}};
    EXPECT_EQ(round_trip(flags), flags);
    const std::tuple<int, std::string, double> tuple{1, "two", 3.0};
    EXPECT_EQ(round_trip(tuple), tuple);
    EXPECT_EQ(round_trip(std::optional<int>{}), std::optional<int>{});
    EXPECT_EQ(round_trip(std::optional<int>{4}), std::optional<int>{4});
}

TEST(MsgpackCodecRoundTrip, UserTypesWithMsgpackDefine) {
    const Profile profile{"ann", 42, {"staff", "admins"}, {{"read", true}}};
    EXPECT_EQ(round_trip(profile), profile);
}

TEST(MsgpackCodecRoundTrip, EncodeToAppendsAndBytesAreStandardMsgpack) {
    std::string out = "xy";
    MsgpackCodec<std::map<std::string, int>>{}.encode_to({{"a", 1}}, out);
    EXPECT_EQ(to_hex(out), to_hex("xy" + bytes({0x81, 0xa1, 'a', 0x01})));
}

TEST(MsgpackCodecRoundTrip, ReadsWhatPythonWrites) {
    // golden_flags in values-only form is a plain msgpack array of bools.
    std::string error;
    const std::string python = dogpile_test::python_emit("golden_flags", error);
    ASSERT_TRUE(error.empty()) << error;
    const std::vector<bool> expected{true, false, true, false, true, false, true, false};
    EXPECT_EQ(MsgpackCodec<std::vector<bool>>{}.decode(python), expected);
}

// --- decode errors ------------------------------------------------------------------

TEST(MsgpackCodecDecode, EmptyInput) {
    EXPECT_THROW(MsgpackCodec<int>{}.decode(""), DecodeError);
    EXPECT_THROW(MsgpackCodec<std::string>{}.decode(""), DecodeError);
}

TEST(MsgpackCodecDecode, WrongTypes) {
    EXPECT_THROW(MsgpackCodec<int>{}.decode(bytes({0xa1, 'x'})), DecodeError);
    EXPECT_THROW(MsgpackCodec<unsigned>{}.decode(bytes({0xff})), DecodeError);                  // -1
    EXPECT_THROW(MsgpackCodec<std::uint8_t>{}.decode(bytes({0xcd, 0x01, 0x2c})), DecodeError);  // 300
    EXPECT_THROW(MsgpackCodec<std::vector<int>>{}.decode(bytes({0x81, 0xa1, 'a', 0x01})), DecodeError);
    EXPECT_THROW(MsgpackCodec<Map>{}.decode(bytes({0x81, 0x01, 0x90})), DecodeError);  // int key
    EXPECT_THROW(MsgpackCodec<Map>{}.decode(bytes({0x81, 0xa1, 'a', 0x91, 0xc3})), DecodeError);
    EXPECT_THROW(MsgpackCodec<int>{}.decode(bytes({0xcb, 0, 0, 0, 0, 0, 0, 0, 0})), DecodeError);  // a float
    EXPECT_THROW(MsgpackCodec<Profile>{}.decode(bytes({0x91, 0x01})), DecodeError);                // name must be a str
    // msgpack-c lets MSGPACK_DEFINE types read shorter arrays (schema evolution).
    EXPECT_EQ(MsgpackCodec<Profile>{}.decode(bytes({0x91, 0xa1, 'x'})).name, "x");
}

TEST(MsgpackCodecDecode, TruncatedAtEveryBytePosition) {
    const MsgpackCodec<Map> codec;
    const std::string full =
        codec.encode(Map{{"alpha", {1, 300, -70000}}, {"beta", {std::numeric_limits<int>::max()}}});
    for (std::size_t size = 0; size < full.size(); ++size) {
        EXPECT_THROW(codec.decode(full.substr(0, size)), DecodeError) << "prefix of " << size;
    }
}

TEST(MsgpackCodecDecode, TrailingBytes) {
    EXPECT_THROW(MsgpackCodec<int>{}.decode(bytes({0x01, 0x02})), DecodeError);
    EXPECT_THROW(MsgpackCodec<std::string>{}.decode(bytes({0xa1, 'x', 0xc0})), DecodeError);
}

TEST(MsgpackCodecDecode, AbsurdLengthHeadersFailWithoutAllocating) {
    const MsgpackCodec<Map> codec;
    const MsgpackCodec<std::string> strings;
    for (const std::string& absurd : {bytes({0xdd, 0xff, 0xff, 0xff, 0xff}), bytes({0xdb, 0xff, 0xff, 0xff, 0xff}),
                                      bytes({0xc6, 0xff, 0xff, 0xff, 0xff}), bytes({0xdf, 0xff, 0xff, 0xff, 0xff}),
                                      bytes({0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}), bytes({0xdc, 0xff, 0xff}),
                                      // nested promises: each would cost msgpack-c a large zone allocation
                                      bytes({0xdd, 0x00, 0x0f, 0xff, 0xff, 0xdd, 0x00, 0x0f, 0xff, 0xff, 0xdd}),
                                      bytes({0x81, 0xa1, 'a', 0xdd, 0x7f, 0xff, 0xff, 0xff})}) {
        EXPECT_THROW(codec.decode(absurd), DecodeError) << to_hex(absurd);
        EXPECT_THROW(strings.decode(absurd), DecodeError) << to_hex(absurd);
    }
}

TEST(MsgpackCodecDecode, NeverUsedByte) { EXPECT_THROW(MsgpackCodec<int>{}.decode(bytes({0xc1})), DecodeError); }

TEST(MsgpackCodecDecode, DeepNesting) {
    using Nested = std::vector<std::vector<std::vector<int>>>;
    EXPECT_EQ(MsgpackCodec<Nested>{}.decode(bytes({0x91, 0x91, 0x91, 0x05})), (Nested{{{5}}}));
    // A million open arrays: the validator rejects it by depth, iteratively.
    const std::string deep = std::string(1'000'000, '\x91') + '\x00';
    EXPECT_THROW(MsgpackCodec<Nested>{}.decode(deep), DecodeError);
    DecodeLimits limits;
    limits.max_depth = 2;
    EXPECT_THROW(MsgpackCodec<Nested>{limits}.decode(bytes({0x91, 0x91, 0x91, 0x05})), DecodeError);
}

TEST(MsgpackCodecDecode, LimitsApply) {
    DecodeLimits limits;
    limits.max_string_length = 3;
    EXPECT_EQ(MsgpackCodec<std::string>{limits}.decode(bytes({0xa3, 'a', 'b', 'c'})), "abc");
    EXPECT_THROW(MsgpackCodec<std::string>{limits}.decode(bytes({0xa4, 'a', 'b', 'c', 'd'})), DecodeError);
    limits = DecodeLimits{};
    limits.max_array_length = 2;
    EXPECT_THROW(MsgpackCodec<std::vector<int>>{limits}.decode(bytes({0x93, 1, 2, 3})), DecodeError);
    limits = DecodeLimits{};
    limits.max_map_length = 1;
    EXPECT_THROW((MsgpackCodec<std::map<int, int>>{limits}.decode(bytes({0x82, 1, 1, 2, 2}))), DecodeError);
    limits = DecodeLimits{};
    limits.max_bin_length = 1;
    EXPECT_THROW(MsgpackCodec<std::string>{limits}.decode(bytes({0xc4, 0x02, 'a', 'b'})), DecodeError);
    limits = DecodeLimits{};
    limits.max_payload_bytes = 4;
    EXPECT_THROW(MsgpackCodec<std::string>{limits}.decode(bytes({0xa4, 'a', 'b', 'c', 'd'})), DecodeError);
}

TEST(MsgpackCodecDecode, EverySingleByteCorruptionIsADecodeErrorOrAValue) {
    const MsgpackCodec<Map> codec;
    const std::string full = codec.encode(Map{{"alpha", {1, 300, -70000}}, {"beta", {}}});
    for (std::size_t pos = 0; pos < full.size(); ++pos) {
        for (int value = 0; value < 256; ++value) {
            std::string corrupt = full;
            corrupt[pos] = static_cast<char>(value);
            try {
                const Map back = codec.decode(corrupt);
                EXPECT_EQ(codec.decode(codec.encode(back)), back);
            } catch (const DecodeError&) {
            }
        }
    }
}

}  // namespace
