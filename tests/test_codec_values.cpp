// The values-only codec: the Redis hash store's payload format (docs/architecture.md).
// Golden bytes, sizes, nested templates, malformed input, and interop with a
// Python service through tests/interop/codec_interop.py.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <variant>
#include <string>
#include <type_traits>
#include <vector>

#include <dogpile/codec/msgpack.hpp>
#include <dogpile/codec/values.hpp>

#include "interop/codec_cases.hpp"
#include "interop/python_interop.hpp"

namespace {

using dogpile::ConfigurationError;
using dogpile::DecodeError;
using dogpile::EncodeError;
using dogpile::codec::DecodeLimits;
using dogpile::codec::Dict;
using dogpile::codec::DictValuesCodec;
using dogpile::codec::Flags;
using dogpile::codec::FlagsCodec;
using dogpile::codec::KeyTemplate;
using dogpile::codec::List;
using dogpile::codec::Value;
using dogpile::codec::ValuesCodec;
using dogpile_test::golden_flags;
using dogpile_test::nested_dict;
using dogpile_test::numbered_flags;
using dogpile_test::to_hex;

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (const int v : values) out.push_back(static_cast<char>(v));
    return out;
}

// The message of the exception `f` throws as E; fails the test when it throws nothing.
template <class E, class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    ADD_FAILURE() << "no exception thrown";
    return {};
}

const std::string golden_bytes = bytes({0x98, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2});

// --- golden bytes and sizes --------------------------------------------------

TEST(ValuesCodecGolden, EightFlagsPackToNineBytes) {
    const FlagsCodec codec{KeyTemplate::of(golden_flags())};
    EXPECT_EQ(to_hex(codec.encode(golden_flags())), to_hex(golden_bytes));
    EXPECT_EQ(codec.decode(golden_bytes), golden_flags());
}

TEST(ValuesCodecGolden, DictCodecWritesTheSameBytesAsFlagsCodec) {
    const Dict dict = dogpile_test::to_dict(golden_flags());
    const ValuesCodec codec{KeyTemplate::of(dict)};
    EXPECT_EQ(to_hex(codec.encode(dict)), to_hex(golden_bytes));
    EXPECT_EQ(codec.decode(golden_bytes), dict);
}

TEST(ValuesCodecGolden, TwentyFiveFlagsPackTo28Bytes) {
    const Flags flags = numbered_flags(25);
    const FlagsCodec codec{KeyTemplate::of(flags)};
    const std::string encoded = codec.encode(flags);
    ASSERT_EQ(encoded.size(), 28u);
    EXPECT_EQ(to_hex(encoded.substr(0, 3)), "dc0019");  // array16: fixarray stops at 15
    EXPECT_EQ(codec.decode(encoded), flags);

    // The same dict as a msgpack map carries every key: the saving the design is about.
    const std::string as_map = dogpile::codec::MsgpackCodec<Flags>{}.encode(flags);
    EXPECT_GT(as_map.size(), 4 * encoded.size());
}

TEST(ValuesCodecGolden, ArrayHeaderSizesFollowMsgpack) {
    for (const int count : {0, 1, 15, 16, 255, 65535, 65536}) {
        const Flags flags = numbered_flags(count);
        const std::string encoded = FlagsCodec{KeyTemplate::of(flags)}.encode(flags);
        const std::size_t header = count < 16 ? 1 : count <= 65535 ? 3 : 5;
        EXPECT_EQ(encoded.size(), header + static_cast<std::size_t>(count)) << count << " flags";
    }
}

TEST(ValuesCodecGolden, EmptyTemplateIsAnEmptyArray) {
    const FlagsCodec flags_codec{KeyTemplate{}};
    EXPECT_EQ(to_hex(flags_codec.encode({})), "90");
    EXPECT_TRUE(flags_codec.decode(bytes({0x90})).empty());
    const ValuesCodec dict_codec{KeyTemplate{}};
    EXPECT_EQ(to_hex(dict_codec.encode({})), "90");
    EXPECT_TRUE(dict_codec.decode(bytes({0x90})).empty());
}

// --- round trips ----------------------------------------------------------------

