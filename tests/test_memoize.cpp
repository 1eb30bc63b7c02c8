// memoize(): dogpile.cache's cache_on_arguments, ported from its
// test_decorator.py behaviours; plus the key format (no two argument lists may
// share a key) and regenerations handed to an async runner (they run after the
// caller, its arguments and possibly the Memoized itself are gone).

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <iomanip>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <dogpile/backends/memory.hpp>
#include <dogpile/memoize.hpp>

#include "support/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;

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
    EXPECT_EQ(cached.key(42, std::string("en")), "users|42 'en'");
    EXPECT_EQ(cached.key(true, 1.5, "x"), "users|True 1.5 'x'");
    EXPECT_EQ(cached.key(), "users|");
    cached(42, "en");
    EXPECT_TRUE(region.get("users|42 'en'"));
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

// --- the key format ------------------------------------------------------------

enum class Colour : char { red = 'a', green = 'b' };

struct Point {
    int x, y;
};
std::ostream& operator<<(std::ostream& out, const Point& p) { return out << "(" << p.x << " " << p.y << ")"; }

struct Quip {
    std::string text;
};
std::ostream& operator<<(std::ostream& out, const Quip& q) { return out << q.text; }

// What memoize(region, "t", ...) makes of the arguments, without the "t|".
struct KeyTextTest : MemoizeTest {
    dogpile::Memoized<std::string, std::function<std::string()>> memo =
        dogpile::memoize(region, "t", std::function<std::string()>([] { return std::string(); }));

    template <class... Args>
    std::string text(const Args&... args) const {
        return memo.key(args...).substr(2);
    }
};

TEST_F(KeyTextTest, FloatsReadAsPythonsRepr) {
    EXPECT_EQ(text(1.5), "1.5");
    EXPECT_EQ(text(1e16), "1e+16");
    EXPECT_EQ(text(1.5e-7), "1.5e-07");
    EXPECT_EQ(text(1.0), "1.0");
    EXPECT_EQ(text(0.1), "0.1");
    EXPECT_EQ(text(0.1000001), "0.1000001");
    EXPECT_EQ(text(0.1f), "0.1");  // float's own shortest form, not 0.10000000149011612
    EXPECT_EQ(text(0.1L), "0.1");
    EXPECT_EQ(text(1.0 / 3), "0.3333333333333333");
    EXPECT_EQ(text(123456.789), "123456.789");
    EXPECT_EQ(text(1e15), "1000000000000000.0");
    EXPECT_EQ(text(0.0001), "0.0001");
    EXPECT_EQ(text(0.00001), "1e-05");
    EXPECT_EQ(text(1e100), "1e+100");
    EXPECT_EQ(text(-2.5), "-2.5");
    EXPECT_EQ(text(-1e-300), "-1e-300");
    EXPECT_EQ(text(0.0), "0.0");
    EXPECT_EQ(text(-0.0), "-0.0");
    EXPECT_EQ(text(std::numeric_limits<double>::max()), "1.7976931348623157e+308");
    EXPECT_EQ(text(std::numeric_limits<double>::denorm_min()), "5e-324");
    EXPECT_EQ(text(std::numeric_limits<double>::infinity()), "inf");
    EXPECT_EQ(text(-std::numeric_limits<double>::infinity()), "-inf");
    EXPECT_EQ(text(std::numeric_limits<double>::quiet_NaN()), "nan");
    EXPECT_EQ(text(-std::numeric_limits<float>::quiet_NaN()), "nan");
}

TEST_F(KeyTextTest, StringsAreQuotedAndEscaped) {
    EXPECT_EQ(text("it's"), "'it\\'s'");
    EXPECT_EQ(text("x y"), "'x y'");
    EXPECT_EQ(text("back\\slash"), "'back\\\\slash'");
    EXPECT_EQ(text(""), "''");
    EXPECT_EQ(text(std::string("a\0b", 3)), std::string("'a\0b'", 5));
    EXPECT_EQ(text(std::string_view("view")), "'view'");
    EXPECT_EQ(text(static_cast<const char*>("pointer")), "'pointer'");
    EXPECT_EQ(text(static_cast<const char*>(nullptr)), "None");
    char buffer[8] = "ab";  // a C string: up to the NUL, not the whole buffer
    EXPECT_EQ(text(buffer), "'ab'");
    const char unterminated[3] = {'a', 'b', 'c'};  // never read past its end
    EXPECT_EQ(text(unterminated), "'abc'");
    EXPECT_EQ(text('a'), "'a'");
    EXPECT_EQ(text('\''), "'\\''");
}

