#pragma once
// Error reporting shared by the template-driven codecs: where in a nested dict
// a problem is ("perm.read"), and which key breaks the match with a template.
// Paths are a chain of stack nodes rendered only when an error is thrown, so
// the hot path builds no strings.

#include <string>
#include <string_view>

#include "../../errors.hpp"
#include "../dict.hpp"

namespace dogpile::codec::details {

struct KeyPath {
    const KeyPath* parent = nullptr;
    std::string_view name;

    std::string to_string() const {
        std::string text = parent ? parent->to_string() : std::string();
        if (!text.empty()) text += '.';
        text.append(name.data(), name.size());
        return text;
    }
};

inline std::string quoted_path(const KeyPath* path, std::string_view key) {
    const KeyPath here{path, key};
    return "\"" + here.to_string() + "\"";
}

// Called once a map is known not to match `key_template`: names the first
// extra key, else the first missing one.
template <class Map>
[[noreturn]] void throw_key_mismatch(const char* codec, const Map& map, const KeyTemplate& key_template,
                                     const KeyPath* path) {
    for (const auto& entry : map) {
        if (!key_template.find(entry.first)) {
            throw EncodeError(std::string(codec) + ": key " + quoted_path(path, entry.first) +
                              " is not in the key template " + key_template.to_string());
        }
    }
    for (const auto& key : key_template) {
        if (map.find(key.name) == map.end()) {
            throw EncodeError(std::string(codec) + ": key " + quoted_path(path, key.name) +
                              " is missing (the key template " + key_template.to_string() + " requires it)");
        }
    }
    throw EncodeError(std::string(codec) + ": keys do not match the key template " + key_template.to_string());
}

}  // namespace dogpile::codec::details
