// get, ls and del: the hash store's entries (include/dogpile/backends/redis/
// hash_store.hpp). An id_a's entries are the fields of the hash
// <prefix><id_a>, one field per id_b (hash_key.hpp); each field holds the
// values-only codec's bytes, behind an envelope in `envelope` payload mode.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <dogpile/backends/redis/details/payload.hpp>
#include <dogpile/backends/redis/hash_key.hpp>
#include <dogpile/codec/envelope.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/errors.hpp>

#include "commands.hpp"
#include "common.hpp"

namespace dogpile_tool {

namespace {

using dogpile::redis::Command;
using dogpile::redis::details::printable;

const char* const key_help = "  --prefix P        the hash key prefix of the backend (HashKeyScheme), e.g.\n"
                             "                    'calculated-a|': the hash read is P followed by ID_A.\n"
                             "                    Default: none, so ID_A is the whole hash key.\n";

const char* const payload_help = "  --payload MODE    raw | envelope | auto (default): what the fields hold, as\n"
                                 "                    the backend's PayloadMode. auto reads a value starting with\n"
                                 "                    byte 0xC1 (never msgpack) as an envelope, anything else raw.\n";

std::string hash_of(const ParsedArgs& args) {
    return dogpile::redis::HashKeyScheme(args.option_or("prefix", "")).hash_of(args.positionals.at(1));
}

enum class PayloadChoice { automatic, raw, envelope };

PayloadChoice payload_choice(const ParsedArgs& args) {
    const std::string mode = args.option_or("payload", "auto");
    if (mode == "auto") return PayloadChoice::automatic;
    if (mode == "raw") return PayloadChoice::raw;
    if (mode == "envelope") return PayloadChoice::envelope;
    throw UsageError("--payload is raw, envelope or auto, not '" + mode + "'");
}

// One stored value split as the store wrote it.
struct Payload {
    std::optional<dogpile::Metadata> metadata;  // set when enveloped
    std::string_view body;                      // the codec's bytes
};

Payload split_payload(std::string_view bytes, PayloadChoice choice, const std::string& where) {
    const bool enveloped = choice == PayloadChoice::envelope ||
                           (choice == PayloadChoice::automatic && !bytes.empty() &&
                            static_cast<unsigned char>(bytes.front()) == dogpile::codec::envelope::magic);
    if (!enveloped) return Payload{std::nullopt, bytes};
    try {
        const auto unwrapped = dogpile::codec::envelope::unwrap(bytes);
        return Payload{unwrapped.metadata, unwrapped.payload};
    } catch (const dogpile::DecodeError& e) {
        throw DataError(where + ": " + e.what());
    }
}

std::chrono::milliseconds age_of(dogpile::TimePoint created) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now() - created);
}

std::string describe_metadata(const Payload& payload) {
    if (!payload.metadata) return "raw payload (no metadata: the hash's TTL does the expiring)";
    const dogpile::Metadata& m = *payload.metadata;
    return "envelope: created " + format_time(m.created_at) + " (" + format_duration(age_of(m.created_at)) +
           " ago), version " + std::to_string(m.version) + ", expiry owned by the " +
           (m.expiry_owner == dogpile::ExpiryOwner::store ? "store" : "region") + ", creation took " +
           format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(m.creation_time));
}

// PTTL's answer: -2 no key, -1 no TTL, else milliseconds left.
std::string describe_ttl(long long pttl) {
    if (pttl == -1) return "no TTL";
    return "TTL " + format_duration(std::chrono::milliseconds(pttl));
}

std::vector<std::string> read_template(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw UsageError("cannot read template file '" + path + "': " + std::strerror(errno));
    std::vector<std::string> names;
    std::string line;
    while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
        const auto start = line.find_first_not_of(" \t");
        if (start == std::string::npos || line[start] == '#') continue;
        names.push_back(line.substr(start));
    }
    if (names.empty()) throw UsageError("template file '" + path + "' names no keys (one name per line)");
    return names;
}

dogpile::codec::ValuesCodec<dogpile::codec::Dict> codec_of(const std::string& path) {
    try {
        return dogpile::codec::ValuesCodec<dogpile::codec::Dict>(
            dogpile::codec::KeyTemplate::flat(read_template(path)));
    } catch (const dogpile::ConfigurationError& e) {
        throw UsageError("template file '" + path + "': " + e.what());
    }
}

