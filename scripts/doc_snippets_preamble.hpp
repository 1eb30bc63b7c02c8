// The default preamble of the Markdown code blocks marked as fragments
// (scripts/check_doc_snippets.py): what the reader's own program supplies
// around a snippet, declared so that the snippet compiles as shown. It is
// included after the block's own #include lines and includes no dogpile
// header, so a snippet that forgets one still fails. Names that need a
// dogpile type are given in the block's marker instead.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The README's example value type and loaders.
struct Profile {
    std::string name;
    bool partial = false;
};
Profile load_profile(int id, const std::string& lang = "en");
std::vector<Profile> load_profiles(const std::vector<std::string>& keys);
std::string load_permissions(int user, int object);

// The permission example: a user, an object, the application's own checks.
inline constexpr int user = 7;
inline constexpr int object = 42;
bool can_edit(int user, int object);
std::map<std::string, bool> load_flags(int user);  // codec::Flags
void audit(const std::string& flag, bool granted);

void log_warning(std::string_view operation, std::string_view message);