TEST_F(KeyTextTest, NumbersBooleansAndEnums) {
    EXPECT_EQ(text(true, false), "True False");
    EXPECT_EQ(text(42, -7, 0), "42 -7 0");
    EXPECT_EQ(text(std::numeric_limits<std::uint64_t>::max()), "18446744073709551615");
    EXPECT_EQ(text(std::numeric_limits<std::int64_t>::min()), "-9223372036854775808");
    EXPECT_EQ(text(std::int8_t{97}, std::uint8_t{97}), "97 97");  // numbers, unlike char
    EXPECT_EQ(text(Colour::red), "97");
}

TEST_F(KeyTextTest, OptionalsTuplesAndRanges) {
    EXPECT_EQ(text(std::optional<int>{}), "None");
    EXPECT_EQ(text(std::optional<int>{5}), "5");
    EXPECT_EQ(text(std::optional<std::string>{"x"}), "'x'");
    EXPECT_EQ(text(std::pair<int, std::string>{1, "a"}), "(1, 'a')");
    EXPECT_EQ(text(std::tuple<>{}), "()");
    EXPECT_EQ(text(std::tuple<int>{1}), "(1,)");
    EXPECT_EQ(text(std::tuple<int, double, const char*>{1, 2.5, "x"}), "(1, 2.5, 'x')");
    EXPECT_EQ(text(std::vector<int>{1, 2}), "[1, 2]");
    EXPECT_EQ(text(std::vector<std::string>{}), "[]");
    EXPECT_EQ(text(std::array<int, 2>{3, 4}), "[3, 4]");
    EXPECT_EQ(text(std::map<std::string, int>{{"a", 1}, {"b", 2}}), "[('a', 1), ('b', 2)]");
    EXPECT_EQ(text(std::vector<std::vector<int>>{{}, {1}}), "[[], [1]]");
    EXPECT_EQ(text(std::set<char>{'b', 'a'}), "['a', 'b']");
}

TEST_F(KeyTextTest, OtherTypesGoThroughOperatorShiftAndAreQuoted) {
    EXPECT_EQ(text(Point{1, 2}), "'(1 2)'");
    EXPECT_EQ(text(Quip{"it's"}), "'it\\'s'");
    EXPECT_EQ(text(Quip{"a' 'b"}), "'a\\' \\'b'");  // cannot pass for two arguments
}

TEST_F(KeyTextTest, DistinctArgumentsNeverShareAKey) {
    struct Row {
        const char* why;
        std::string a, b;
    };
    const auto k = [&](const auto&... args) { return memo.key(args...); };
    const std::vector<Row> rows = {
        {"a space moved from one string to the next", k("alice", "x y"), k("alice x", "y")},
        {"two strings or one with a space", k("a", "b"), k("a b")},
        {"a quote and a space inside one string", k("a' 'b"), k("a", "b")},
        {"a quote, comma and space inside one string", k("a', 'b"), k("a", "b")},
        {"a backslash before the closing quote", k("a\\", "b"), k("a\\' 'b")},
        {"an escaped quote or a plain one", k("a\\'"), k("a'")},
        {"a pipe inside a string", k("a|b"), k("a", "b")},
        {"a pipe that looks like a namespace", k("t|'x'"), k("x")},
        {"0.1 and 0.1000001", k(0.1), k(0.1000001)},
        {"a double one ulp away", k(1.0), k(std::nextafter(1.0, 2.0))},
        {"0.0 and -0.0", k(0.0), k(-0.0)},
        {"a char and its code", k('a'), k(97)},
        {"a digit string and the number", k("1"), k(1)},
        {"the number 1 and 1.0", k(1), k(1.0)},
        {"1e16 as an integer and as a double", k(10000000000000000LL), k(1e16)},
        {"an empty optional and the string None", k(std::optional<int>{}), k("None")},
        {"an empty optional and 0", k(std::optional<int>{}), k(0)},
        {"a null C string and the string None", k(static_cast<const char*>(nullptr)), k("None")},
        {"a null C string and an empty one", k(static_cast<const char*>(nullptr)), k("")},
        {"true and the string True", k(true), k("True")},
        {"an empty string and no argument", k(""), k()},
        {"two empty strings and one space", k("", ""), k(" ")},
        {"an embedded NUL", k(std::string("a\0b", 3)), k("a")},
        {"a trailing NUL", k(std::string("a\0", 2)), k("a")},
        {"a pair and two arguments", k(std::pair<int, int>{1, 2}), k(1, 2)},
        {"a tuple of one and its element", k(std::tuple<int>{1}), k(1)},
        {"a list and its elements", k(std::vector<int>{1, 2}), k(1, 2)},
        {"one string with a comma or two in a list", k(std::vector<std::string>{"a, b"}),
         k(std::vector<std::string>{"a", "b"})},
        {"an element moved between nested lists", k(std::vector<std::vector<int>>{{1, 2}, {}}),
         k(std::vector<std::vector<int>>{{1}, {2}})},
    };
    for (const Row& row : rows) EXPECT_NE(row.a, row.b) << row.why;
}

