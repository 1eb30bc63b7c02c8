#pragma once
// The subcommands of dogpile-redis. Each writes its report to stdout and
// throws DataError or UsageError (common.hpp) for main() to report.

#include <string>
#include <vector>

#include "args.hpp"

namespace dogpile_tool {

struct Subcommand {
    CommandSpec spec;
    std::string summary;  // one line for `dogpile-redis --help`
    void (*run)(const ParsedArgs& args);
};

// Hash-store entries (entries.cpp).
Subcommand get_command();
Subcommand ls_command();
Subcommand del_command();
// Distributed locks (locks.cpp).
Subcommand locks_command();
// Client-side caching (tracking.cpp).
Subcommand tracking_command();

}  // namespace dogpile_tool
