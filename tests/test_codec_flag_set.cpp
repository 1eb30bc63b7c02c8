// FlagSet and FlagTemplate: the permission flags as a two-word value, and the
// codecs that write it with the same bytes as the Flags codecs.

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include <dogpile/codec/bitpacked.hpp>
#include <dogpile/codec/flag_set.hpp>
#include <dogpile/codec/values.hpp>

#include <dogpile/testing/bytes.hpp>

#include "interop/codec_cases.hpp"
#include "support/latch.hpp"
#include "support/message_of.hpp"

namespace {

using dogpile::ConfigurationError;
using dogpile::DecodeError;
using dogpile::EncodeError;
using dogpile::codec::BitpackedCodec;
using dogpile::codec::BitpackedFlagSetCodec;
using dogpile::codec::DecodeLimits;
using dogpile::codec::Flags;
using dogpile::codec::FlagsCodec;
using dogpile::codec::FlagSet;
using dogpile::codec::FlagSetCodec;
using dogpile::codec::FlagTemplate;
using dogpile::codec::KeyTemplate;
using dogpile_test::golden_flags;
using dogpile_test::numbered_flags;
using dogpile::test::message_of;

std::string bytes(std::initializer_list<int> values) { return dogpile::testing::bytes_of(values); }

const FlagTemplate& numbered_template(int count) { return FlagTemplate::of(KeyTemplate::of(numbered_flags(count))); }

FlagSet random_set(const FlagTemplate& names, std::mt19937& rng) {
    FlagSet flags(names);
    for (std::size_t i = 0; i < names.size(); ++i) flags.set(i, rng() % 2 == 0);
    return flags;
}

// --- FlagTemplate -------------------------------------------------------------------------

TEST(FlagTemplate, SortsBytewiseAndFindsNames) {
    const FlagTemplate& names = FlagTemplate::of({"write", "read", "Admin", "admin"});
    EXPECT_EQ(names.names(), (std::vector<std::string>{"Admin", "admin", "read", "write"}));
    EXPECT_EQ(names.size(), 4u);
    EXPECT_EQ(names.name(2), "read");
    EXPECT_THROW(names.name(4), std::out_of_range);
    EXPECT_EQ(names.index_of("write"), 3u);
    EXPECT_EQ(names.index_of("wri"), std::nullopt);
    EXPECT_EQ(names.index_of("zzz"), std::nullopt);
    EXPECT_EQ(names.key_template(), (KeyTemplate{"Admin", "admin", "read", "write"}));
}

TEST(FlagTemplate, InternsEqualNameListsAsOneObject) {
    const FlagTemplate& a = FlagTemplate::of({"read", "write"});
    const FlagTemplate& b = FlagTemplate::of(std::vector<std::string>{"write", "read"});
    const FlagTemplate& c = FlagTemplate::of(KeyTemplate{"write", "read"});
    EXPECT_EQ(&a, &b);
    EXPECT_EQ(&a, &c);
    EXPECT_NE(&a, &FlagTemplate::of({"read"}));
    EXPECT_EQ(&FlagTemplate::of(std::vector<std::string>{}), &FlagTemplate::empty());
    EXPECT_EQ(FlagTemplate::empty().size(), 0u);
}

TEST(FlagTemplate, RejectsDuplicatesAndNestedTemplates) {
    EXPECT_NE(message_of<ConfigurationError>([] {
                  FlagTemplate::of({"read", "write", "read"});
              }).find("\"read\""),
              std::string::npos);
    EXPECT_THROW(FlagTemplate::of(KeyTemplate{"id", {"perm", {"read"}}}), ConfigurationError);
}

// Every thread asks for the same new name list at once: all get one object.
TEST(FlagTemplate, OfIsThreadSafe) {
    constexpr int threads = 8;
    std::vector<const FlagTemplate*> got(threads, nullptr);
    std::vector<std::thread> team;
    dogpile::test::Latch start(threads);
    for (int t = 0; t < threads; ++t) {
        team.emplace_back([&, t] {
            start.arrive_and_wait();
            for (int round = 0; round < 200; ++round) {
                const FlagTemplate& names = FlagTemplate::of({"concurrent_" + std::to_string(round), "x", "y"});
                if (round == 199) got[static_cast<std::size_t>(t)] = &names;
                // Distinct lists per thread too, so the registry grows while others read it.
                FlagTemplate::of({"thread_" + std::to_string(t) + "_" + std::to_string(round)});
            }
        });
    }
    for (auto& thread : team) thread.join();
    for (const FlagTemplate* names : got) EXPECT_EQ(names, got[0]);
    EXPECT_EQ(got[0], &FlagTemplate::of({"y", "x", "concurrent_199"}));
}

// --- FlagSet: construction and lookup ---------------------------------------------------------

TEST(FlagSet, IsTwoWordsForUpTo64Flags) {
    static_assert(sizeof(FlagSet) == 2 * sizeof(void*) || sizeof(FlagSet) == sizeof(void*) + 8);
    static_assert(std::is_nothrow_move_constructible_v<FlagSet>);
    static_assert(std::is_nothrow_default_constructible_v<FlagSet>);
    const FlagSet none;
    EXPECT_EQ(none.size(), 0u);
    EXPECT_EQ(&none.flag_template(), &FlagTemplate::empty());
    EXPECT_EQ(none.begin(), none.end());
}

TEST(FlagSet, BuildsFromNamesAndLooksThemUp) {
    const FlagTemplate& names = FlagTemplate::of({"read", "write", "admin"});
    FlagSet flags(names, {{"read", true}, {"admin", false}});
    EXPECT_TRUE(flags["read"]);
    EXPECT_FALSE(flags["write"]);
    EXPECT_FALSE(flags["admin"]);
    EXPECT_EQ(flags.find("read"), true);
    EXPECT_EQ(flags.find("nope"), std::nullopt);
    EXPECT_TRUE(flags.test(1));  // admin, read, write
    EXPECT_EQ(flags.count(), 1u);
    flags.set("admin");
    flags.set(1, false);
    flags.set(std::size_t{2});
    EXPECT_EQ(flags.to_flags(), (Flags{{"admin", true}, {"read", false}, {"write", true}}));
    EXPECT_EQ(flags.count(), 2u);

    EXPECT_NE(message_of<std::out_of_range>([&] { (void)flags["nope"]; }).find("\"nope\""), std::string::npos);
    EXPECT_THROW(flags.set("nope"), std::out_of_range);
    EXPECT_THROW(flags.test(3), std::out_of_range);
    EXPECT_THROW(flags.set(std::size_t{3}), std::out_of_range);
    EXPECT_NE(message_of<std::out_of_range>([&] {
                  FlagSet(names, {{"reed", true}});
              }).find("\"reed\""),
              std::string::npos);
}

TEST(FlagSet, IteratesInSortedNameOrder) {
    const FlagSet flags(FlagTemplate::of({"b", "c", "a"}), {{"c", true}});
    std::vector<std::pair<std::string, bool>> seen;
    for (auto [name, value] : flags) seen.emplace_back(name, value);
    EXPECT_EQ(seen, (std::vector<std::pair<std::string, bool>>{{"a", false}, {"b", false}, {"c", true}}));
    auto it = flags.begin();
    EXPECT_EQ((*it).name, "a");
    EXPECT_EQ((*++it).name, "b");
}

TEST(FlagSet, FromFlagsNeedsExactlyTheTemplatesKeys) {
    const FlagTemplate& names = FlagTemplate::of(KeyTemplate::of(golden_flags()));
    const FlagSet flags = FlagSet::from_flags(names, golden_flags());
    EXPECT_EQ(flags.to_flags(), golden_flags());
    EXPECT_EQ(flags.count(), 4u);

    Flags extra = golden_flags();
    extra.emplace("aa", true);  // sorts between "a" and "bb"
    EXPECT_NE(message_of<std::invalid_argument>([&] { FlagSet::from_flags(names, extra); }).find("\"aa\" is not"),
              std::string::npos);
    Flags missing = golden_flags();
    missing.erase("ccc");
    EXPECT_NE(
        message_of<std::invalid_argument>([&] { FlagSet::from_flags(names, missing); }).find("\"ccc\" is missing"),
        std::string::npos);
    Flags last_missing = golden_flags();
    last_missing.erase("hhhhhhhh");
    EXPECT_NE(message_of<std::invalid_argument>([&] { FlagSet::from_flags(names, last_missing); }).find("\"hhhhhhhh\""),
              std::string::npos);
    Flags trailing = golden_flags();
    trailing.emplace("zzz", false);
    EXPECT_NE(message_of<std::invalid_argument>([&] { FlagSet::from_flags(names, trailing); }).find("\"zzz\""),
              std::string::npos);
}

TEST(FlagSet, FromBits) {
    const FlagTemplate& names = FlagTemplate::of({"a", "b", "c"});
    const FlagSet flags = FlagSet::from_bits(names, 0b101);
    EXPECT_EQ(flags, FlagSet(names, {{"a", true}, {"c", true}}));
    EXPECT_EQ(flags.word(0), 0b101u);
    EXPECT_THROW(FlagSet::from_bits(names, 0b1000), std::invalid_argument);
    EXPECT_THROW(FlagSet::from_bits(numbered_template(70), 1), std::invalid_argument);
    const FlagTemplate& sixty_four = numbered_template(64);
    EXPECT_EQ(FlagSet::from_bits(sixty_four, ~std::uint64_t{0}).count(), 64u);
    EXPECT_EQ(FlagSet::from_bits(FlagTemplate::empty(), 0), FlagSet());
    EXPECT_THROW(FlagSet::from_bits(FlagTemplate::empty(), 1), std::invalid_argument);
}

// --- FlagSet: value semantics ----------------------------------------------------------------

TEST(FlagSet, CopiesMovesAndComparesAsAValue) {
    const FlagTemplate& names = FlagTemplate::of({"read", "write"});
    FlagSet a(names, {{"read", true}});
    FlagSet b = a;
    EXPECT_EQ(a, b);
    b.set("write");
    EXPECT_NE(a, b);
    EXPECT_FALSE(a["write"]);
    FlagSet c = std::move(b);
    EXPECT_TRUE(c["write"]);
    a = c;
    EXPECT_EQ(a, c);
    // Same values under another template are not equal.
    EXPECT_NE(FlagSet(names), FlagSet(FlagTemplate::of({"read", "wrote"})));
    EXPECT_NE(FlagSet(names), FlagSet());

    std::unordered_set<FlagSet> seen{a, c, FlagSet(names)};
    EXPECT_EQ(seen.size(), 2u);
    std::ostringstream text;
    text << FlagSet(names, {{"write", true}});
    EXPECT_EQ(text.str(), "{\"read\": false, \"write\": true}");
}

TEST(FlagSet, MoreThan64FlagsLiveOnTheHeap) {
    const FlagTemplate& names = numbered_template(130);
    std::mt19937 rng(7);
    FlagSet a = random_set(names, rng);
    a.set(129);
    a.set(64, false);
    EXPECT_EQ(a.word_count(), 3u);
    FlagSet b = a;
    EXPECT_EQ(a, b);
    b.set(64);
    EXPECT_FALSE(a.test(64));  // deep copy
    EXPECT_NE(a, b);
    FlagSet moved = std::move(b);
    EXPECT_TRUE(moved.test(64));
    EXPECT_EQ(b, FlagSet());  // a moved-from large set is the empty set
    b = moved;                // assigning into it again
    EXPECT_EQ(b, moved);
    b = a;  // same size: reuses the block
    EXPECT_EQ(b, a);
    b = FlagSet(FlagTemplate::of({"x"}), {{"x", true}});  // large to small
    EXPECT_TRUE(b["x"]);
    b = a;  // small to large
    EXPECT_EQ(b, a);
    swap(b, moved);
    EXPECT_TRUE(b.test(64));
    EXPECT_EQ(FlagSet::from_flags(names, a.to_flags()), a);
    EXPECT_THROW(a.set_word(2, std::uint64_t{1} << 2), std::invalid_argument);  // flag 130 does not exist
    EXPECT_THROW(a.set_word(3, 0), std::out_of_range);
}

// --- the codecs: same bytes as the Flags codecs ----------------------------------------------

const std::string golden_bytes = bytes({0x98, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2});

TEST(FlagSetCodec, GoldenBytes) {
    const FlagTemplate& names = FlagTemplate::of(KeyTemplate::of(golden_flags()));
    const FlagSet flags = FlagSet::from_flags(names, golden_flags());
    const FlagSetCodec codec{names};
    EXPECT_EQ(codec.encode(flags), golden_bytes);
    EXPECT_EQ(codec.decode(golden_bytes), flags);
    EXPECT_EQ(&codec.flag_template(), &names);
    EXPECT_EQ(FlagSetCodec{KeyTemplate::of(golden_flags())}.encode(flags), golden_bytes);
    EXPECT_EQ(BitpackedFlagSetCodec{names}.encode(flags), bytes({0x55}));
}

TEST(FlagSetCodec, ConstructionAndEncodeErrors) {
    EXPECT_THROW((FlagSetCodec{KeyTemplate{{"perm", {"read"}}}}), ConfigurationError);
    EXPECT_THROW((BitpackedFlagSetCodec{KeyTemplate{{"perm", {"read"}}}}), ConfigurationError);
    const FlagSetCodec codec{FlagTemplate::of({"read", "write"})};
    const FlagSet other(FlagTemplate::of({"read", "wrote"}));
    std::string out = "kept";
    EXPECT_THROW(codec.encode_to(other, out), EncodeError);
    EXPECT_EQ(out, "kept");
    EXPECT_THROW(BitpackedFlagSetCodec{FlagTemplate::of({"read", "write"})}.encode(other), EncodeError);
    EXPECT_THROW(codec.encode(FlagSet()), EncodeError);
}

// Every count around the header and integer boundaries: the FlagSet codecs
// write the Flags codecs' bytes, and each reads the other's.
TEST(FlagSetCodec, CrossReadsWithTheFlagsCodecs) {
    std::mt19937 rng(42);
    for (const int count : {0, 1, 7, 8, 15, 16, 25, 63, 64, 65, 70, 128, 130}) {
        const FlagTemplate& names = numbered_template(count);
        const FlagsCodec flags_codec{names.key_template()};
        const FlagSetCodec set_codec{names};
        const BitpackedCodec flags_bits{names.key_template()};
        const BitpackedFlagSetCodec set_bits{names};
        for (int round = 0; round < 20; ++round) {
            const FlagSet set = random_set(names, rng);
            const Flags map = set.to_flags();
            SCOPED_TRACE(std::to_string(count) + " flags: " + ::testing::PrintToString(set));
            const std::string values = set_codec.encode(set);
            EXPECT_EQ(values, flags_codec.encode(map));
            EXPECT_EQ(set_codec.decode(values), set);
            EXPECT_EQ(flags_codec.decode(values), map);
            const std::string bits = set_bits.encode(set);
            EXPECT_EQ(bits, flags_bits.encode(map));
            EXPECT_EQ(set_bits.decode(bits), set);
            EXPECT_EQ(flags_bits.decode(bits), map);
        }
    }
}

// The hand-written fast path accepts every array header encoding the reader does.
TEST(FlagSetCodec, AcceptsLongerArrayHeaders) {
    const FlagTemplate& names = FlagTemplate::of(KeyTemplate::of(golden_flags()));
    const FlagSet flags = FlagSet::from_flags(names, golden_flags());
    const std::string body = golden_bytes.substr(1);
    const FlagSetCodec codec{names};
    EXPECT_EQ(codec.decode(bytes({0xdc, 0x00, 0x08}) + body), flags);
    EXPECT_EQ(codec.decode(bytes({0xdd, 0x00, 0x00, 0x00, 0x08}) + body), flags);
}

// Strict decoding: every rejection of one codec is one of the other, with the
// same kind of message.
TEST(FlagSetCodec, RejectsWhatFlagsCodecRejects) {
    const FlagTemplate& names = FlagTemplate::of(KeyTemplate::of(golden_flags()));
    const FlagSetCodec codec{names};
    const std::vector<std::pair<std::string, std::string>> cases = {
        {bytes({0x97, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3}), "array of 7 values"},
        {bytes({0x99, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2, 0xc2}), "array of 9 values"},
        {bytes({0x98, 0xc3, 0xc2, 0x01, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2}), "key \"ccc\": expected a bool"},
        {bytes({0x98, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc0}), "key \"hhhhhhhh\": expected a bool"},
        {bytes({0x98, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3, 0xc2, 0xc3}), "truncated"},
        {golden_bytes + bytes({0xc3}), "trailing"},
        {bytes({0x80}), "expected an array of 8 booleans, got map"},
        {bytes({0xdc, 0x00}), "truncated"},
        {std::string(), "unexpected end"},
    };
    for (const auto& test_case : cases) {
        const std::string& payload = test_case.first;
        const std::string& needle = test_case.second;
        const std::string message = message_of<DecodeError>([&] { codec.decode(payload); });
        EXPECT_NE(message.find(needle), std::string::npos) << message;
        // The codec's own checks name it; the reader's (truncation, trailing bytes) name the byte.
        EXPECT_TRUE(message.find("flag set codec") != std::string::npos || message.find("at byte") != std::string::npos)
            << message;
        EXPECT_THROW(FlagsCodec{names.key_template()}.decode(payload), DecodeError);
    }
}

TEST(FlagSetCodec, HonoursTheDecodeLimits) {
    const FlagTemplate& names = FlagTemplate::of(KeyTemplate::of(golden_flags()));
    DecodeLimits small_payload;
    small_payload.max_payload_bytes = 8;
    EXPECT_NE(message_of<DecodeError>([&] {
                  FlagSetCodec(names, small_payload).decode(golden_bytes);
              }).find("max_payload_bytes"),
              std::string::npos);
    DecodeLimits short_arrays;
    short_arrays.max_array_length = 7;
    EXPECT_NE(message_of<DecodeError>([&] {
                  FlagSetCodec(names, short_arrays).decode(golden_bytes);
              }).find("max_array_length"),
              std::string::npos);
    DecodeLimits flat;
    flat.max_depth = 0;
    EXPECT_NE(message_of<DecodeError>([&] { FlagSetCodec(names, flat).decode(golden_bytes); }).find("max_depth"),
              std::string::npos);
    EXPECT_THROW(BitpackedFlagSetCodec(names, small_payload).decode(std::string(9, '\x01')), DecodeError);
}

TEST(BitpackedFlagSetCodec, RejectsWhatBitpackedCodecRejects) {
    for (const int count : {25, 64, 70}) {
        const FlagTemplate& names = numbered_template(count);
        const BitpackedFlagSetCodec codec{names};
        const BitpackedCodec flags_codec{names.key_template()};
        std::vector<std::string> payloads = {
            bytes({0xc3}),
            bytes({0xff}),
            bytes({0xce, 0x02, 0x00, 0x00, 0x00}),
            bytes({0x05, 0x00}),
            bytes({0xc4, 0x09}),
            bytes({0xc4, 0x09}) + std::string(9, '\xff'),
            bytes({0xc4, 0x08}) + std::string(8, '\x00'),
            std::string(),
        };
        for (const std::string& payload : payloads) {
            bool set_threw = false;
            bool flags_threw = false;
            try {
                codec.decode(payload);
            } catch (const DecodeError& e) {
                set_threw = true;
                EXPECT_NE(std::string(e.what()).find("msgpack"), std::string::npos);
            }
            try {
                flags_codec.decode(payload);
            } catch (const DecodeError&) {
                flags_threw = true;
            }
            EXPECT_EQ(set_threw, flags_threw) << count << " flags, payload " << ::testing::PrintToString(payload);
        }
    }
    EXPECT_THROW(BitpackedFlagSetCodec{numbered_template(25)}.decode(bytes({0xce, 0x02, 0x00, 0x00, 0x00})),
                 DecodeError);  // bit 25 of 25 flags
}

// Every single-byte corruption of a 25-flag payload: both codecs accept it
// with equal flags, or both throw DecodeError.
TEST(FlagSetCodec, EverySingleByteCorruptionDecodesLikeFlagsCodec) {
    const FlagTemplate& names = numbered_template(25);
    std::mt19937 rng(3);
    const FlagSet flags = random_set(names, rng);
    const FlagsCodec map_values{names.key_template()};
    const FlagSetCodec set_values{names};
    const BitpackedCodec map_bits{names.key_template()};
    const BitpackedFlagSetCodec set_bits{names};
    const auto same_outcome = [](const auto& map_codec, const auto& set_codec, const std::string& payload) {
        std::optional<Flags> by_map;
        std::optional<FlagSet> by_set;
        try {
            by_map = map_codec.decode(payload);
        } catch (const DecodeError&) {
        }
        try {
            by_set = set_codec.decode(payload);
        } catch (const DecodeError&) {
        }
        ASSERT_EQ(by_map.has_value(), by_set.has_value()) << ::testing::PrintToString(payload);
        if (by_map) {
            EXPECT_EQ(by_set->to_flags(), *by_map);
        }
    };
    for (const std::string& full : {set_values.encode(flags), set_bits.encode(flags)}) {
        for (std::size_t pos = 0; pos < full.size(); ++pos) {
            for (int value = 0; value < 256; ++value) {
                std::string corrupt = full;
                corrupt[pos] = static_cast<char>(value);
                same_outcome(map_values, set_values, corrupt);
                same_outcome(map_bits, set_bits, corrupt);
            }
        }
        for (std::size_t cut = 0; cut < full.size(); ++cut) {
            same_outcome(map_values, set_values, full.substr(0, cut));
            same_outcome(map_bits, set_bits, full.substr(0, cut));
        }
    }
}

}  // namespace