void run_get(const ParsedArgs& args) {
    const PayloadChoice choice = payload_choice(args);
    const std::string template_path = args.option("template").value_or("");
    if (template_path.empty()) throw UsageError("get needs --template FILE (see: dogpile-redis get --help)");
    const auto codec = codec_of(template_path);
    const std::string hash = hash_of(args);
    const std::string& field = args.positionals.at(2);
    auto client = connect(args.positionals.at(0));

    const auto replies = client->pipeline(hash, {Command{"HGET", hash, field}, Command{"PTTL", hash}});
    replies.at(0).throw_if_error("HGET " + printable(hash));
    const long long pttl = replies.at(1).throw_if_error("PTTL").as_integer();
    const std::string where = "hash '" + printable(hash) + "' field '" + printable(field) + "'";
    if (replies[0].is_nil()) {
        throw DataError(pttl == -2 ? "no entry: hash '" + printable(hash) +
                                         "' does not exist (expired, deleted, or another --prefix?)"
                                   : "no entry: " + where + " does not exist (the hash has other fields: try ls)");
    }
    const std::string_view bytes = replies[0].view();
    const Payload payload = split_payload(bytes, choice, where);
    dogpile::codec::Dict values;
    try {
        values = codec.decode(payload.body);
    } catch (const dogpile::DecodeError& e) {
        throw DataError(where + " does not match the template '" + template_path + "' (" +
                        std::to_string(codec.key_template().size()) + " names): " + e.what());
    }
    std::cout << "# " << where << ": " << bytes.size() << " bytes, " << describe_ttl(pttl) << '\n';
    std::cout << "# " << describe_metadata(payload) << '\n';
    for (const auto& [name, value] : values) std::cout << name << '=' << value << '\n';
}

struct FieldInfo {
    std::size_t bytes = 0;
    std::string payload;  // "raw", "envelope" or "bad envelope"
    std::string created;  // "-" when not enveloped
};

FieldInfo describe_field(std::string_view bytes, PayloadChoice choice) {
    FieldInfo info;
    info.bytes = bytes.size();
    try {
        const Payload payload = split_payload(bytes, choice, "");
        info.payload = payload.metadata ? "envelope" : "raw";
        info.created = payload.metadata ? format_time(payload.metadata->created_at) + " (" +
                                              format_duration(age_of(payload.metadata->created_at)) + " ago)"
                                        : "-";
    } catch (const DataError&) {
        // One unreadable entry must not hide the others: it is listed as such.
        info.payload = "bad-envelope";
        info.created = "?";
    }
    return info;
}

void run_ls(const ParsedArgs& args) {
    const PayloadChoice choice = payload_choice(args);
    const std::string hash = hash_of(args);
    auto client = connect(args.positionals.at(0));
    const long long pttl = client->command(hash, {"PTTL", hash}).as_integer();
    if (pttl == -2) throw DataError("no hash '" + printable(hash) + "' (expired, deleted, or another --prefix?)");

    // HSCAN, not HGETALL: a hash with many fields comes in bounded replies.
    // It may return a field twice; the map keeps it once.
    std::map<std::string, FieldInfo> fields;
    std::string cursor = "0";
    do {
        const auto reply = client->command(hash, {"HSCAN", hash, cursor, "COUNT", "200"});
        cursor = reply.at(0).as_string();
        const auto pairs = reply.at(1).elements();
        for (std::size_t i = 0; i + 1 < pairs.size(); i += 2) {
            fields[pairs[i].as_string()] = describe_field(pairs[i + 1].view(), choice);
        }
    } while (cursor != "0");

    std::cout << "hash '" << printable(hash) << "': " << fields.size() << " entr" << (fields.size() == 1 ? "y" : "ies")
              << ", " << describe_ttl(pttl) << '\n';
    std::size_t width = 5;
    for (const auto& entry : fields) width = std::max(width, printable(entry.first).size());
    std::cout << pad("FIELD", width) << "  " << pad("BYTES", 8) << "  " << pad("PAYLOAD", 12) << "  CREATED\n";
    for (const auto& [name, info] : fields) {
        std::cout << pad(printable(name), width) << "  " << pad(std::to_string(info.bytes), 8) << "  "
                  << pad(info.payload, 12) << "  " << info.created << '\n';
    }
}

