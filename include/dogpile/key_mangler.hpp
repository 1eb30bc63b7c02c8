#pragma once
// Key manglers for RegionOptions::key_mangler (dogpile.cache's util.sha1_mangle_key
// and length_conditional_mangler).

#include <cstddef>
#include <functional>
#include <string>

#include "details/sha1.hpp"

namespace dogpile {

/// The key's SHA-1 as 40 lowercase hex digits: fixed-length keys whatever the input.
inline std::string sha1_mangle_key(const std::string& key) { return details::sha1_hex(key); }

/// Mangles only keys longer than `max_length`, so short keys stay readable in the store.
inline std::function<std::string(const std::string&)> length_conditional_mangler(
    std::size_t max_length, std::function<std::string(const std::string&)> mangler = sha1_mangle_key) {
    return [max_length, mangler = std::move(mangler)](const std::string& key) {
        return key.size() > max_length ? mangler(key) : key;
    };
}

}  // namespace dogpile
