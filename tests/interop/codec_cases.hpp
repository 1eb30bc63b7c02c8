#pragma once
// The named cases of tests/interop/codec_interop.py, built in C++. Both sides
// must describe the same data, so change them together.

#include <cstdio>
#include <string>

#include <dogpile/codec/dict.hpp>
#include <dogpile/codec/flag_set.hpp>

namespace dogpile_test {

using dogpile::codec::Dict;
using dogpile::codec::Flags;
using dogpile::codec::List;

inline Flags golden_flags() {
    return {{"a", true},     {"bb", false},     {"ccc", true},     {"dddd", false},
            {"eeeee", true}, {"ffffff", false}, {"ggggggg", true}, {"hhhhhhhh", false}};
}

// perm_00 .. perm_<count-1>, every third one set.
inline Flags numbered_flags(int count) {
    Flags flags;
    for (int i = 0; i < count; ++i) {
        char name[16];
        std::snprintf(name, sizeof name, "perm_%02d", i);
        flags.emplace(name, i % 3 == 0);
    }
    return flags;
}

inline Dict nested_dict() {
    return Dict{
        {"id", 42},
        {"name", "zo\xc3\xab"},
        {"negative", -1000},
        {"big", std::int64_t{1} << 40},
        {"huge", ~std::uint64_t{0}},
        {"ratio", 3.25},
        {"nothing", nullptr},
        {"tags", List{"a", 1, true, nullptr, Dict{{"k", "v"}}}},
        {"long_text", std::string(40, 'x')},
        {"perm", Dict{{"read", true}, {"write", false}, {"admin", Dict{{"level", -3}, {"scopes", List{"x", "y"}}}}}},
        {"empty", Dict{}},
    };
}

inline Dict to_dict(const Flags& flags) {
    Dict dict;
    for (const auto& [key, value] : flags) dict.emplace(key, value);
    return dict;
}

// A case's flags as a FlagSet: Python sees the same bytes whichever C++ type wrote them.
inline dogpile::codec::FlagSet to_flag_set(const Flags& flags) {
    using dogpile::codec::FlagTemplate;
    return dogpile::codec::FlagSet::from_flags(FlagTemplate::of(dogpile::codec::KeyTemplate::of(flags)), flags);
}

constexpr std::int64_t envelope_created_us = 1700000000123456;
constexpr std::int64_t envelope_creation_us = 250000;

}  // namespace dogpile_test