// Property: over many random argument lists, built from strings rich in the
// characters a key format could trip on, two lists share a key exactly when
// they are equal.
namespace random_lists {

using Arg = std::variant<std::string, long long, double, std::vector<std::string>>;
using ArgList = std::vector<Arg>;
constexpr std::size_t max_arity = 3;

bool same(const Arg& a, const Arg& b) {
    if (a.index() != b.index()) return false;
    if (const double* x = std::get_if<double>(&a)) {
        // Bit for bit: 0.0 and -0.0 are different arguments, and keys.
        return std::memcmp(x, &std::get<double>(b), sizeof(double)) == 0;
    }
    return a == b;
}

bool same(const ArgList& a, const ArgList& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!same(a[i], b[i])) return false;
    }
    return true;
}

std::string describe(const ArgList& args) {
    std::ostringstream out;
    out << "(";
    for (const Arg& arg : args) {
        if (const auto* s = std::get_if<std::string>(&arg)) out << "str " << std::quoted(*s);
        if (const auto* i = std::get_if<long long>(&arg)) out << "int " << *i;
        if (const auto* d = std::get_if<double>(&arg)) out << "double " << std::setprecision(17) << *d;
        if (const auto* v = std::get_if<std::vector<std::string>>(&arg)) {
            out << "list[";
            for (const auto& s : *v) out << std::quoted(s) << ";";
            out << "]";
        }
        out << ", ";
    }
    out << ")";
    return out.str();
}

// Calls key(...) with the list's elements as arguments of their own types.
template <class KeyOf, class... Done>
auto key_of(const KeyOf& key, const ArgList& args, const Done&... done) {
    if constexpr (sizeof...(Done) == max_arity) {
        return key(done...);
    } else {
        if (args.size() == sizeof...(Done)) return key(done...);
        return std::visit([&](const auto& next) { return key_of(key, args, done..., next); }, args[sizeof...(Done)]);
    }
}

class Generator {
public:
    ArgList list() {
        ArgList args(pick(max_arity + 1));
        for (Arg& arg : args) arg = any();
        return args;
    }

    // Mostly a near miss of `args`: the lists a key format confuses are alike.
    // `key_text`, the key of `args`, is a source of strings made of exactly
    // the separators and quotes the format uses.
    ArgList variant_of(ArgList args, std::string_view key_text) {
        switch (pick(11)) {
            case 0:
            case 1: return args;
            case 2:
                if (!args.empty()) args[pick(args.size())] = any();
                return args;
            case 3:
                if (!args.empty()) args.erase(args.begin() + static_cast<std::ptrdiff_t>(pick(args.size())));
                return args;
            case 4:
                if (args.size() < max_arity) {
                    args.insert(args.begin() + static_cast<std::ptrdiff_t>(pick(args.size() + 1)), any());
                }
                return args;
            case 5: resplit_strings(args); return args;
            case 6:
                for (Arg& arg : args) {
                    if (auto* d = std::get_if<double>(&arg)) *d = std::nextafter(*d, pick(2) ? 1e300 : -1e300);
                }
                return args;
            case 7: merge_strings(args); return args;
            case 8: split_string(args); return args;
            case 9: {
                const std::size_t from = pick(key_text.size() + 1);
                std::string fragment(key_text.substr(from, pick(key_text.size() - from + 1)));
                if (args.empty()) {
                    args.push_back(std::move(fragment));
                } else {
                    args[pick(args.size())] = std::move(fragment);
                }
                return args;
            }
            default: return list();
        }
    }

private:
    std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }

    std::string text() {
        static constexpr std::string_view alphabet(" '\\|,()[]a1.eN\0", 15);
        std::string s(pick(5), ' ');
        for (char& c : s) c = alphabet[pick(alphabet.size())];
        return s;
    }

    Arg any() {
        switch (pick(5)) {
            case 0:
            case 1: return text();
            case 2: return number();
            case 3: return floating();
            default: {
                std::vector<std::string> texts(pick(3));
                for (auto& t : texts) t = text();
                return texts;
            }
        }
    }

    long long number() {
        static constexpr long long small[] = {0, 1, -1, 2, 10, 97, 10000000000000000LL};
        if (pick(2)) return small[pick(std::size(small))];
        return static_cast<long long>(rng_());
    }

    double floating() {
        static constexpr double small[] = {0.0,
                                           -0.0,
                                           0.1,
                                           0.1000001,
                                           1.0,
                                           1.5,
                                           2.0,
                                           97.0,
                                           1e16,
                                           1e15,
                                           1e-5,
                                           1.5e-7,
                                           1e-4,
                                           std::numeric_limits<double>::infinity(),
                                           -std::numeric_limits<double>::infinity()};
        switch (pick(3)) {
            case 0: return small[pick(std::size(small))];
            case 1: return std::uniform_real_distribution<double>(-1000.0, 1000.0)(rng_);
            default: {
                double d = 0;
                do {
                    const std::uint64_t bits = rng_();
                    std::memcpy(&d, &bits, sizeof d);
                } while (std::isnan(d));
                return d;
            }
        }
    }

    // A few characters from those that separate parts of a key.
    std::string glue() {
        static constexpr std::string_view separators = " ',\\";
        std::string s(pick(4), ' ');
        for (char& c : s) c = separators[pick(separators.size())];
        return s;
    }

    // Moves characters across the boundary of two neighbouring strings, the
    // change a separator-joined key cannot see.
    void resplit_strings(ArgList& args) {
        for (std::size_t i = 0; i + 1 < args.size(); ++i) {
            auto* left = std::get_if<std::string>(&args[i]);
            auto* right = std::get_if<std::string>(&args[i + 1]);
            if (!left || !right) continue;
            const std::string joined = *left + *right;
            const std::size_t cut = pick(joined.size() + 1);
            *left = joined.substr(0, cut);
            *right = joined.substr(cut);
            return;
        }
    }

    // Two neighbouring strings become one, joined by separator characters.
    void merge_strings(ArgList& args) {
        for (std::size_t i = 0; i + 1 < args.size(); ++i) {
            auto* left = std::get_if<std::string>(&args[i]);
            auto* right = std::get_if<std::string>(&args[i + 1]);
            if (!left || !right) continue;
            *left += glue() + *right;
            args.erase(args.begin() + static_cast<std::ptrdiff_t>(i) + 1);
            return;
        }
    }

    // One string becomes two, after dropping any separator characters at the cut.
    void split_string(ArgList& args) {
        if (args.size() >= max_arity) return;
        for (std::size_t i = 0; i < args.size(); ++i) {
            auto* text = std::get_if<std::string>(&args[i]);
            if (!text) continue;
            const std::size_t cut = pick(text->size() + 1);
            std::string left = text->substr(0, cut);
            std::string right = text->substr(cut);
            if (pick(2)) {
                while (!left.empty() && glue_character(left.back())) left.pop_back();
                while (!right.empty() && glue_character(right.front())) right.erase(0, 1);
            }
            *text = std::move(left);
            args.insert(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, std::move(right));
            return;
        }
    }

    static bool glue_character(char c) { return c == ' ' || c == '\'' || c == ',' || c == '\\'; }

    std::mt19937_64 rng_{20240611};
};

}  // namespace random_lists

