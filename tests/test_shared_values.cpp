// Region<std::shared_ptr<const V>> over the memory backend, and the codec
// adapter (codec/shared.hpp) without Redis: a hit hands out the very pointer
// stored (one reference-count increment) and never copies V; every codec
// decodes into the pointer with one make_shared and no copy of V.
//
// V is CopyCounted: a large value that counts its copies, so "no copy" is
// measured, not assumed. The first test proves the counter sees copies.

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <dogpile/backends/memory.hpp>
#include <dogpile/codec/bitpacked.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/codec/shared.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/errors.hpp>
#include <dogpile/region.hpp>

#include "support/copy_counter.hpp"

namespace {

using dogpile::CachedValue;
using dogpile::EncodeError;
using dogpile::MemoryBackend;
using dogpile::Metadata;
using dogpile::Region;
using dogpile::codec::BitpackedCodec;
using dogpile::codec::CodecFor;
using dogpile::codec::Dict;
using dogpile::codec::DictValuesCodec;
using dogpile::codec::Flags;
using dogpile::codec::FlagsCodec;
using dogpile::codec::KeyTemplate;
using dogpile::codec::List;
using dogpile::codec::MsgpackCodec;
using dogpile::codec::SharedCodec;
using dogpile::codec::codec_for_t;

// A large value that counts its copies (moves are free and not counted).
struct CopyCounted {
    std::vector<int> numbers;
    dogpile::test::CopyCounter<CopyCounted> counter;

    static inline std::atomic<int>& copies = dogpile::test::CopyCounter<CopyCounted>::copies;

    explicit CopyCounted(std::vector<int> n = {}) : numbers(std::move(n)) {}
};

using Shared = std::shared_ptr<const CopyCounted>;
using SharedRegion = Region<Shared>;
using SharedMemory = MemoryBackend<Shared>;

Shared make_value(int seed) {
    std::vector<int> numbers(1000);
    for (int i = 0; i < 1000; ++i) numbers[static_cast<std::size_t>(i)] = seed + i;
    return std::make_shared<const CopyCounted>(CopyCounted(std::move(numbers)));
}

// A codec users might write: decimal numbers separated by commas. It has no
// encode_to, and the adapter needs nothing else from it.
class CsvCodec {
public:
    using value_type = CopyCounted;

    std::string encode(const CopyCounted& value) const {
        std::string out;
        for (int n : value.numbers) out += std::to_string(n) + ",";
        return out;
    }

    CopyCounted decode(std::string_view bytes) const {
        std::vector<int> numbers;
        std::size_t start = 0;
        for (std::size_t comma; (comma = bytes.find(',', start)) != std::string_view::npos; start = comma + 1) {
            numbers.push_back(std::stoi(std::string(bytes.substr(start, comma - start))));
        }
        if (start != bytes.size()) throw dogpile::DecodeError("csv codec: trailing bytes");
        return CopyCounted(std::move(numbers));
    }
};

class SharedValuesTest : public ::testing::Test {
protected:
    void SetUp() override { CopyCounted::copies = 0; }

    std::shared_ptr<SharedMemory> backend = std::make_shared<SharedMemory>();
    SharedRegion region{backend};
};

// ------------------------------------------------------ the counter works

TEST_F(SharedValuesTest, AValueRegionCopiesOnEveryHitWhichIsWhatTheCounterSees) {
    Region<CopyCounted> by_value(std::make_shared<MemoryBackend<CopyCounted>>());
    by_value.set("k", CopyCounted(std::vector<int>(1000, 7)));
    const int before = CopyCounted::copies;
    ASSERT_TRUE(by_value.get("k"));
    EXPECT_GE(CopyCounted::copies - before, 1);
}

// ------------------------------------------------------ the memory backend

TEST_F(SharedValuesTest, AMemoryHitIsTheStoredPointerAndOneReferenceMore) {
    const Shared stored = make_value(1);
    backend->set("k", CachedValue<Shared>{stored, Metadata::created_now(dogpile::WallClock::now())});
    const long held = stored.use_count();  // ours and the table's

    const std::optional<CachedValue<Shared>> hit = backend->get("k");
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->value.get(), stored.get());
    EXPECT_EQ(stored.use_count(), held + 1);
    EXPECT_EQ(CopyCounted::copies, 0);
}

TEST_F(SharedValuesTest, MemoryGetMultiAndSetMultiKeepThePointers) {
    const Shared a = make_value(1);
    const Shared b = make_value(2);
    const Metadata now = Metadata::created_now(dogpile::WallClock::now());
    backend->set_multi({{"a", CachedValue<Shared>{a, now}}, {"b", CachedValue<Shared>{b, now}}});

    const auto hits = backend->get_multi({"a", "missing", "b"});
    ASSERT_EQ(hits.size(), 3u);
    ASSERT_TRUE(hits[0]);
    EXPECT_FALSE(hits[1]);
    ASSERT_TRUE(hits[2]);
    EXPECT_EQ(hits[0]->value.get(), a.get());
    EXPECT_EQ(hits[2]->value.get(), b.get());
    EXPECT_EQ(CopyCounted::copies, 0);
}

