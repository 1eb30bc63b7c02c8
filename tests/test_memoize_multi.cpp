// memoize_multi(): dogpile.cache's cache_multi_on_arguments (list and asdict
// forms), and Region::get_or_create_multi with a creator that may leave keys
// without a value.

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <dogpile/backends/memory.hpp>
#include <dogpile/memoize_multi.hpp>

#include "support/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using Ids = std::vector<int>;

struct MemoizeMultiTest : ::testing::Test {
    dogpile::test::ManualClock clock;
    dogpile::Region<std::string> region{std::make_shared<dogpile::MemoryBackend<std::string>>(), options()};
    std::vector<Ids> batches;  // every call of the undecorated function, with its ids

    static dogpile::RegionOptions options_with(const dogpile::test::ManualClock& clock) {
        dogpile::RegionOptions o;
        o.clock = clock.function();
        return o;
    }
    dogpile::RegionOptions options() { return options_with(clock); }

    // "name-<id>#<batch number>"
    std::vector<std::string> names(const Ids& ids) {
        batches.push_back(ids);
        std::vector<std::string> out;
        for (int id : ids) out.push_back("name-" + std::to_string(id) + "#" + std::to_string(batches.size()));
        return out;
    }

    // Only the even ids have a name.
    std::map<int, std::string> even_names(const Ids& ids) {
        batches.push_back(ids);
        std::map<int, std::string> out;
        for (int id : ids) {
            if (id % 2 == 0) out[id] = "even-" + std::to_string(id) + "#" + std::to_string(batches.size());
        }
        return out;
    }

    auto list_form(dogpile::MemoizeOptions<std::string> o = {}) {
        return dogpile::memoize_multi(
            region, "names", [this](const Ids& ids) { return names(ids); }, std::move(o));
    }
    auto map_form(dogpile::MemoizeOptions<std::string> o = {}) {
        return dogpile::memoize_multi(
            region, "even", [this](const Ids& ids) { return even_names(ids); }, std::move(o));
    }
};

using Names = std::vector<std::string>;

TEST_F(MemoizeMultiTest, CallsTheFunctionOnceWithOnlyTheMissingIds) {
    auto cached = list_form();
    EXPECT_EQ(cached(Ids{1, 2, 3}), (Names{"name-1#1", "name-2#1", "name-3#1"}));
    EXPECT_EQ(cached(Ids{4, 2, 5, 3}), (Names{"name-4#2", "name-2#1", "name-5#2", "name-3#1"}));
    EXPECT_EQ(cached(Ids{3, 1}), (Names{"name-3#1", "name-1#1"}));  // all hits: no call
    ASSERT_EQ(batches.size(), 2u);
    EXPECT_EQ(batches[0], (Ids{1, 2, 3}));
    EXPECT_EQ(batches[1], (Ids{4, 5}));
}

TEST_F(MemoizeMultiTest, RepeatedIdsAreCreatedOnceAndReturnedEachTime) {
    auto cached = list_form();
    EXPECT_EQ(cached(Ids{7, 8, 7}), (Names{"name-7#1", "name-8#1", "name-7#1"}));
    ASSERT_EQ(batches.size(), 1u);
    EXPECT_EQ(batches[0], (Ids{7, 8}));
    EXPECT_TRUE(cached(Ids{}).empty());
    EXPECT_EQ(batches.size(), 1u);
}

TEST_F(MemoizeMultiTest, EachIdIsKeyedAsAOneArgumentMemoizeCall) {
    auto cached = list_form();
    EXPECT_EQ(cached.key(7), "names|7");
    cached(Ids{7});
    EXPECT_EQ(region.get("names|7"), "name-7#1");
    dogpile::MemoizeOptions<std::string> o;
    o.key_namespace = "v2";
    EXPECT_EQ(list_form(o).key(7), "names|v2|7");
    auto by_string = dogpile::memoize_multi(region, "s", [](const std::vector<std::string>& ids) { return ids; });
    EXPECT_EQ(by_string(std::vector<std::string>{"a b", "c"}), (Names{"a b", "c"}));
    EXPECT_EQ(region.get("s|'a b'"), "a b");
}