TEST_F(KeyTextTest, RandomArgumentListsShareAKeyOnlyWhenEqual) {
    using namespace random_lists;
    auto old_format = dogpile::memoize(region, "t", std::function<std::string()>(), dogpile::SpaceJoinedKeyGenerator{});
    const auto key = [&](const auto&... args) { return memo.key(args...); };
    // The old format cannot key a list (it has no operator<<): those lists are skipped.
    const auto old_key = [&](const auto&... args) -> std::optional<std::string> {
        if constexpr ((std::is_same_v<std::decay_t<decltype(args)>, std::vector<std::string>> || ...)) {
            return std::nullopt;
        } else {
            return old_format.key(args...);
        }
    };

    Generator generate;
    std::unordered_map<std::string, ArgList> owner_of_key;  // every key seen: collisions between any two lists
    int equal_pairs = 0;
    int old_format_collisions = 0;
    for (int i = 0; i < 20000; ++i) {
        const ArgList a = generate.list();
        const std::string key_a = key_of(key, a);
        const ArgList b = generate.variant_of(a, key_a);
        const std::string key_b = key_of(key, b);
        ASSERT_EQ(key_a == key_b, same(a, b)) << describe(a) << " -> " << key_a << "\n"
                                              << describe(b) << " -> " << key_b;
        equal_pairs += same(a, b);
        for (const ArgList* args : {&a, &b}) {
            const std::string k = key_of(key, *args);
            const auto [it, inserted] = owner_of_key.try_emplace(k, *args);
            ASSERT_TRUE(inserted || same(it->second, *args))
                << describe(it->second) << " and " << describe(*args) << " share " << k;
        }
        const auto old_a = key_of(old_key, a);
        const auto old_b = key_of(old_key, b);
        if (old_a && old_b && *old_a == *old_b && !same(a, b)) ++old_format_collisions;
    }
    // The lists are alike enough to be worth comparing: many equal pairs, and
    // the ambiguous old format is caught out often.
    EXPECT_GT(equal_pairs, 2000);
    EXPECT_GT(old_format_collisions, 100);
}

// --- key generators --------------------------------------------------------------