TEST(ValuesCodecRoundTrip, EveryCombinationOfThreeFlags) {
    const FlagsCodec codec{KeyTemplate{"read", "write", "admin"}};
    for (int bits = 0; bits < 8; ++bits) {
        const Flags flags{{"admin", (bits & 1) != 0}, {"read", (bits & 2) != 0}, {"write", (bits & 4) != 0}};
        EXPECT_EQ(codec.decode(codec.encode(flags)), flags);
    }
}

TEST(ValuesCodecRoundTrip, NestedDictWithEveryValueType) {
    const Dict dict = nested_dict();
    const ValuesCodec codec{KeyTemplate::of(dict)};
    const Dict back = codec.decode(codec.encode(dict));
    EXPECT_EQ(back, dict);
    EXPECT_EQ(back.at("perm").at("admin").at("level"), -3);
    EXPECT_EQ(back.at("huge").as_uint(), ~std::uint64_t{0});
    EXPECT_TRUE(back.at("empty").is_dict());
}

TEST(ValuesCodecRoundTrip, NestedDictsBecomeNestedArrays) {
    const KeyTemplate tmpl{"id", {"perm", {"read", "write"}}};
    const ValuesCodec codec{tmpl};
    const Dict dict{{"id", 7}, {"perm", Dict{{"read", true}, {"write", false}}}};
    // [7, [true, false]]
    EXPECT_EQ(to_hex(codec.encode(dict)), "920792c3c2");
    EXPECT_EQ(codec.decode(bytes({0x92, 0x07, 0x92, 0xc3, 0xc2})), dict);
}

TEST(ValuesCodecRoundTrip, IntegersKeepTheirValueWhateverTheirCppType) {
    const ValuesCodec codec{KeyTemplate{"n"}};
    for (const Value& n :
         {Value(5u), Value(std::int8_t{-5}), Value(std::uint64_t{1} << 63), Value(-(std::int64_t{1} << 62)), Value(0),
          Value(127), Value(128), Value(-32), Value(-33), Value(65536)}) {
        const Dict back = codec.decode(codec.encode(Dict{{"n", n}}));
        EXPECT_EQ(back.at("n"), n) << n;
    }
    EXPECT_EQ(Value(5u), Value(5));
    EXPECT_EQ(Value(5u).type(), Value::Type::integer);
}

TEST(ValuesCodecRoundTrip, StringsOfEveryHeaderSize) {
    const ValuesCodec codec{KeyTemplate{"s"}};
    for (const std::size_t size : {0u, 31u, 32u, 255u, 256u, 65535u, 65536u}) {
        const Dict dict{{"s", std::string(size, 'q')}};
        EXPECT_EQ(codec.decode(codec.encode(dict)), dict) << size;
    }
}

TEST(ValuesCodecRoundTrip, EncodeToAppends) {
    const FlagsCodec codec{KeyTemplate::of(golden_flags())};
    std::string buffer = "prefix";
    codec.encode_to(golden_flags(), buffer);
    EXPECT_EQ(buffer, "prefix" + golden_bytes);
}

TEST(ValuesCodecRoundTrip, BytesAreMsgpackThatMsgpackCReads) {
    const Dict dict = nested_dict();
    const std::string encoded = ValuesCodec{KeyTemplate::of(dict)}.encode(dict);
    const msgpack::object_handle handle = msgpack::unpack(encoded.data(), encoded.size());
    ASSERT_EQ(handle.get().type, msgpack::type::ARRAY);
    EXPECT_EQ(handle.get().via.array.size, dict.size());

    // And what msgpack-c packs as a plain vector<bool> is a valid flags payload.
    const std::vector<bool> values{true, false, true, false, true, false, true, false};
    EXPECT_EQ(FlagsCodec{KeyTemplate::of(golden_flags())}.decode(
                  dogpile::codec::MsgpackCodec<std::vector<bool>>{}.encode(values)),
              golden_flags());
}

// --- the API ------------------------------------------------------------------