TEST_F(MemoizeMultiTest, AsMapFormLeavesOmittedIdsUncachedAndAbsent) {
    auto cached = map_form();
    const std::map<int, std::string> first = cached(Ids{1, 2, 3, 4});
    EXPECT_EQ(first, (std::map<int, std::string>{{2, "even-2#1"}, {4, "even-4#1"}}));
    EXPECT_EQ(region.get("even|1"), std::nullopt);
    EXPECT_EQ(region.get("even|3"), std::nullopt);
    EXPECT_EQ(region.get("even|2"), "even-2#1");
    // The omitted ids are asked for again; the cached ones are not.
    EXPECT_EQ(cached(Ids{1, 2, 3, 4, 6}),
              (std::map<int, std::string>{{2, "even-2#1"}, {4, "even-4#1"}, {6, "even-6#2"}}));
    ASSERT_EQ(batches.size(), 2u);
    EXPECT_EQ(batches[1], (Ids{1, 3, 6}));
    EXPECT_EQ(region.stats().creations, 3u);  // 2, 4, 6: an omitted id is no creation
}

TEST_F(MemoizeMultiTest, AsMapFormReturnsTheFunctionsMapType) {
    auto cached = dogpile::memoize_multi(region, "u", [](const Ids& ids) {
        std::unordered_map<int, std::string> out;
        for (int id : ids) out[id] = std::to_string(id);
        return out;
    });
    const std::unordered_map<int, std::string> got = cached(Ids{5, 6});
    EXPECT_EQ(got, (std::unordered_map<int, std::string>{{5, "5"}, {6, "6"}}));
}

TEST_F(MemoizeMultiTest, GetReturnsCachedValuesWithoutCalling) {
    auto cached = list_form();
    cached(Ids{1, 3});
    EXPECT_EQ(cached.get(Ids{1, 2, 3}),
              (std::vector<std::optional<std::string>>{"name-1#1", std::nullopt, "name-3#1"}));
    EXPECT_EQ(batches.size(), 1u);
}

TEST_F(MemoizeMultiTest, InvalidateRemovesTheGivenIds) {
    auto cached = list_form();
    cached(Ids{1, 2, 3});
    cached.invalidate(Ids{1, 3});
    EXPECT_EQ(cached.get(Ids{1, 2, 3}),
              (std::vector<std::optional<std::string>>{std::nullopt, "name-2#1", std::nullopt}));
    EXPECT_EQ(cached(Ids{1, 2, 3}), (Names{"name-1#2", "name-2#1", "name-3#2"}));
    EXPECT_EQ(batches[1], (Ids{1, 3}));
}

TEST_F(MemoizeMultiTest, RefreshCallsWithAllIdsAndStores) {
    auto cached = list_form();
    cached(Ids{1, 2});
    EXPECT_EQ(cached.refresh(Ids{2, 3}), (Names{"name-2#2", "name-3#2"}));
    EXPECT_EQ(cached(Ids{1, 2, 3}), (Names{"name-1#1", "name-2#2", "name-3#2"}));
    EXPECT_EQ(batches.size(), 2u);

    auto evens = map_form();
    EXPECT_EQ(evens.refresh(Ids{1, 2}), (std::map<int, std::string>{{2, "even-2#3"}}));
    EXPECT_EQ(evens.get(Ids{1, 2}), (std::vector<std::optional<std::string>>{std::nullopt, "even-2#3"}));
}

TEST_F(MemoizeMultiTest, SetStoresAMapOfValues) {
    auto cached = list_form();
    cached.set(std::map<int, std::string>{{1, "one"}, {2, "two"}});
    EXPECT_EQ(cached(Ids{2, 1, 3}), (Names{"two", "one", "name-3#1"}));
    EXPECT_EQ(batches[0], (Ids{3}));
}

TEST_F(MemoizeMultiTest, OriginalBypassesTheCache) {
    auto cached = list_form();
    cached(Ids{1});
    EXPECT_EQ(cached.original(Ids{1}), (Names{"name-1#2"}));
    EXPECT_EQ(cached(Ids{1}), (Names{"name-1#1"}));
}

TEST_F(MemoizeMultiTest, ShouldCacheIsAskedPerValue) {
    dogpile::MemoizeOptions<std::string> o;
    o.should_cache = [](const std::string& name) { return name.rfind("name-1#", 0) != 0; };  // not id 1
    auto cached = list_form(o);
    cached(Ids{1, 2});
    EXPECT_EQ(region.get("names|1"), std::nullopt);
    EXPECT_EQ(region.get("names|2"), "name-2#1");
    cached(Ids{1, 2});
    EXPECT_EQ(batches[1], (Ids{1}));
}