TEST_F(MemoizeTest, SpaceJoinedKeyGeneratorKeepsTheOldKeys) {
    auto cached = dogpile::memoize(region, "users", fn, dogpile::SpaceJoinedKeyGenerator{});
    EXPECT_EQ(cached.key(42, std::string("en")), "users|42 en");
    EXPECT_EQ(cached.key(true, 1.5, "x"), "users|True 1.500000 x");
    EXPECT_EQ(cached.key('a', Point{1, 2}), "users|97 (1 2)");
    char buffer[8] = "ab";
    const char unterminated[3] = {'c', 'd', 'e'};  // the old code read past its end
    EXPECT_EQ(cached.key(buffer, unterminated), "users|ab cde");
    EXPECT_EQ(cached.key(), "users|");
    cached(42, "en");
    EXPECT_TRUE(region.get("users|42 en"));
}

TEST_F(MemoizeTest, CustomKeyGeneratorMakesTheKeys) {
    auto cached = dogpile::memoize(region, "users", fn, [](std::string_view ns, const auto&... args) {
        std::ostringstream key;
        key << "v2:" << ns;
        ((key << ':' << args), ...);
        return key.str();
    });
    EXPECT_EQ(cached.key(7, "en"), "v2:users:7:en");
    EXPECT_EQ(cached(7, "en"), "user 7 in en #1");
    EXPECT_EQ(region.get("v2:users:7:en"), "user 7 in en #1");
    EXPECT_EQ(cached(7, "en"), "user 7 in en #1");
    cached.invalidate(7, "en");
    EXPECT_EQ(region.get("v2:users:7:en"), std::nullopt);
    EXPECT_EQ(calls, 1);
}

// --- regenerations handed to an async runner ----------------------------------

// The addresses of the Tracked objects and TrackedFunctions alive right now:
// a function can tell a live argument from a destroyed one without reading it.
std::set<const void*>& live_objects() {
    static std::set<const void*> live;
    return live;
}

struct RegistersItsAddress {
    RegistersItsAddress() { live_objects().insert(this); }
    RegistersItsAddress(const RegistersItsAddress&) : RegistersItsAddress() {}
    RegistersItsAddress& operator=(const RegistersItsAddress&) { return *this; }
    ~RegistersItsAddress() { live_objects().erase(this); }

    // Reads no member: safe to ask of an object that is already destroyed.
    bool alive() const { return live_objects().count(this) == 1; }
};

struct Tracked : RegistersItsAddress {
    explicit Tracked(std::string t) : text(std::move(t)) {}
    std::string text;
};
std::ostream& operator<<(std::ostream& out, const Tracked& t) { return out << t.text; }

// What TrackedFunction saw. Global, so that recording reads nothing from a
// TrackedFunction that may be dead.
struct Observations {
    int calls = 0;
    int dead_arguments = 0;
    int dead_functions = 0;
};
Observations& observed() {
    static Observations o;
    return o;
}

struct TrackedFunction : RegistersItsAddress {
    std::string operator()(const Tracked& arg) const {
        Observations& o = observed();
        ++o.calls;
        if (!alive()) {
            ++o.dead_functions;
            return "<dead function>";
        }
        if (!arg.alive()) {
            ++o.dead_arguments;
            return "<dead argument>";
        }
        return arg.text + " #" + std::to_string(o.calls);
    }
};

// An argument that counts its copies.
struct Counted {
    Counted() = default;
    Counted(const Counted&) { ++copies; }
    Counted& operator=(const Counted&) = default;
    static inline int copies = 0;
};
std::ostream& operator<<(std::ostream& out, const Counted&) { return out << "counted"; }

// An argument that cannot be copied at all.
struct Pinned {
    explicit Pinned(std::string t) : text(std::move(t)) {}
    Pinned(const Pinned&) = delete;
    Pinned& operator=(const Pinned&) = delete;
    std::string text;
};
std::ostream& operator<<(std::ostream& out, const Pinned& p) { return out << p.text; }

// A region whose values expire after 1 s of a hand-moved clock, and whose
// runner only queues: the tasks run when the test says, after the call.
struct QueuedRegenerationTest : ::testing::Test {
    dogpile::test::ManualClock clock;
    std::deque<std::function<void()>> queued;
    dogpile::Region<std::string> region{std::make_shared<dogpile::MemoryBackend<std::string>>(), options()};

    dogpile::RegionOptions options() {
        dogpile::RegionOptions o;
        o.clock = clock.function();
        o.expiration_time = 1s;
        o.async_creation_runner = [this](std::function<void()> task) { queued.push_back(std::move(task)); };
        return o;
    }

    void run_queued() {
        while (!queued.empty()) {
            auto task = std::move(queued.front());
            queued.pop_front();
            task();
        }
    }

    void SetUp() override {
        observed() = {};
        Counted::copies = 0;
    }
};