TEST(ValuesCodecApi, ClassTemplateArgumentDeductionPicksTheDictCodec) {
    ValuesCodec codec{KeyTemplate{"a"}};
    static_assert(std::is_same_v<decltype(codec), DictValuesCodec>);
    static_assert(std::is_same_v<DictValuesCodec::value_type, Dict>);
    static_assert(std::is_same_v<FlagsCodec::value_type, Flags>);
    EXPECT_EQ(codec.key_template(), KeyTemplate{"a"});
}

TEST(KeyTemplateTest, SortsAndComparesDeeply) {
    const KeyTemplate a{"write", "read", {"perm", {"y", "x"}}};
    const KeyTemplate b{{"perm", {"x", "y"}}, "read", "write"};
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.to_string(), "[perm: [x, y], read, write]");
    EXPECT_NE(a, (KeyTemplate{{"perm", {"x"}}, "read", "write"}));
    EXPECT_NE(a, (KeyTemplate{"perm", "read", "write"}));  // leaf vs nested
    EXPECT_EQ(a.depth(), 2u);
    EXPECT_FALSE(a.is_flat());
    ASSERT_NE(a.find("perm"), nullptr);
    EXPECT_TRUE(a.find("perm")->is_nested());
    EXPECT_EQ(a.find("nope"), nullptr);
    EXPECT_EQ(a[1].name, "read");
}

TEST(KeyTemplateTest, BuiltFromDictsFlagsAndNames) {
    EXPECT_EQ(KeyTemplate::of(nested_dict()), (KeyTemplate{"big",
                                                           {"empty", {}},
                                                           "huge",
                                                           "id",
                                                           "long_text",
                                                           "name",
                                                           "negative",
                                                           "nothing",
                                                           {"perm", {{"admin", {"level", "scopes"}}, "read", "write"}},
                                                           "ratio",
                                                           "tags"}));
    EXPECT_EQ(KeyTemplate::of(golden_flags()),
              KeyTemplate::flat({"hhhhhhhh", "a", "bb", "ccc", "dddd", "eeeee", "ffffff", "ggggggg"}));
    EXPECT_TRUE(KeyTemplate::of(golden_flags()).is_flat());
}

TEST(KeyTemplateTest, DuplicateNamesAreAConfigurationError) {
    EXPECT_THROW((KeyTemplate{"a", "b", "a"}), ConfigurationError);
    EXPECT_THROW(KeyTemplate::flat({"x", "x"}), ConfigurationError);
}

TEST(ValuesCodecApi, FlagsCodecNeedsAFlatTemplate) {
    EXPECT_THROW((FlagsCodec{KeyTemplate{{"perm", {"read"}}}}), ConfigurationError);
}

TEST(DictValue, PleasantToUse) {
    Dict dict{{"read", true}, {"n", 3}, {"name", "ann"}, {"perm", Dict{{"x", 1.5}}}};
    EXPECT_TRUE(dict["read"] == true);
    EXPECT_TRUE(dict["n"] == 3);
    EXPECT_TRUE(dict["name"] == "ann");
    EXPECT_EQ(dict.at("perm").at("x").as_double(), 1.5);
    EXPECT_THROW(dict.at("perm").at("missing"), std::out_of_range);
    EXPECT_THROW(dict.at("name").as_bool(), std::bad_variant_access);
    EXPECT_THROW(Value(-1).as_uint(), std::out_of_range);
    EXPECT_THROW(Value(~std::uint64_t{0}).as_int(), std::out_of_range);
    EXPECT_TRUE(Value().is_nil());
    std::ostringstream printed;
    printed << Value(dict);
    EXPECT_EQ(printed.str(), R"({"n": 3, "name": "ann", "perm": {"x": 1.5}, "read": true})");
}

// --- encode errors -------------------------------------------------------------

TEST(ValuesCodecEncodeErrors, KeysNotMatchingTheTemplateNameTheKey) {
    const FlagsCodec codec{KeyTemplate{"read", "write"}};
    EXPECT_NE(message_of<EncodeError>([&] {
                  codec.encode({{"read", true}});
              }).find("\"write\" is missing"),
              std::string::npos);
    EXPECT_NE(message_of<EncodeError>([&] {
                  codec.encode({{"read", true}, {"write", true}, {"zap", true}});
              }).find("\"zap\" is not in the key template"),
              std::string::npos);
    // Same count, different names.
    EXPECT_NE(message_of<EncodeError>([&] {
                  codec.encode({{"read", true}, {"wrote", true}});
              }).find("\"wrote\""),
              std::string::npos);
}

