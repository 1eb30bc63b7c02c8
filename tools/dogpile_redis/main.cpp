// dogpile-redis: inspect and repair what dogpile keeps in Redis, for the
// people who run the cache (docs/ops-tool.md).

#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <dogpile/errors.hpp>
#include <dogpile/redis/errors.hpp>

#include "args.hpp"
#include "commands.hpp"
#include "common.hpp"

namespace {

using namespace dogpile_tool;

std::vector<Subcommand> subcommands() {
    return {get_command(), ls_command(), del_command(), locks_command(), tracking_command()};
}

void print_usage(std::ostream& out) {
    out << "Usage: dogpile-redis COMMAND URL [ARGS] [OPTIONS]\n"
           "\n"
           "Inspect and repair what dogpile keeps in Redis: the hash store's entries\n"
           "(one hash per ID_A, one field per ID_B), distributed locks, and the state\n"
           "of client-side caching (near caches).\n"
           "\n"
           "Commands:\n";
    for (const auto& c : subcommands()) out << "  " << c.summary << '\n';
    out << "\n"
        << url_help
        << "\n"
           "Run 'dogpile-redis COMMAND --help' for a command's options and an example.\n"
           "\n"
           "Exit status: 0 done; 1 the cache does not hold what was asked for (no such\n"
           "entry, hash or lock) or holds bytes that do not decode; 2 the question could\n"
           "not be asked (bad arguments or URL, unreadable template file, server\n"
           "unreachable or refusing the command).\n";
}

int fail(int code, const std::string& message) {
    std::cerr << "dogpile-redis: " << message << '\n';
    return code;
}

int run(const std::vector<std::string>& args) {
    if (args.empty()) {
        print_usage(std::cerr);
        return exit_usage;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        print_usage(std::cout);
        return 0;
    }
    for (const auto& c : subcommands()) {
        if (c.spec.name != args[0]) continue;
        const ParsedArgs parsed = parse_args(c.spec, std::vector<std::string>(args.begin() + 1, args.end()));
        if (parsed.help) {
            std::cout << c.spec.help;
            return 0;
        }
        const std::string server = describe_server(parsed.positionals.at(0));
        try {
            c.run(parsed);
        } catch (const dogpile::redis::AuthError& e) {
            throw UsageError(server + " refused the URL's user or password: " + e.what());
        } catch (const dogpile::redis::ReplyError& e) {
            if (e.is_wrongtype()) throw DataError(std::string("a key holds another type than expected: ") + e.what());
            if (e.is_noperm()) {
                throw UsageError(server + " refused a command (ACL): " + e.what() +
                                 " (docs/ops-tool.md lists the rights the tool needs)");
            }
            throw UsageError(server + " refused a command: " + e.what());
        } catch (const dogpile::redis::RedisError& e) {
            throw UsageError(std::string("cannot reach the server: ") + e.what());
        }
        return 0;
    }
    throw UsageError("unknown command '" + args[0] + "' (see: dogpile-redis --help)");
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const DataError& e) {
        return fail(exit_not_found, e.what());
    } catch (const UsageError& e) {
        return fail(exit_usage, e.what());
    } catch (const std::exception& e) {
        return fail(exit_usage, e.what());
    }
}