TEST_F(QueuedRegenerationTest, TaskCallsTheFunctionWithItsOwnCopyOfTheArguments) {
    auto cached = dogpile::memoize(region, "tracked", TrackedFunction{});
    EXPECT_EQ(cached(Tracked("alice")), "alice #1");  // missing: created on this thread
    EXPECT_TRUE(queued.empty());
    clock.advance(2s);
    EXPECT_EQ(cached(Tracked("alice")), "alice #1");  // stale: served, regeneration queued
    ASSERT_EQ(queued.size(), 1u);

    run_queued();  // the temporary Tracked("alice") died with the statement that made it
    EXPECT_EQ(observed().calls, 2);
    EXPECT_EQ(observed().dead_arguments, 0);
    EXPECT_EQ(observed().dead_functions, 0);
    EXPECT_EQ(cached.get(Tracked("alice")), "alice #2");
}

TEST_F(QueuedRegenerationTest, TaskRunsAfterTheMemoizedIsDestroyed) {
    const Tracked bob("bob");  // outlives the task: only the Memoized dies first
    {
        auto cached = dogpile::memoize(region, "tracked", TrackedFunction{});
        EXPECT_EQ(cached(bob), "bob #1");
        clock.advance(2s);
        EXPECT_EQ(cached(bob), "bob #1");
        ASSERT_EQ(queued.size(), 1u);
    }
    run_queued();
    EXPECT_EQ(observed().calls, 2);
    EXPECT_EQ(observed().dead_functions, 0);
    EXPECT_EQ(observed().dead_arguments, 0);
    auto again = dogpile::memoize(region, "tracked", TrackedFunction{});
    EXPECT_EQ(again.get(bob), "bob #2");
}

TEST_F(QueuedRegenerationTest, ArgumentsAreCopiedOnlyForAQueuedTask) {
    auto cached = dogpile::memoize(region, "counted", [](const Counted&) { return std::string("value"); });
    const Counted argument;
    cached(argument);  // miss, created inline
    cached(argument);  // hit
    EXPECT_EQ(Counted::copies, 0);
    clock.advance(2s);
    cached(argument);  // stale: handed off
    ASSERT_EQ(queued.size(), 1u);
    EXPECT_EQ(Counted::copies, 1);
    run_queued();
    EXPECT_EQ(Counted::copies, 1);
}

TEST_F(QueuedRegenerationTest, ArgumentsThatCannotBeCopiedAreRegeneratedOnTheCallersThread) {
    int calls = 0;
    auto cached = dogpile::memoize(region, "pinned",
                                   [&calls](const Pinned& p) { return p.text + " #" + std::to_string(++calls); });
    const Pinned carol("carol");
    EXPECT_EQ(cached(carol), "carol #1");
    clock.advance(2s);
    EXPECT_EQ(cached(carol), "carol #2");
    EXPECT_TRUE(queued.empty());
}

// C strings and views are keyed by their characters; the task keeps the
// characters, not a pointer into a buffer the caller may reuse.
TEST_F(QueuedRegenerationTest, TaskKeepsTheCharactersOfViewsAndCStrings) {
    auto echo = dogpile::memoize(region, "echo", [](std::string_view s) { return std::string(s); });
    std::string text = "alice";
    std::string c_text = "bob";
    char buffer[16] = "carol";
    echo(std::string_view(text));
    echo(c_text.c_str());
    echo(buffer);
    clock.advance(2s);
    echo(std::string_view(text));
    echo(c_text.c_str());
    echo(buffer);
    ASSERT_EQ(queued.size(), 3u);

    text = "mallory";
    c_text = "trudy";
    std::strcpy(buffer, "oscar");
    run_queued();
    EXPECT_EQ(echo.get("alice"), "alice");
    EXPECT_EQ(echo.get("bob"), "bob");
    EXPECT_EQ(echo.get("carol"), "carol");
}

// --- options per memoized function (MemoizeOptions) ------------------------------

// A region that never expires on its own, on a hand-moved clock: only the
// memoized function's options decide.
struct MemoizeOptionsTest : MemoizeTest {
    dogpile::test::ManualClock clock;
    dogpile::Region<std::string> timed{std::make_shared<dogpile::MemoryBackend<std::string>>(), timed_options()};

    dogpile::RegionOptions timed_options() {
        dogpile::RegionOptions o;
        o.clock = clock.function();
        return o;
    }
};

TEST_F(MemoizeOptionsTest, KeyNamespaceSitsBetweenTheNameAndTheArguments) {
    dogpile::MemoizeOptions<std::string> options;
    options.key_namespace = "v2";
    auto cached = dogpile::memoize(region, "accounts:get_user", fn, options);
    EXPECT_EQ(cached.key(42, std::string("en")), "accounts:get_user|v2|42 'en'");
    EXPECT_EQ(cached.key_prefix(), "accounts:get_user|v2");
    cached(42, "en");
    EXPECT_TRUE(region.get("accounts:get_user|v2|42 'en'"));
    // The same function under another namespace is another set of keys.
    options.key_namespace = "v3";
    auto other = dogpile::memoize(region, "accounts:get_user", fn, options);
    EXPECT_EQ(other(42, "en"), "user 42 in en #2");
}