// ------------------------------------------------------ the region

TEST_F(SharedValuesTest, ARegionGetIsTheStoredPointer) {
    const Shared stored = make_value(1);
    region.set("k", stored);
    for (int i = 0; i < 3; ++i) {
        const std::optional<Shared> hit = region.get("k");
        ASSERT_TRUE(hit);
        EXPECT_EQ(hit->get(), stored.get());
    }
    EXPECT_EQ(CopyCounted::copies, 0);
}

TEST_F(SharedValuesTest, GetOrCreateStoresTheCreatorsPointerAndHandsItOutOnHits) {
    const CopyCounted* created = nullptr;
    int calls = 0;
    auto creator = [&] {
        ++calls;
        Shared value = make_value(5);
        created = value.get();
        return value;
    };
    const Shared first = region.get_or_create("k", creator);
    EXPECT_EQ(first.get(), created);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(region.get_or_create("k", creator).get(), created);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(CopyCounted::copies, 0);
}

TEST_F(SharedValuesTest, GetMultiAndGetOrCreateMultiHandOutTheStoredPointers) {
    const Shared a = make_value(1);
    const Shared b = make_value(2);
    region.set_multi({{"a", a}, {"b", b}});

    const auto got = region.get_multi({"b", "a", "none"});
    ASSERT_EQ(got.size(), 3u);
    ASSERT_TRUE(got[0] && got[1]);
    EXPECT_EQ(got[0]->get(), b.get());
    EXPECT_EQ(got[1]->get(), a.get());
    EXPECT_FALSE(got[2]);

    std::vector<const CopyCounted*> created;
    auto creator = [&](const std::vector<std::string>& keys) {
        std::vector<Shared> values;
        for (std::size_t i = 0; i < keys.size(); ++i) {
            values.push_back(make_value(100 + static_cast<int>(i)));
            created.push_back(values.back().get());
        }
        return values;
    };
    const std::vector<Shared> first = region.get_or_create_multi({"a", "c", "b"}, creator);
    ASSERT_EQ(first.size(), 3u);
    ASSERT_EQ(created.size(), 1u);  // only "c" was missing
    EXPECT_EQ(first[0].get(), a.get());
    EXPECT_EQ(first[1].get(), created[0]);
    EXPECT_EQ(first[2].get(), b.get());

    const std::vector<Shared> again = region.get_or_create_multi({"c", "a"}, creator);
    EXPECT_EQ(again[0].get(), created[0]);
    EXPECT_EQ(again[1].get(), a.get());
    EXPECT_EQ(created.size(), 1u);
    EXPECT_EQ(CopyCounted::copies, 0);
}

TEST_F(SharedValuesTest, AHitOutlivesTheEntryItCameFrom) {
    region.set("k", make_value(3));
    const Shared hit = *region.get("k");
    region.invalidate();
    backend->erase("k");
    EXPECT_FALSE(backend->get("k"));
    EXPECT_EQ(hit->numbers.front(), 3);  // the reader's reference keeps the value
    EXPECT_EQ(hit.use_count(), 1);
}

// The memory backend stores values as given and never looks into them: a
// null pointer is a value like any other (as std::nullopt is in a
// Region<std::optional<V>>), so a creator's "nothing there" is cached. A
// Redis backend cannot encode one (EncodeError; test_redis_shared_values);
// should_cache keeps null out of any backend.
TEST_F(SharedValuesTest, TheMemoryBackendStoresANullPointerAsAValue) {
    int calls = 0;
    auto nothing = [&] {
        ++calls;
        return Shared{};
    };
    EXPECT_EQ(region.get_or_create("absent", nothing), nullptr);
    EXPECT_EQ(region.get_or_create("absent", nothing), nullptr);
    EXPECT_EQ(calls, 1);
    const std::optional<Shared> hit = region.get("absent");
    ASSERT_TRUE(hit);  // a hit, holding null
    EXPECT_EQ(*hit, nullptr);

    dogpile::GetOrCreateOptions<Shared> skip_null;
    skip_null.should_cache = [](const Shared& value) { return value != nullptr; };
    EXPECT_EQ(region.get_or_create("skipped", nothing, skip_null), nullptr);
    EXPECT_FALSE(region.get("skipped"));
    EXPECT_EQ(region.get_or_create("skipped", nothing, skip_null), nullptr);
    EXPECT_EQ(calls, 3);
}

// ------------------------------------------------------ the codec adapter

static_assert(std::is_same_v<codec_for_t<Flags, FlagsCodec>, FlagsCodec>);
static_assert(std::is_same_v<codec_for_t<std::shared_ptr<const Flags>, FlagsCodec>, SharedCodec<FlagsCodec>>);
static_assert(std::is_same_v<codec_for_t<std::shared_ptr<const Flags>, BitpackedCodec>, SharedCodec<BitpackedCodec>>);
static_assert(std::is_same_v<codec_for_t<Shared, CsvCodec>, SharedCodec<CsvCodec>>);
// Already a codec of the pointer: used as is.
static_assert(std::is_same_v<codec_for_t<Shared, SharedCodec<CsvCodec>>, SharedCodec<CsvCodec>>);
static_assert(std::is_same_v<codec_for_t<Shared, MsgpackCodec<Shared>>, MsgpackCodec<Shared>>);
// The default codec of a shared value is the adapter over MsgpackCodec<T>.
static_assert(
    std::is_base_of_v<SharedCodec<MsgpackCodec<std::string>>, MsgpackCodec<std::shared_ptr<const std::string>>>);