TEST(ValuesCodecEncodeErrors, NestedMismatchNamesTheFullPath) {
    const ValuesCodec codec{KeyTemplate{"id", {"perm", {"read", "write"}}}};
    const std::string missing = message_of<EncodeError>([&] {
        codec.encode(Dict{{"id", 1}, {"perm", Dict{{"read", true}}}});
    });
    EXPECT_NE(missing.find("\"perm.write\" is missing"), std::string::npos) << missing;
    const std::string not_a_dict = message_of<EncodeError>([&] { codec.encode(Dict{{"id", 1}, {"perm", true}}); });
    EXPECT_NE(not_a_dict.find("\"perm\" must hold a dict"), std::string::npos) << not_a_dict;
    const std::string unexpected_dict = message_of<EncodeError>([&] {
        codec.encode(Dict{{"id", Dict{}}, {"perm", Dict{{"read", true}, {"write", true}}}});
    });
    EXPECT_NE(unexpected_dict.find("\"id\" holds a dict"), std::string::npos) << unexpected_dict;
}

// --- decode errors ---------------------------------------------------------------

class ValuesCodecDecode : public ::testing::Test {
protected:
    const Dict dict = nested_dict();
    const ValuesCodec<Dict> dict_codec{KeyTemplate::of(dict)};
    const FlagsCodec flags_codec{KeyTemplate::of(golden_flags())};
    const FlagsCodec flags25_codec{KeyTemplate::of(numbered_flags(25))};
};

TEST_F(ValuesCodecDecode, EmptyInput) {
    EXPECT_THROW(dict_codec.decode(""), DecodeError);
    EXPECT_THROW(flags_codec.decode(""), DecodeError);
}

TEST_F(ValuesCodecDecode, TruncatedAtEveryBytePosition) {
    const std::string full = dict_codec.encode(dict);
    for (std::size_t size = 0; size < full.size(); ++size) {
        EXPECT_THROW(dict_codec.decode(full.substr(0, size)), DecodeError) << "prefix of " << size;
    }
    const std::string flags25 = flags25_codec.encode(numbered_flags(25));
    for (std::size_t size = 0; size < flags25.size(); ++size) {
        EXPECT_THROW(flags25_codec.decode(flags25.substr(0, size)), DecodeError) << "prefix of " << size;
    }
}

TEST_F(ValuesCodecDecode, TrailingGarbage) {
    EXPECT_THROW(flags_codec.decode(golden_bytes + '\0'), DecodeError);
    EXPECT_THROW(dict_codec.decode(dict_codec.encode(dict) + "\xc0"), DecodeError);
}

TEST_F(ValuesCodecDecode, WrongLengthForTheTemplate) {
    EXPECT_THROW(flags_codec.decode(bytes({0x97, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3})), DecodeError);
    EXPECT_THROW(flags_codec.decode(bytes({0x99, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3})), DecodeError);
    const ValuesCodec nested{KeyTemplate{"id", {"perm", {"read", "write"}}}};
    const std::string message = message_of<DecodeError>([&] { nested.decode(bytes({0x92, 0x07, 0x91, 0xc3})); });
    EXPECT_NE(message.find("perm"), std::string::npos) << message;
}

