#pragma once
// The benchmark workload: the effective permissions of user a on object b, a
// dict of 25 boolean flags (docs/architecture.md, "The workload"), in
// the shapes the codecs take: Flags (std::map<std::string, bool>), FlagSet
// and the dynamic codec::Dict. Flags are derived from a seed, so every program builds
// the same dicts for the same (id_a, id_b).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <dogpile/codec/dict.hpp>
#include <dogpile/codec/flag_set.hpp>

namespace dogpile::bench {

inline constexpr std::array<const char*, 25> permission_names{
    "can_view",    "can_edit",     "can_delete",         "can_create",          "can_comment",
    "can_share",   "can_download", "can_upload",         "can_export",          "can_import",
    "can_archive", "can_restore",  "can_publish",        "can_approve",         "can_assign",
    "can_invite",  "can_move",     "can_copy",           "can_rename",          "can_tag",
    "can_lock",    "can_print",    "can_manage_members", "can_manage_settings", "is_owner",
};

inline codec::KeyTemplate permission_template() {
    std::vector<std::string> names(permission_names.begin(), permission_names.end());
    return codec::KeyTemplate::flat(std::move(names));
}

// The same names as an interned FlagTemplate, for FlagSet.
inline const codec::FlagTemplate& permission_flag_template() {
    static const codec::FlagTemplate& names = codec::FlagTemplate::of(permission_template());
    return names;
}

// splitmix64: a cheap, well-spread hash of the seed.
inline std::uint64_t mix(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// A permission dict: view is usually granted, ownership rarely, the rest vary.
inline codec::Flags make_flags(std::uint64_t seed) {
    const std::uint64_t bits = mix(seed);
    codec::Flags flags;
    for (std::size_t i = 0; i < permission_names.size(); ++i)
        flags.emplace(permission_names[i], ((bits >> i) & 1u) != 0);
    flags["can_view"] = (bits >> 40) % 8 != 0;
    flags["is_owner"] = (bits >> 44) % 16 == 0;
    return flags;
}

// make_flags(seed) as a FlagSet.
inline codec::FlagSet make_flag_set(std::uint64_t seed) {
    return codec::FlagSet::from_flags(permission_flag_template(), make_flags(seed));
}

inline std::uint64_t pair_seed(std::uint64_t id_a, std::uint64_t id_b) noexcept { return mix(id_a) ^ id_b; }

inline codec::Dict to_dict(const codec::Flags& flags) {
    codec::Dict dict;
    for (const auto& [name, set] : flags) dict.emplace_hint(dict.end(), name, set);
    return dict;
}

// What a service without a binary codec would store: json.dumps(flags, sort_keys=True).
inline std::string to_json(const codec::Flags& flags) {
    std::string out = "{";
    const char* separator = "";
    for (const auto& [name, set] : flags) {
        out += separator;
        out += '"';
        out += name;  // permission names need no escaping
        out += "\": ";
        out += set ? "true" : "false";
        separator = ", ";
    }
    out += '}';
    return out;
}

}  // namespace dogpile::bench
