#pragma once
// Definitions of hash_fields.hpp (details/linkage.hpp: inline when header-only).

#include "hash_fields.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE std::string hash_field_lock_resource(std::string_view hash, std::string_view field) {
    std::string out = std::to_string(hash.size());
    out.reserve(out.size() + hash.size() + field.size() + 2);
    out += ':';
    out.append(hash.data(), hash.size());
    out += '|';
    out.append(field.data(), field.size());
    return out;
}

DOGPILE_INLINE std::string describe_field(std::string_view hash, std::string_view field) {
    return "hash '" + printable(hash) + "' field '" + printable(field) + "'";
}

DOGPILE_INLINE void check_key_bytes(std::string_view bytes, const BackendLimits& limits, std::string_view what) {
    if (bytes.size() > limits.max_key_bytes) {
        throw LimitExceeded(std::string(what) + " '" + printable(bytes) + "' of " + std::to_string(bytes.size()) +
                            " bytes exceeds limits.max_key_bytes (" + std::to_string(limits.max_key_bytes) + ")");
    }
}

DOGPILE_INLINE void check_hash_field(std::string_view hash, std::string_view field, const BackendLimits& limits) {
    check_key_bytes(hash, limits, "hash key");
    check_key_bytes(field, limits, "hash field");
}

DOGPILE_INLINE void throw_if_any_error(const std::vector<Reply>& replies, std::string_view operation) {
    std::size_t failed = 0;
    const Reply* first = nullptr;
    for (const Reply& reply : replies) {
        if (!reply.is_error()) continue;
        if (first == nullptr) first = &reply;
        ++failed;
    }
    if (first == nullptr) return;
    throw ReplyError(std::string(first->error_message()), std::string(operation) + ": " + std::to_string(failed) +
                                                              " of " + std::to_string(replies.size()) +
                                                              " command(s) failed, the first with");
}

DOGPILE_INLINE bool concerns_the_connection(std::string_view error_message) {
    const std::string_view code = ReplyError::code_of(error_message);
    for (const char* c : {"NOAUTH", "NOPERM", "WRONGPASS", "LOADING", "MASTERDOWN", "READONLY", "BUSY"}) {
        if (code == c) return true;
    }
    return false;
}

DOGPILE_INLINE std::optional<Reply> read_field(Client& client, FieldRef key, const BackendLimits& limits) {
    check_hash_field(key.hash, key.field, limits);
    Reply reply = client.command(key.hash, Command{"HGET", key.hash, key.field});
    if (reply.is_nil()) return std::nullopt;
    if (!reply.is_string()) {
        throw ProtocolError(std::string("redis HGET: expected a string or nil, got ") + to_string(reply.type()));
    }
    return reply;
}

