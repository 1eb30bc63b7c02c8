#include "args.hpp"

#include <utility>

#include <dogpile/redis/options.hpp>

#include "common.hpp"

namespace dogpile_tool {

std::optional<std::string> ParsedArgs::option(const std::string& name) const {
    const auto it = options.find(name);
    if (it == options.end()) return std::nullopt;
    return it->second;
}

std::string ParsedArgs::option_or(const std::string& name, std::string fallback) const {
    const auto it = options.find(name);
    return it == options.end() ? std::move(fallback) : it->second;
}

ParsedArgs parse_args(const CommandSpec& spec, const std::vector<std::string>& args) {
    const std::string see = " (see: dogpile-redis " + spec.name + " --help)";
    ParsedArgs parsed;
    for (const auto& arg : args) {
        if (arg == "--help" || arg == "-h") {
            parsed.help = true;
            return parsed;
        }
    }
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        // "--" ends the options, so an id that starts with "--" can be given.
        if (arg == "--") {
            for (++i; i < args.size(); ++i) parsed.positionals.push_back(args[i]);
            break;
        }
        if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
            std::string name = arg.substr(2);
            std::optional<std::string> value;
            if (const auto eq = name.find('='); eq != std::string::npos) {
                value = name.substr(eq + 1);
                name.resize(eq);
            }
            if (spec.flags.count(name) != 0) {
                if (value) throw UsageError("--" + name + " takes no value" + see);
                parsed.flags.insert(name);
            } else if (spec.options.count(name) != 0) {
                if (!value) {
                    if (i + 1 >= args.size()) throw UsageError("--" + name + " needs a value" + see);
                    value = args[++i];
                }
                parsed.options[name] = *value;
            } else {
                throw UsageError("unknown option --" + name + " for '" + spec.name + "'" + see);
            }
            continue;
        }
        parsed.positionals.push_back(arg);
    }
    if (parsed.positionals.size() != spec.positionals.size()) {
        std::string wanted;
        for (const auto& p : spec.positionals) wanted += " " + p;
        throw UsageError("'" + spec.name + "' takes" + (wanted.empty() ? " no arguments" : wanted) + ", got " +
                         std::to_string(parsed.positionals.size()) + " argument(s)" + see);
    }
    return parsed;
}

long long parse_millis(const std::string& name, const std::string& text) {
    long long value = 0;
    // A year of milliseconds is more than any lock or TTL needs.
    constexpr long long max = 365LL * 24 * 3600 * 1000;
    if (!dogpile::redis::details::parse_decimal(text, max, value)) {
        throw UsageError("--" + name + " wants a whole number of milliseconds, got '" + text + "'");
    }
    return value;
}

}  // namespace dogpile_tool