TEST_F(ValuesCodecDecode, WrongTypes) {
    // A msgpack map of the flags (the "other" format) is not values-only.
    EXPECT_THROW(flags_codec.decode(dogpile::codec::MsgpackCodec<Flags>{}.encode(golden_flags())), DecodeError);
    // An int where a bool belongs.
    EXPECT_THROW(flags_codec.decode(bytes({0x98, 0x01, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2})), DecodeError);
    EXPECT_THROW(flags_codec.decode(bytes({0xa1, 'x'})), DecodeError);
    // A leaf where the template nests.
    const ValuesCodec nested{KeyTemplate{"id", {"perm", {"read"}}}};
    EXPECT_THROW(nested.decode(bytes({0x92, 0x07, 0xc3})), DecodeError);
    // A map where a leaf value belongs.
    EXPECT_THROW(nested.decode(bytes({0x92, 0x81, 0xa1, 'k', 0x01, 0x91, 0xc3})), DecodeError);
    // bin and ext have no Value type.
    EXPECT_THROW(nested.decode(bytes({0x92, 0xc4, 0x01, 'x', 0x91, 0xc3})), DecodeError);
    EXPECT_THROW(nested.decode(bytes({0x92, 0xd4, 0x01, 0x00, 0x91, 0xc3})), DecodeError);
    // Maps inside lists need str keys and no duplicates.
    EXPECT_THROW(nested.decode(bytes({0x92, 0x91, 0x81, 0x01, 0x01, 0x91, 0xc3})), DecodeError);
    EXPECT_THROW(nested.decode(bytes({0x92, 0x91, 0x82, 0xa1, 'k', 0x01, 0xa1, 'k', 0x02, 0x91, 0xc3})), DecodeError);
    // The byte msgpack never uses.
    EXPECT_THROW(nested.decode(bytes({0x92, 0xc1, 0x91, 0xc3})), DecodeError);
}

TEST_F(ValuesCodecDecode, MapsInsideListsDecodeToDicts) {
    const ValuesCodec codec{KeyTemplate{"tags"}};
    const Dict back = codec.decode(bytes({0x91, 0x91, 0x81, 0xa1, 'k', 0xa1, 'v'}));
    EXPECT_EQ(back, (Dict{{"tags", List{Dict{{"k", "v"}}}}}));
}

TEST_F(ValuesCodecDecode, AbsurdLengthHeadersFailFast) {
    const ValuesCodec one{KeyTemplate{"x"}};
    for (const std::string& absurd :
         {bytes({0xdd, 0xff, 0xff, 0xff, 0xff}), bytes({0xdb, 0xff, 0xff, 0xff, 0xff}),
          bytes({0xc6, 0xff, 0xff, 0xff, 0xff}), bytes({0xdf, 0xff, 0xff, 0xff, 0xff}), bytes({0xdc, 0xff, 0xff}),
          bytes({0xde, 0xff, 0xff}), bytes({0xc9, 0xff, 0xff, 0xff, 0xff, 0x01})}) {
        EXPECT_THROW(one.decode(absurd), DecodeError) << to_hex(absurd);
        // The same header where a leaf value belongs.
        EXPECT_THROW(one.decode(bytes({0x91}) + absurd), DecodeError) << to_hex(absurd);
        EXPECT_THROW(flags_codec.decode(absurd), DecodeError) << to_hex(absurd);
    }
}

TEST_F(ValuesCodecDecode, AbsurdLengthsFailEvenWithoutLengthLimits) {
    // The count is checked against the bytes left, so lifting the limits does
    // not let a five-byte header reserve gigabytes.
    DecodeLimits unlimited;
    unlimited.max_array_length = unlimited.max_map_length = unlimited.max_string_length = SIZE_MAX;
    const ValuesCodec one{KeyTemplate{"x"}, unlimited};
    EXPECT_THROW(one.decode(bytes({0x91, 0xdd, 0xff, 0xff, 0xff, 0xff})), DecodeError);
    EXPECT_THROW(one.decode(bytes({0x91, 0xdf, 0xff, 0xff, 0xff, 0xff})), DecodeError);
    EXPECT_THROW(one.decode(bytes({0x91, 0xdb, 0xff, 0xff, 0xff, 0xff})), DecodeError);
}

TEST_F(ValuesCodecDecode, DeepNestingIsBoundedByTheLimit) {
    const ValuesCodec codec{KeyTemplate{"x"}};
    auto nested_lists = [](std::size_t depth) { return bytes({0x91}) + std::string(depth, '\x91') + '\x00'; };
    // Within the default limit of 64: [[[...[0]...]]].
    EXPECT_NO_THROW(codec.decode(nested_lists(60)));
    EXPECT_THROW(codec.decode(nested_lists(64)), DecodeError);
    // Far beyond it: rejected before the recursion gets deep.
    EXPECT_THROW(codec.decode(nested_lists(1'000'000)), DecodeError);

    DecodeLimits shallow;
    shallow.max_depth = 2;
    const ValuesCodec limited{KeyTemplate{"x"}, shallow};
    EXPECT_NO_THROW(limited.decode(nested_lists(1)));
    EXPECT_THROW(limited.decode(nested_lists(2)), DecodeError);
}

