// memoize(): dogpile.cache's cache_on_arguments, ported from its
// test_decorator.py behaviours.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <dogpile/backends/memory.hpp>
#include <dogpile/memoize.hpp>

namespace {

struct MemoizeTest : ::testing::Test {
    dogpile::Region<std::string> region{std::make_shared<dogpile::MemoryBackend<std::string>>()};
    int calls = 0;
    std::function<std::string(int, const std::string&)> fn = [this](int id, const std::string& lang) {
        ++calls;
        return "user " + std::to_string(id) + " in " + lang + " #" + std::to_string(calls);
    };
};

TEST_F(MemoizeTest, CachesOnArguments) {
    auto cached = dogpile::memoize(region, "users", fn);
    EXPECT_EQ(cached(1, "en"), "user 1 in en #1");
    EXPECT_EQ(cached(1, "en"), "user 1 in en #1");
    EXPECT_EQ(cached(2, "en"), "user 2 in en #2");
    EXPECT_EQ(cached(1, "fr"), "user 1 in fr #3");
    EXPECT_EQ(calls, 3);
}

TEST_F(MemoizeTest, KeyIsNamespaceAndArgumentsAsText) {
    auto cached = dogpile::memoize(region, "users", fn);
    EXPECT_EQ(cached.key(42, std::string("en")), "users|42 en");
    EXPECT_EQ(cached.key(true, 1.5, "x"), "users|True 1.500000 x");
    cached(42, "en");
    EXPECT_TRUE(region.get("users|42 en"));
}

TEST_F(MemoizeTest, InvalidateRemovesOneArgumentSet) {
    auto cached = dogpile::memoize(region, "users", fn);
    cached(1, "en");
    cached(2, "en");
    cached.invalidate(1, "en");
    EXPECT_EQ(cached.get(1, "en"), std::nullopt);
    EXPECT_TRUE(cached.get(2, "en"));
    EXPECT_EQ(cached(1, "en"), "user 1 in en #3");
}

TEST_F(MemoizeTest, RefreshRecomputesAndStores) {
    auto cached = dogpile::memoize(region, "users", fn);
    cached(1, "en");
    EXPECT_EQ(cached.refresh(1, "en"), "user 1 in en #2");
    EXPECT_EQ(cached(1, "en"), "user 1 in en #2");
    EXPECT_EQ(calls, 2);
}

TEST_F(MemoizeTest, SetStoresAGivenValue) {
    auto cached = dogpile::memoize(region, "users", fn);
    cached.set("preset", 7, "de");
    EXPECT_EQ(cached(7, "de"), "preset");
    EXPECT_EQ(calls, 0);
}

TEST_F(MemoizeTest, OriginalBypassesTheCache) {
    auto cached = dogpile::memoize(region, "users", fn);
    cached(1, "en");
    EXPECT_EQ(cached.original(1, "en"), "user 1 in en #2");
    EXPECT_EQ(cached(1, "en"), "user 1 in en #1");
}

TEST_F(MemoizeTest, WorksWithPlainLambdas) {
    auto square = dogpile::memoize(region, "square", [&](int x) {
        ++calls;
        return std::to_string(x * x);
    });
    EXPECT_EQ(square(9), "81");
    EXPECT_EQ(square(9), "81");
    EXPECT_EQ(calls, 1);
}

}  // namespace
