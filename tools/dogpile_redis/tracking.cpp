// tracking: what the server knows of client-side caching (the near cache of
// include/dogpile/redis/tracking.hpp): which connections have CLIENT TRACKING
// on, where their invalidations go (REDIRECT <listener id>), and the INFO
// counters of the tracking table.

#include <algorithm>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <dogpile/redis/command.hpp>

#include "commands.hpp"
#include "common.hpp"

namespace dogpile_tool {

namespace {

using dogpile::redis::Command;
using Fields = std::map<std::string, std::string>;

// One CLIENT LIST line: "id=5 addr=... name=... flags=t ... redir=4 ...".
Fields parse_client(const std::string& line) {
    Fields fields;
    std::istringstream words(line);
    std::string word;
    while (words >> word) {
        const auto eq = word.find('=');
        if (eq != std::string::npos) fields[word.substr(0, eq)] = word.substr(eq + 1);
    }
    return fields;
}

// "name:value" lines of INFO, sections and comments skipped.
Fields parse_info(std::string_view text) {
    Fields fields;
    std::istringstream lines{std::string(text)};
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto colon = line.find(':');
        if (line.empty() || line[0] == '#' || colon == std::string::npos) continue;
        fields[line.substr(0, colon)] = line.substr(colon + 1);
    }
    return fields;
}

std::string get(const Fields& fields, const std::string& name, const std::string& fallback = "?") {
    const auto it = fields.find(name);
    return it == fields.end() || it->second.empty() ? fallback : it->second;
}

std::string describe_target(const std::string& redir, const std::map<std::string, Fields>& clients, bool invalid) {
    if (redir.empty() || redir == "?") return "? (this server's CLIENT LIST has no redir field)";
    if (redir == "-1" || redir == "0") return "none (invalidations arrive on the connection itself, RESP3)";
    const auto target = clients.find(redir);
    if (target == clients.end() || invalid) {
        return redir + " GONE: invalidations for this connection are lost until it re-enables tracking";
    }
    const Fields& t = target->second;
    const std::string subscriptions = get(t, "sub", "0");
    // Over RESP2 the target receives invalidations as messages on
    // __redis__:invalidate: unsubscribed, it gets none.
    const std::string warning = subscriptions == "0" ? " NOT SUBSCRIBED: the invalidations sent to it are dropped" : "";
    return redir + " (name " + get(t, "name", "-") + ", " + get(t, "addr") + ", subscriptions " + subscriptions + ")" +
           warning;
}

void run_tracking(const ParsedArgs& args) {
    const std::string& url = args.positionals.at(0);
    auto client = connect(url);
    const auto replies = client->pipeline("", {Command{"CLIENT", "LIST"}, Command{"INFO", "server"},
                                               Command{"INFO", "clients"}, Command{"INFO", "stats"}});
    for (const auto& reply : replies) reply.throw_if_error("CLIENT LIST / INFO");
    Fields info = parse_info(replies.at(1).view());
    for (std::size_t i = 2; i < 4; ++i) {
        for (auto& [name, value] : parse_info(replies.at(i).view())) info[name] = value;
    }

    std::map<std::string, Fields> clients;  // by id
    std::vector<std::string> tracking_ids;
    std::istringstream lines{std::string(replies.at(0).view())};
    std::string line;
    while (std::getline(lines, line)) {
        Fields fields = parse_client(line);
        const std::string id = get(fields, "id", "");
        if (id.empty()) continue;
        if (get(fields, "flags", "").find('t') != std::string::npos) tracking_ids.push_back(id);
        clients.emplace(id, std::move(fields));
    }
    std::sort(tracking_ids.begin(), tracking_ids.end(), [](const std::string& a, const std::string& b) {
        return a.size() != b.size() ? a.size() < b.size() : a < b;
    });

    std::cout << "server " << describe_server(url) << " (redis " << get(info, "redis_version") << ")\n";
    for (const char* name :
         {"tracking_clients", "tracking_total_keys", "tracking_total_items", "tracking_total_prefixes"}) {
        std::cout << name << '=' << get(info, name) << '\n';
    }
    std::cout << tracking_ids.size() << " connection(s) with tracking on\n";
    if (tracking_ids.empty()) return;
    std::size_t name_width = 4;
    std::size_t addr_width = 4;
    for (const auto& id : tracking_ids) {
        name_width = std::max(name_width, get(clients[id], "name", "-").size());
        addr_width = std::max(addr_width, get(clients[id], "addr").size());
    }
    std::cout << pad("ID", 6) << "  " << pad("NAME", name_width) << "  " << pad("ADDR", addr_width) << "  "
              << pad("MODE", 9) << "  REDIRECT TO\n";
    for (const auto& id : tracking_ids) {
        const Fields& c = clients[id];
        const std::string flags = get(c, "flags", "");
        const bool broadcast = flags.find('B') != std::string::npos;
        const bool invalid = flags.find('R') != std::string::npos;
        std::cout << pad(id, 6) << "  " << pad(get(c, "name", "-"), name_width) << "  "
                  << pad(get(c, "addr"), addr_width) << "  " << pad(broadcast ? "broadcast" : "standard", 9) << "  "
                  << describe_target(get(c, "redir"), clients, invalid) << '\n';
    }
}

}  // namespace

Subcommand tracking_command() {
    Subcommand c;
    c.summary = "tracking URL                        show client-side caching (near cache) state";
    c.spec.name = "tracking";
    c.spec.positionals = {"URL"};
    c.spec.help = std::string("Usage: dogpile-redis tracking URL\n"
                              "\n"
                              "Shows the server's side of client-side caching, which a near cache\n"
                              "(NearCacheBackend with an InvalidationListener) relies on:\n"
                              "  * INFO's tracking_clients, tracking_total_keys (keys some connection\n"
                              "    read and may cache), tracking_total_items and tracking_total_prefixes\n"
                              "    (broadcast mode);\n"
                              "  * every connection with CLIENT TRACKING on (flag t in CLIENT LIST): its\n"
                              "    mode (standard, or broadcast: flag B) and the connection its\n"
                              "    invalidation messages are redirected to, normally the listener's,\n"
                              "    subscribed to __redis__:invalidate. A target marked GONE means those\n"
                              "    invalidations are being lost (flag R).\n"
                              "\n") +
                  url_help + "\nExample:\n  dogpile-redis tracking redis://cache:6379\n";
    c.run = run_tracking;
    return c;
}

}  // namespace dogpile_tool
