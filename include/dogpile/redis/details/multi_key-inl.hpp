#pragma once
// Definitions of multi_key.hpp (details/linkage.hpp: inline when header-only).

#include <hiredis/hiredis.h>

#include "multi_key.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE std::optional<MultiKeyShape> multi_key_shape(const Command& cmd) noexcept {
    const std::string_view name = cmd.name();
    if (iequals_ascii(name, "MGET")) return MultiKeyShape{MergeKind::values, 1};
    if (iequals_ascii(name, "DEL") || iequals_ascii(name, "UNLINK") || iequals_ascii(name, "EXISTS") ||
        iequals_ascii(name, "TOUCH")) {
        return MultiKeyShape{MergeKind::sum, 1};
    }
    if (iequals_ascii(name, "MSET")) return MultiKeyShape{MergeKind::all_ok, 2};
    return std::nullopt;
}

DOGPILE_INLINE std::optional<std::vector<SplitPart>> split_by_slot(const Command& cmd) {
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

DOGPILE_INLINE Reply reply_from_resp(const std::string& resp) {
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

DOGPILE_INLINE void append_bulk_or_nil(std::string& out, const Reply& element) {
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

DOGPILE_INLINE Reply merge_split_replies(const Command& original, const std::vector<SplitPart>& parts,
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
            if (!r.is_ok())
                throw ProtocolError("redis MSET part: expected OK, got " + std::string(to_string(r.type())));
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