static_assert(
    std::is_same_v<MsgpackCodec<std::shared_ptr<const std::string>>::value_type, std::shared_ptr<const std::string>>);
// Only a pointer to const is a shared value: a mutable one would let one
// reader change what the others see.
static_assert(std::is_same_v<codec_for_t<std::shared_ptr<Flags>, FlagsCodec>, FlagsCodec>);

TEST(SharedCodecTest, DecodeIsOneMakeSharedWithoutACopyOfTheValue) {
    const SharedCodec<CsvCodec> codec;
    const std::string bytes = codec.encode(make_value(9));
    CopyCounted::copies = 0;
    const Shared decoded = codec.decode(bytes);
    ASSERT_NE(decoded, nullptr);
    EXPECT_EQ(decoded->numbers.size(), 1000u);
    EXPECT_EQ(decoded->numbers.front(), 9);
    EXPECT_EQ(decoded.use_count(), 1);
    EXPECT_EQ(CopyCounted::copies, 0);
}

TEST(SharedCodecTest, EncodingWritesTheInnerCodecsBytes) {
    const Shared value = make_value(4);
    const SharedCodec<CsvCodec> codec;
    EXPECT_EQ(codec.encode(value), CsvCodec{}.encode(*value));
    std::string out = "prefix";
    codec.encode_to(value, out);
    EXPECT_EQ(out, "prefix" + CsvCodec{}.encode(*value));
}

TEST(SharedCodecTest, ANullPointerIsAnEncodeError) {
    const SharedCodec<CsvCodec> codec;
    try {
        codec.encode(nullptr);
        FAIL() << "no EncodeError";
    } catch (const EncodeError& e) {
        EXPECT_NE(std::string(e.what()).find("null std::shared_ptr"), std::string::npos) << e.what();
    }
    std::string out;
    EXPECT_THROW(codec.encode_to(nullptr, out), EncodeError);
    EXPECT_THROW(MsgpackCodec<std::shared_ptr<const std::string>>{}.encode(nullptr), EncodeError);
}

TEST(SharedCodecTest, TheInnerCodecsDecodeErrorsPassThrough) {
    const SharedCodec<CsvCodec> codec;
    EXPECT_THROW(codec.decode("1,2,x"), std::exception);
    EXPECT_THROW(codec.decode("1,2"), dogpile::DecodeError);
    const SharedCodec<FlagsCodec> flags{FlagsCodec{KeyTemplate{"read", "write"}}};
    EXPECT_THROW(flags.decode("\x93\xc3\xc3\xc3"), dogpile::DecodeError);
}

template <class Codec>
void expect_round_trip(const Codec& inner, const typename Codec::value_type& value) {
    const SharedCodec<Codec> shared{inner};
    const std::string bytes = shared.encode(std::make_shared<const typename Codec::value_type>(value));
    EXPECT_EQ(bytes, inner.encode(value));
    const auto back = shared.decode(bytes);
    ASSERT_NE(back, nullptr);
    EXPECT_EQ(*back, value);
}

TEST(SharedCodecTest, EveryLibraryCodecWorksThroughTheAdapter) {
    const KeyTemplate flags_template{"admin", "read", "write"};
    const Flags flags{{"admin", false}, {"read", true}, {"write", true}};
    expect_round_trip(FlagsCodec{flags_template}, flags);
    expect_round_trip(BitpackedCodec{flags_template}, flags);
    expect_round_trip(MsgpackCodec<Flags>{}, flags);
    expect_round_trip(MsgpackCodec<std::string>{}, std::string(4096, 'x'));

    const KeyTemplate dict_template{"id", {"perm", {"read", "write"}}};
    Dict perm{{"read", true}, {"write", false}};
    const Dict dict{{"id", 42}, {"perm", perm}};
    expect_round_trip(DictValuesCodec{dict_template}, dict);

    const MsgpackCodec<std::shared_ptr<const std::vector<int>>> by_default;
    const auto numbers = std::make_shared<const std::vector<int>>(std::vector<int>{1, 2, 3});
    EXPECT_EQ(by_default.encode(numbers), MsgpackCodec<std::vector<int>>{}.encode(*numbers));
    EXPECT_EQ(*by_default.decode(by_default.encode(numbers)), *numbers);
}

TEST(SharedCodecTest, TheSharedMsgpackCodecKeepsItsLimits) {
    dogpile::codec::DecodeLimits limits;
    limits.max_string_length = 8;
    const MsgpackCodec<std::shared_ptr<const std::string>> codec(limits);
    EXPECT_EQ(codec.limits().max_string_length, 8u);
    const std::string long_string = MsgpackCodec<std::string>{}.encode(std::string(100, 'x'));
    EXPECT_THROW(codec.decode(long_string), dogpile::DecodeError);
}

}  // namespace