TEST_F(MemoizeOptionsTest, FixedExpirationTimeOverridesTheRegions) {
    dogpile::MemoizeOptions<std::string> options;
    options.expiration_time = 10s;
    auto cached = dogpile::memoize(timed, "users", fn, options);
    EXPECT_EQ(cached(1, "en"), "user 1 in en #1");
    clock.advance(9s);
    EXPECT_EQ(cached(1, "en"), "user 1 in en #1");
    EXPECT_EQ(cached.get(1, "en"), "user 1 in en #1");
    clock.advance(2s);
    EXPECT_EQ(cached.get(1, "en"), std::nullopt);  // get() reads with the function's expiration_time
    EXPECT_TRUE(timed.get(cached.key(1, "en")));   // the region's own never expires
    EXPECT_EQ(cached(1, "en"), "user 1 in en #2");
    EXPECT_EQ(calls, 2);
}

TEST_F(MemoizeOptionsTest, CallableExpirationTimeIsEvaluatedAtEveryCall) {
    int evaluations = 0;
    std::chrono::seconds current = 100s;
    dogpile::MemoizeOptions<std::string> options;
    options.expiration_time = [&] {
        ++evaluations;
        return dogpile::ExpirationTime(current);
    };
    auto cached = dogpile::memoize(timed, "users", fn, options);
    EXPECT_EQ(cached(1, "en"), "user 1 in en #1");
    EXPECT_EQ(evaluations, 1);
    clock.advance(50s);
    EXPECT_EQ(cached(1, "en"), "user 1 in en #1");
    EXPECT_EQ(evaluations, 2);
    current = 10s;  // the same stored value is now expired
    EXPECT_EQ(cached(1, "en"), "user 1 in en #2");
    EXPECT_EQ(evaluations, 3);
    EXPECT_TRUE(cached.get(1, "en"));
    EXPECT_EQ(evaluations, 4);
}

TEST_F(MemoizeOptionsTest, ShouldCacheRefusesValuesFromCallsAndRefresh) {
    std::string next;
    dogpile::MemoizeOptions<std::string> options;
    options.should_cache = [](const std::string& value) { return !value.empty(); };
    auto cached = dogpile::memoize(
        region, "maybe",
        [&](int) {
            ++calls;
            return next;
        },
        options);
    EXPECT_EQ(cached(1), "");
    EXPECT_EQ(cached(1), "");
    EXPECT_EQ(calls, 2);  // the empty value was returned, never stored
    EXPECT_EQ(cached.get(1), std::nullopt);
    next = "full";
    EXPECT_EQ(cached(1), "full");
    EXPECT_EQ(cached(1), "full");
    EXPECT_EQ(calls, 3);
    next = "";
    EXPECT_EQ(cached.refresh(1), "");
    EXPECT_EQ(cached.get(1), "full");  // refresh does not store what should_cache refuses
    cached.set("", 1);                 // set stores what it is given
    EXPECT_EQ(cached.get(1), "");
}

struct User {
    std::string id;
    std::string display_name;  // not part of the identity
};

TEST_F(MemoizeOptionsTest, ToStrKeysTheArgumentTypesItAccepts) {
    const auto to_str = [](const User& user) { return user.id; };
    auto cached = dogpile::memoize(
        region, "greet",
        [&](const User& user, const std::string& lang) {
            ++calls;
            return user.display_name + " " + lang;
        },
        dogpile::ToStrKeyGenerator(to_str));
    EXPECT_EQ(cached.key(User{"u-17", "Alice"}, std::string("en")), "greet|'u-17' 'en'");
    EXPECT_EQ(cached.key(User{"it's", ""}), "greet|'it\\'s'");  // quoted: cannot pass for two arguments
    EXPECT_EQ(cached(User{"u-17", "Alice"}, "en"), "Alice en");
    EXPECT_EQ(cached(User{"u-17", "Alice B."}, "en"), "Alice en");  // same id, same key
    EXPECT_EQ(calls, 1);
}

TEST_F(MemoizeOptionsTest, WithKeyGeneratorKeepsTheOtherOptions) {
    dogpile::MemoizeOptions<std::string> options;
    options.key_namespace = "ns";
    options.should_cache = [](const std::string& value) { return value != "no"; };
    auto with_to_str = options.with_key_generator(dogpile::ToStrKeyGenerator([](const User& u) { return u.id; }));
    auto cached = dogpile::memoize(
        region, "f", [](const User& u) { return u.display_name; }, with_to_str);
    EXPECT_EQ(cached.key(User{"7", ""}), "f|ns|'7'");
    cached(User{"7", "no"});
    EXPECT_EQ(cached.get(User{"7", ""}), std::nullopt);
}