TEST_F(MemoizeMultiTest, ExpirationTimeFixedOrPerCall) {
    dogpile::MemoizeOptions<std::string> o;
    std::chrono::seconds current = 10s;
    int evaluations = 0;
    o.expiration_time = [&] {
        ++evaluations;
        return dogpile::ExpirationTime(current);
    };
    auto cached = list_form(o);
    cached(Ids{1});
    clock.advance(5s);
    EXPECT_EQ(cached(Ids{1}), (Names{"name-1#1"}));
    current = 2s;
    EXPECT_EQ(cached.get(Ids{1}), (std::vector<std::optional<std::string>>{std::nullopt}));
    EXPECT_EQ(cached(Ids{1}), (Names{"name-1#2"}));
    EXPECT_EQ(evaluations, 4);  // once per call, get() included
}

TEST_F(MemoizeMultiTest, AFunctionReturningTheWrongCountIsAnError) {
    auto short_by_one =
        dogpile::memoize_multi(region, "short", [](const Ids& ids) { return Names(ids.size() - 1, "x"); });
    EXPECT_THROW(short_by_one(Ids{1, 2}), dogpile::Error);
    EXPECT_THROW(short_by_one.refresh(Ids{1, 2}), dogpile::Error);
    EXPECT_EQ(region.get("short|1"), std::nullopt);
}

TEST(MemoizeMultiKeyTypes, IntegerKeysAndARegionHeldByValue) {
    std::vector<std::vector<std::uint32_t>> batches;
    auto make = [&] {
        dogpile::Region<std::string, std::uint64_t> local{
            std::make_shared<dogpile::MemoryBackend<std::string, std::uint64_t>>()};
        dogpile::MemoizeOptions<std::string> o;
        return dogpile::memoize_multi(
            dogpile::Region<std::string, std::uint64_t>(local), "unused",
            [&](const std::vector<std::uint32_t>& ids) {
                batches.push_back(ids);
                return std::vector<std::string>(ids.size(), "v");
            },
            o.with_key_generator([](std::string_view, std::uint32_t id) { return std::uint64_t{id} + 1000; }));
    };
    auto cached = make();
    EXPECT_EQ(cached(std::vector<std::uint32_t>{1, 2}), (Names{"v", "v"}));
    EXPECT_EQ(cached(std::vector<std::uint32_t>{2, 3}), (Names{"v", "v"}));
    ASSERT_EQ(batches.size(), 2u);
    EXPECT_EQ(batches[1], (std::vector<std::uint32_t>{3}));
    EXPECT_EQ(cached.region().get(1003), "v");
}

// --- get_or_create_multi with a creator that may have no value -------------------

struct OptionalCreatorTest : ::testing::Test {
    dogpile::Region<std::string> region{std::make_shared<dogpile::MemoryBackend<std::string>>()};
};

TEST_F(OptionalCreatorTest, NoValueIsNeitherStoredNorReturned) {
    int calls = 0;
    const auto creator = [&](const std::vector<std::string>& keys) {
        ++calls;
        std::vector<std::optional<std::string>> out;
        for (const auto& k : keys) out.push_back(k == "b" ? std::nullopt : std::optional<std::string>(k + "!"));
        return out;
    };
    const std::vector<std::optional<std::string>> got = region.get_or_create_multi({"c", "b", "a", "b"}, creator);
    EXPECT_EQ(got, (std::vector<std::optional<std::string>>{"c!", std::nullopt, "a!", std::nullopt}));
    EXPECT_EQ(region.get("b"), std::nullopt);
    EXPECT_EQ(region.get("a"), "a!");
    EXPECT_EQ(region.stats().creations, 2u);
    region.get_or_create_multi({"a", "b"}, creator);
    EXPECT_EQ(calls, 2);  // asked again for "b" only
}

TEST_F(OptionalCreatorTest, TheLengthMustStillMatch) {
    EXPECT_THROW(region.get_or_create_multi({"a", "b"},
                                            [](const std::vector<std::string>&) {
                                                return std::vector<std::optional<std::string>>{std::nullopt};
                                            }),
                 dogpile::Error);
    EXPECT_THROW(region.get_or_create_multi(
                     {"a", "b"}, [](const std::vector<std::string>&) { return std::vector<std::string>{"x"}; }),
                 dogpile::Error);
}

TEST_F(OptionalCreatorTest, AValueCreatorKeepsItsSignature) {
    const std::vector<std::string> got = region.get_or_create_multi(
        {"a"}, [](const std::vector<std::string>& keys) { return std::vector<std::string>(keys.size(), "v"); });
    EXPECT_EQ(got, (Names{"v"}));
}

}  // namespace