DOGPILE_INLINE std::vector<std::optional<Reply>> read_fields(Client& client, const std::vector<FieldRef>& keys,
                                                             const BackendLimits& limits,
                                                             std::size_t max_fields_per_read,
                                                             const StoreStatistics& statistics,
                                                             WholeHashReads* whole_hash) {
    std::vector<std::optional<Reply>> out(keys.size());
    const std::vector<HashGroup> groups =
        group_by_hash(keys.size(), [&](std::size_t i) -> std::optional<std::string_view> {
            try {
                check_hash_field(keys[i].hash, keys[i].field, limits);
            } catch (const LimitExceeded&) {
                statistics.report_rejected_key("get_multi", std::current_exception());
                return std::nullopt;
            }
            return keys[i].hash;
        });
    if (groups.empty()) return out;
    max_fields_per_read = std::max<std::size_t>(1, max_fields_per_read);

    // A server closes the connection of a client whose pending replies
    // outgrow its client-output-buffer-limit, and that costs every key of
    // the call, whatever its hash. So a big hash is read by several HMGETs
    // of at most max_fields_per_read fields, still in the one batch.
    enum class Read { fields, size, whole_hash };
    struct Chunk {
        std::size_t group;
        Read read;
        std::size_t begin;  // into the group's positions (Read::fields)
        std::size_t end;
    };
    std::vector<Chunk> chunks;
    std::vector<KeyedCommand> commands;
    chunks.reserve(groups.size());
    commands.reserve(groups.size());
    for (std::size_t g = 0; g < groups.size(); ++g) {
        const HashGroup& group = groups[g];
        const std::size_t size = group.positions.size();
        const WholeHashReads::Plan plan =
            whole_hash ? whole_hash->plan(group.hash, size, max_fields_per_read) : WholeHashReads::Plan::fields;
        if (plan == WholeHashReads::Plan::whole_hash) {
            commands.push_back(KeyedCommand{std::string(group.hash), Command{"HGETALL", group.hash}});
            chunks.push_back(Chunk{g, Read::whole_hash, 0, size});
            continue;
        }
        for (std::size_t begin = 0; begin < size;) {
            const std::size_t end = begin + std::min(max_fields_per_read, size - begin);
            Command hmget{"HMGET", group.hash};
            for (std::size_t k = begin; k < end; ++k) hmget.arg(keys[group.positions[k]].field);
            commands.push_back(KeyedCommand{std::string(group.hash), std::move(hmget)});
            chunks.push_back(Chunk{g, Read::fields, begin, end});
            begin = end;
        }
        if (plan == WholeHashReads::Plan::fields_and_size) {
            commands.push_back(KeyedCommand{std::string(group.hash), Command{"HLEN", group.hash}});
            chunks.push_back(Chunk{g, Read::size, 0, 0});
        }
    }
    const std::vector<Reply> replies = client.batch(commands);
    if (replies.size() != commands.size()) {
        throw ProtocolError("redis HMGET batch: " + std::to_string(replies.size()) + " replies for " +
                            std::to_string(commands.size()) + " commands");
    }

    const auto store_value = [&](Reply element, std::size_t position, const HashGroup& group, const char* command) {
        if (!element.is_string()) {
            statistics.report_decode_error(
                "get_multi", std::make_exception_ptr(DecodeError(describe_field(group.hash, keys[position].field) +
                                                                 ": " + command + " returned a " +
                                                                 to_string(element.type()) + " instead of a string")));
            return;
        }
        out[position] = std::move(element);
    };
    // Keys of hashes whose HGETALL was refused, read again by HMGET.
    std::vector<std::size_t> reread;

    for (std::size_t c = 0; c < chunks.size(); ++c) {
        const Chunk& chunk = chunks[c];
        const HashGroup& group = groups[chunk.group];
        const Reply& reply = replies[c];
        if (chunk.read == Read::size) {
            if (reply.is_integer() && reply.as_integer() >= 0) {
                whole_hash->learn_size(group.hash, static_cast<std::size_t>(reply.as_integer()));
            } else if (reply.is_error() && ReplyError::code_of(reply.error_message()) == "NOPERM") {
                whole_hash->refuse();
            }
            continue;  // the HMGETs beside it carry the entries and any other error
        }
        if (chunk.read == Read::whole_hash && reply.is_error() &&
            ReplyError::code_of(reply.error_message()) == "NOPERM") {
            whole_hash->refuse();
            reread.insert(reread.end(), group.positions.begin(), group.positions.end());
            continue;
        }
        const std::size_t fields = chunk.end - chunk.begin;
        const char* command = chunk.read == Read::whole_hash ? "HGETALL" : "HMGET";
        const auto context = [&] {
            std::string out = std::string("redis ") + command + " " + printable(group.hash);
            if (fields == group.positions.size()) return out;
            return out + " (fields " + std::to_string(chunk.begin + 1) + ".." + std::to_string(chunk.end) + " of " +
                   std::to_string(group.positions.size()) + ")";
        };
        if (reply.is_error()) {
            // An error about this one hash (WRONGTYPE) costs only this
            // command's entries; one about the connection or its rights
            // concerns every key, so the region must see it (count, hook,
            // policy).
            if (concerns_the_connection(reply.error_message())) {
                throw ReplyError(std::string(reply.error_message()), context());
            }
            statistics.report_reply_error(
                "get_multi", std::make_exception_ptr(ReplyError(std::string(reply.error_message()), context())));
            continue;
        }
        if (chunk.read == Read::whole_hash) {
            // Field, value, field, value... (a map under RESP3).
            const bool pairs = (reply.is_array() || reply.type() == ReplyType::map) && reply.size() % 2 == 0;
            if (!pairs) {
                throw ProtocolError(context() + ": expected field/value pairs, got " + to_string(reply.type()) +
                                    (reply.is_array() ? " of odd length" : ""));
            }
            whole_hash->learn_size(group.hash, reply.size() / 2);
            const AskedFields asked(group.positions.size(),
                                    [&](std::size_t i) { return keys[group.positions[i]].field; });
            for (std::size_t k = 0; k + 1 < reply.size(); k += 2) {
                const Reply field = reply.at(k);
                if (!field.is_string()) continue;
                asked.for_each_match(field.view(), [&](std::size_t i) {
                    store_value(reply.at(k + 1), group.positions[i], group, command);
                });
            }
            continue;
        }
        if (!reply.is_array() || reply.size() != fields) {
            throw ProtocolError(context() + ": expected an array of " + std::to_string(fields) + " elements, got " +
                                to_string(reply.type()));
        }
        for (std::size_t k = 0; k < fields; ++k) {
            Reply element = reply.at(k);
            if (element.is_nil()) continue;
            store_value(std::move(element), group.positions[chunk.begin + k], group, command);
        }
    }

    if (!reread.empty()) {
        std::vector<FieldRef> again;
        again.reserve(reread.size());
        for (std::size_t position : reread) again.push_back(keys[position]);
        std::vector<std::optional<Reply>> found = read_fields(client, again, limits, max_fields_per_read, statistics);
        for (std::size_t i = 0; i < reread.size(); ++i) out[reread[i]] = std::move(found[i]);
    }
    return out;
}

}  // namespace dogpile::redis::details