TEST(MemoizeKeyTypes, ARegionWithIntegerKeysTakesAGeneratorReturningThem) {
    dogpile::Region<std::string, std::uint64_t> by_id{
        std::make_shared<dogpile::MemoryBackend<std::string, std::uint64_t>>()};
    int calls = 0;
    dogpile::MemoizeOptions<std::string> options;
    auto cached = dogpile::memoize(
        by_id, "unused", [&](std::uint32_t id) { return "row " + std::to_string(id) + " #" + std::to_string(++calls); },
        options.with_key_generator([](std::string_view, std::uint32_t id) { return std::uint64_t{id} << 8; }));
    EXPECT_EQ(cached.key(3u), 768u);
    EXPECT_EQ(cached(3u), "row 3 #1");
    EXPECT_EQ(cached(3u), "row 3 #1");
    EXPECT_EQ(by_id.get(768), "row 3 #1");
    EXPECT_EQ(cached.get(3u), "row 3 #1");
    cached.set("preset", 4u);
    EXPECT_EQ(by_id.get(1024), "preset");
    EXPECT_EQ(cached.refresh(3u), "row 3 #2");
    EXPECT_EQ(cached.original(3u), "row 3 #3");
    EXPECT_EQ(cached(3u), "row 3 #2");
    cached.invalidate(3u);
    EXPECT_EQ(by_id.get(768), std::nullopt);
}

struct Composite {
    std::string table;
    int row = 0;
    friend bool operator==(const Composite& a, const Composite& b) { return a.table == b.table && a.row == b.row; }
};
struct CompositeHash {
    std::size_t operator()(const Composite& c) const {
        return std::hash<std::string>()(c.table) ^ std::hash<int>()(c.row);
    }
};

TEST(MemoizeKeyTypes, AStructKeyCarriesThePrefix) {
    dogpile::Region<int, Composite, CompositeHash> region{
        std::make_shared<dogpile::MemoryBackend<int, Composite, CompositeHash>>()};
    auto doubled = dogpile::memoize(
        region, "doubled", [](int x) { return 2 * x; },
        [](std::string_view prefix, int x) {
            return Composite{std::string(prefix), x};
        });
    EXPECT_EQ(doubled(21), 42);
    EXPECT_EQ(region.get(Composite{"doubled", 21}), 42);
}

// --- how the region is held -------------------------------------------------------

TEST(MemoizeRegionHandle, ARegionHeldByValueOutlivesTheOriginalObject) {
    int calls = 0;
    auto make = [&] {
        dogpile::Region<std::string> local{std::make_shared<dogpile::MemoryBackend<std::string>>()};
        auto cached = dogpile::memoize(dogpile::Region<std::string>(local), "square", [&](int x) {
            ++calls;
            return std::to_string(x * x);
        });
        EXPECT_EQ(cached(3), "9");
        EXPECT_EQ(local.get("square|3"), "9");  // the copy shares the original's state
        return cached;
    };
    auto cached = make();  // `local` is gone
    EXPECT_EQ(cached(3), "9");
    EXPECT_EQ(cached(4), "16");
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(cached.region().get("square|4"), "16");
}

TEST(MemoizeRegionHandle, ASharedRegionIsShared) {
    auto shared =
        std::make_shared<dogpile::Region<std::string>>(std::make_shared<dogpile::MemoryBackend<std::string>>());
    std::weak_ptr<dogpile::Region<std::string>> watch = shared;
    auto cached = dogpile::memoize(shared, "id", [](int x) { return std::to_string(x); });
    shared.reset();
    EXPECT_FALSE(watch.expired());
    EXPECT_EQ(cached(5), "5");
    EXPECT_EQ(watch.lock()->get("id|5"), "5");
}

TEST(MemoizeRegionHandle, ANullSharedRegionIsAConfigurationError) {
    std::shared_ptr<dogpile::Region<std::string>> none;
    EXPECT_THROW(dogpile::memoize(none, "id", [](int x) { return std::to_string(x); }), dogpile::ConfigurationError);
}

TEST(MemoizeRegionHandle, ABorrowedRegionMayBeConfiguredAfterTheFunctionIsMemoized) {
    dogpile::Region<std::string> later;
    auto cached = dogpile::memoize(later, "id", [](int x) { return std::to_string(x); });
    EXPECT_THROW(cached(1), dogpile::ConfigurationError);
    later.configure(std::make_shared<dogpile::MemoryBackend<std::string>>());
    EXPECT_EQ(cached(1), "1");
    EXPECT_EQ(later.get("id|1"), "1");
}

}  // namespace
