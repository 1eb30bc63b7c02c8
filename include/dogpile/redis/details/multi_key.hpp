#pragma once
// Multi-key commands in a cluster. A command naming several keys runs on one
// node only when all its keys share a slot (else the server answers
// CROSSSLOT). The commands below are independent per key, so a cluster
// client splits them into one command per slot, runs those (grouped by
// node, one pipeline per node), and merges the replies into the reply one
// server would have given:
//
//   MGET k...          array of the values, in the order asked
//   DEL / UNLINK / EXISTS / TOUCH k...   sum of the integers
//   MSET k v k v...    OK when every part answered OK
//
// The split command is not atomic across slots (nor is it on one server
// with respect to keys on other servers): each part is.
//
// Merged replies are built by serialising the parts to RESP and parsing that
// with hiredis' own reader, so they are ordinary Reply objects.

#include <hiredis/hiredis.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../command.hpp"
#include "../errors.hpp"
#include "../reply.hpp"
#include "../slot.hpp"
#include "ascii.hpp"
#include "group_positions.hpp"

namespace dogpile::redis::details {

enum class MergeKind { values, sum, all_ok };

// How a splittable command lays out its keys: arguments from `first`, one
// key every `step` arguments.
struct MultiKeyShape {
    MergeKind merge;
    std::size_t step;
};

inline std::optional<MultiKeyShape> multi_key_shape(const Command& cmd) noexcept {
    const std::string_view name = cmd.name();
    if (iequals_ascii(name, "MGET")) return MultiKeyShape{MergeKind::values, 1};
    if (iequals_ascii(name, "DEL") || iequals_ascii(name, "UNLINK") || iequals_ascii(name, "EXISTS") ||
        iequals_ascii(name, "TOUCH")) {
        return MultiKeyShape{MergeKind::sum, 1};
    }
    if (iequals_ascii(name, "MSET")) return MultiKeyShape{MergeKind::all_ok, 2};
    return std::nullopt;
}

// One per-slot part of a split command.
struct SplitPart {
    int slot;
    Command command;
    std::vector<std::size_t> positions;  // key positions (0-based) of the original it carries
};

// The per-slot parts of `cmd`, or nothing when it needs no split (not a
// splittable command, malformed, or all keys in one slot).
inline std::optional<std::vector<SplitPart>> split_by_slot(const Command& cmd) {
    const auto shape = multi_key_shape(cmd);
    if (!shape || cmd.size() < 1 + shape->step || (cmd.size() - 1) % shape->step != 0) return std::nullopt;
    const std::size_t keys = (cmd.size() - 1) / shape->step;
    const int first_slot = key_slot(cmd[1]);
    bool several = false;
    for (std::size_t k = 1; k < keys && !several; ++k) several = key_slot(cmd[1 + k * shape->step]) != first_slot;
    if (!several) return std::nullopt;

    auto by_slot = group_positions(keys, [&](std::size_t k) { return key_slot(cmd[1 + k * shape->step]); });
    std::vector<SplitPart> parts;
    parts.reserve(by_slot.size());
    for (auto& group : by_slot) {
        SplitPart part{group.key, Command{cmd.name()}, {}};
        for (std::size_t k : group.positions) {
            for (std::size_t j = 0; j < shape->step; ++j) part.command.arg(cmd[1 + k * shape->step + j]);
        }
        part.positions = std::move(group.positions);
        parts.push_back(std::move(part));
    }
    return parts;
}

// A Reply parsed from RESP text by hiredis' reader.
inline Reply reply_from_resp(const std::string& resp) {
    redisReader* reader = redisReaderCreate();
    if (reader == nullptr) throw RedisError("redis: cannot allocate a reply reader");
    void* raw = nullptr;
    const bool ok = redisReaderFeed(reader, resp.data(), resp.size()) == REDIS_OK &&
                    redisReaderGetReply(reader, &raw) == REDIS_OK && raw != nullptr;
    redisReaderFree(reader);
    if (!ok) {
        if (raw != nullptr) freeReplyObject(raw);
        throw ProtocolError("redis: could not rebuild a merged cluster reply");
    }
    return Reply::adopt(static_cast<redisReply*>(raw));
}

inline void append_bulk_or_nil(std::string& out, const Reply& element) {
    if (element.is_nil()) {
        out += "$-1\r\n";
        return;
    }
    const std::string_view v = element.view();
    out += '$';
    out += std::to_string(v.size());
    out += "\r\n";
    out.append(v.data(), v.size());
    out += "\r\n";
}

// Merges the parts' replies (in part order) into the reply of the original
// command. An error reply of any part is the merged reply (the first one).
inline Reply merge_split_replies(const Command& original, const std::vector<SplitPart>& parts,
                                 const std::vector<Reply>& replies) {
    for (const Reply& r : replies) {
        if (r.is_error()) return r;
    }
    const MergeKind kind = multi_key_shape(original)->merge;
    if (kind == MergeKind::sum) {
        long long total = 0;
        for (const Reply& r : replies) total += r.as_integer();
        return reply_from_resp(":" + std::to_string(total) + "\r\n");
    }
    if (kind == MergeKind::all_ok) {
        for (const Reply& r : replies) {
            if (!r.is_ok()) throw ProtocolError("redis MSET part: expected OK, got " + std::string(to_string(r.type())));
        }
        return replies.front();
    }
    std::size_t keys = 0;
    for (const auto& p : parts) keys += p.positions.size();
    std::vector<const Reply*> slots(keys, nullptr);
    std::vector<Reply> elements;
    elements.reserve(keys);
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (!replies[i].is_array() || replies[i].size() != parts[i].positions.size()) {
            throw ProtocolError("redis MGET part: expected an array of " + std::to_string(parts[i].positions.size()) +
                                " elements");
        }
        for (std::size_t k = 0; k < parts[i].positions.size(); ++k) elements.push_back(replies[i].at(k));
    }
    std::size_t e = 0;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        for (std::size_t position : parts[i].positions) slots[position] = &elements[e++];
    }
    std::string resp = "*" + std::to_string(keys) + "\r\n";
    for (const Reply* element : slots) append_bulk_or_nil(resp, *element);
    return reply_from_resp(resp);
}

}  // namespace dogpile::redis::details
