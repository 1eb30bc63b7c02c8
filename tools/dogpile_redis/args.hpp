#pragma once
// The command line of one subcommand: positional arguments in order, then
// --name VALUE (or --name=VALUE) options and --flag switches, in any order.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace dogpile_tool {

struct CommandSpec {
    std::string name;
    std::vector<std::string> positionals;  // their names, all required
    std::set<std::string> options;         // take a value
    std::set<std::string> flags;           // take none
    std::string help;                      // printed by `<name> --help`
};

struct ParsedArgs {
    std::vector<std::string> positionals;
    std::map<std::string, std::string> options;
    std::set<std::string> flags;
    bool help = false;  // --help or -h was given: nothing else was checked

    std::optional<std::string> option(const std::string& name) const;
    std::string option_or(const std::string& name, std::string fallback) const;
    bool flag(const std::string& name) const { return flags.count(name) != 0; }
};

// Throws UsageError naming what is wrong and how to get help.
ParsedArgs parse_args(const CommandSpec& spec, const std::vector<std::string>& args);

// A whole number of milliseconds for option `name`; throws UsageError.
long long parse_millis(const std::string& name, const std::string& text);

}  // namespace dogpile_tool