void run_del(const ParsedArgs& args) {
    const std::string hash = hash_of(args);
    auto client = connect(args.positionals.at(0));
    // HLEN then DEL in one round trip, so the count printed is what DEL removed
    // unless a writer slipped in between the two.
    const auto replies = client->pipeline(hash, {Command{"HLEN", hash}, Command{"DEL", hash}});
    const long long fields = replies.at(0).throw_if_error("HLEN " + printable(hash)).as_integer();
    const long long deleted = replies.at(1).throw_if_error("DEL " + printable(hash)).as_integer();
    if (deleted == 0) throw DataError("nothing deleted: no hash '" + printable(hash) + "' (another --prefix?)");
    std::cout << "deleted hash '" << printable(hash) << "' (" << fields << " entr" << (fields == 1 ? "y" : "ies")
              << ")\n";
}

}  // namespace

Subcommand get_command() {
    Subcommand c;
    c.summary = "get URL ID_A ID_B --template FILE   show one entry, decoded as name=value lines";
    c.spec.name = "get";
    c.spec.positionals = {"URL", "ID_A", "ID_B"};
    c.spec.options = {"template", "prefix", "payload"};
    c.spec.help = std::string("Usage: dogpile-redis get URL ID_A ID_B --template FILE [--prefix P] [--payload MODE]\n"
                              "\n"
                              "Shows the hash-store entry of (ID_A, ID_B): field ID_B of the hash <P>ID_A,\n"
                              "decoded with the values-only codec. The stored bytes are a msgpack array of\n"
                              "values in the sorted order of their names; FILE gives the names.\n"
                              "\n"
                              "Prints two '#' lines (size, the hash's TTL, the envelope's metadata when\n"
                              "there is one), then one name=value line per name, sorted by name.\n"
                              "\n"
                              "  --template FILE   the key template: one name per line, in any order\n"
                              "                    (blank lines and lines starting with # are skipped)\n") +
                  key_help + payload_help + "\n" + url_help +
                  "\nExample:\n"
                  "  dogpile-redis get redis://cache:6379/0 7 42 --prefix 'calculated-a|' --template names.txt\n";
    c.run = run_get;
    return c;
}

Subcommand ls_command() {
    Subcommand c;
    c.summary = "ls URL ID_A                         list an id's entries, their sizes and the hash's TTL";
    c.spec.name = "ls";
    c.spec.positionals = {"URL", "ID_A"};
    c.spec.options = {"prefix", "payload"};
    c.spec.help = std::string("Usage: dogpile-redis ls URL ID_A [--prefix P] [--payload MODE]\n"
                              "\n"
                              "Lists the entries of ID_A: the fields (ID_B) of the hash <P>ID_A, with the\n"
                              "hash's TTL (one TTL for all of them), each value's size in bytes and, for\n"
                              "enveloped values, when it was created. Reads with HSCAN, so a large hash is\n"
                              "read in bounded steps.\n"
                              "\n") +
                  key_help + payload_help + "\n" + url_help +
                  "\nExample:\n"
                  "  dogpile-redis ls redis://cache:6379/0 7 --prefix 'calculated-a|'\n";
    c.run = run_ls;
    return c;
}

Subcommand del_command() {
    Subcommand c;
    c.summary = "del URL ID_A                        delete an id's hash: all its entries (logout by hand)";
    c.spec.name = "del";
    c.spec.positionals = {"URL", "ID_A"};
    c.spec.options = {"prefix"};
    c.spec.help = std::string("Usage: dogpile-redis del URL ID_A [--prefix P]\n"
                              "\n"
                              "Deletes the hash <P>ID_A, i.e. every entry of ID_A at once: what the\n"
                              "backend's erase_hash() (a logout) does. There is no confirmation; the next\n"
                              "read of each entry is a miss and recomputes it. Prints what was deleted,\n"
                              "and exits 1 when there was no such hash.\n"
                              "\n") +
                  key_help + "\n" + url_help +
                  "\nExample:\n"
                  "  dogpile-redis del redis://cache:6379/0 7 --prefix 'calculated-a|'\n";
    c.run = run_del;
    return c;
}

}  // namespace dogpile_tool