TEST_F(ValuesCodecDecode, LimitsApply) {
    DecodeLimits limits;
    limits.max_payload_bytes = 8;
    EXPECT_THROW((FlagsCodec{KeyTemplate::of(golden_flags()), limits}.decode(golden_bytes)), DecodeError);
    limits = DecodeLimits{};
    limits.max_string_length = 3;
    const ValuesCodec strings{KeyTemplate{"s"}, limits};
    EXPECT_NO_THROW(strings.decode(bytes({0x91, 0xa3, 'a', 'b', 'c'})));
    EXPECT_THROW(strings.decode(bytes({0x91, 0xa4, 'a', 'b', 'c', 'd'})), DecodeError);
    limits = DecodeLimits{};
    limits.max_array_length = 2;
    const ValuesCodec lists{KeyTemplate{"l"}, limits};
    EXPECT_THROW(lists.decode(bytes({0x91, 0x93, 0x01, 0x02, 0x03})), DecodeError);
}

TEST_F(ValuesCodecDecode, EverySingleByteCorruptionIsADecodeErrorOrAValue) {
    const std::string full = dict_codec.encode(dict);
    for (std::size_t pos = 0; pos < full.size(); ++pos) {
        for (int value = 0; value < 256; ++value) {
            std::string corrupt = full;
            corrupt[pos] = static_cast<char>(value);
            try {
                // Whatever decodes must encode again under the same template, and
                // that encoding is stable (bytes, not values: NaN != NaN).
                const std::string again = dict_codec.encode(dict_codec.decode(corrupt));
                EXPECT_EQ(dict_codec.encode(dict_codec.decode(again)), again);
            } catch (const DecodeError&) {
            }
        }
    }
}

// --- interop with a Python service ------------------------------------------------

TEST(ValuesCodecInterop, SystemPythonHasMsgpack) {
    const auto result = dogpile_test::run_codec_interop("emit golden_flags");
    ASSERT_NE(result.status, 3) << "python3-msgpack is missing for /usr/bin/python3: apt-get install python3-msgpack";
    ASSERT_EQ(result.status, 0) << result.output;
}

class ValuesCodecInteropCases : public ::testing::TestWithParam<const char*> {
protected:
    static Dict expected(const std::string& name) {
        if (name == "golden_flags") return dogpile_test::to_dict(golden_flags());
        if (name == "flags25") return dogpile_test::to_dict(numbered_flags(25));
        return nested_dict();
    }
};

TEST_P(ValuesCodecInteropCases, PythonReadsWhatCppWritesAndViceVersa) {
    const std::string name = GetParam();
    const Dict value = expected(name);
    dogpile_test::expect_python_agrees(name, ValuesCodec{KeyTemplate::of(value)}, value);
}

INSTANTIATE_TEST_SUITE_P(Cases, ValuesCodecInteropCases, ::testing::Values("golden_flags", "flags25", "nested"));

TEST(ValuesCodecInterop, FlagsCodecReadsPythonsFlags) {
    std::string error;
    const std::string python_bytes = dogpile_test::python_emit("flags25", error);
    ASSERT_TRUE(error.empty()) << error;
    EXPECT_EQ(FlagsCodec{KeyTemplate::of(numbered_flags(25))}.decode(python_bytes), numbered_flags(25));
    EXPECT_EQ(python_bytes.size(), 28u);
}

// FlagSetCodec writes and reads Python's bytes too (the same bytes as FlagsCodec).
TEST(ValuesCodecInterop, FlagSetCodecMatchesPython) {
    for (const std::string name : {"golden_flags", "flags25"}) {
        const Flags flags = name == "golden_flags" ? golden_flags() : numbered_flags(25);
        const dogpile::codec::FlagSet set = dogpile_test::to_flag_set(flags);
        dogpile_test::expect_python_agrees(name, dogpile::codec::FlagSetCodec{set.flag_template()}, set);
    }
}

}  // namespace
