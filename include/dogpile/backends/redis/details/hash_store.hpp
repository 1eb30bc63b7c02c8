#pragma once
// HashStoreCore: what the hash store (backends/redis_hash.hpp) and the
// symmetric store (backends/redis_symmetric.hpp) share: key checks, payload
// encoding, reads (HGET, and grouped HMGETs in one round trip), the checking
// of pipelined write replies, and lock resource names.

#include <algorithm>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../../../cached_value.hpp"
#include "../../../errors.hpp"
#include "../../../redis/client.hpp"
#include "../../../redis/command.hpp"
#include "../../../redis/errors.hpp"
#include "../../../redis/reply.hpp"
#include "../backend_options.hpp"
#include "payload.hpp"

namespace dogpile::redis::details {

// The distributed lock resource of one hash field: "<hash length>:<hash>|<field>".
// The length makes it unambiguous (hash "a|b" field "c" and hash "a" field
// "b|c" must not share a lock: get_or_create_multi may hold both at once).
inline std::string hash_field_lock_resource(std::string_view hash, std::string_view field) {
    std::string out = std::to_string(hash.size());
    out.reserve(out.size() + hash.size() + field.size() + 2);
    out += ':';
    out.append(hash.data(), hash.size());
    out += '|';
    out.append(field.data(), field.size());
    return out;
}

inline std::string describe_field(std::string_view hash, std::string_view field) {
    return "hash '" + printable(hash) + "' field '" + printable(field) + "'";
}

// Throws LimitExceeded when a key part is longer than limits.max_key_bytes.
inline void check_key_bytes(std::string_view bytes, const BackendLimits& limits, std::string_view what) {
    if (bytes.size() > limits.max_key_bytes) {
        throw LimitExceeded(std::string(what) + " '" + printable(bytes) + "' of " + std::to_string(bytes.size()) +
                            " bytes exceeds limits.max_key_bytes (" + std::to_string(limits.max_key_bytes) + ")");
    }
}

inline void check_hash_field(std::string_view hash, std::string_view field, const BackendLimits& limits) {
    check_key_bytes(hash, limits, "hash key");
    check_key_bytes(field, limits, "hash field");
}

// Pipelined writes return error replies in place; the write as a whole failed
// if any of them is one. Throws ReplyError with the first error and a count.
inline void throw_if_any_error(const std::vector<Reply>& replies, std::string_view operation) {
    std::size_t failed = 0;
    const Reply* first = nullptr;
    for (const Reply& reply : replies) {
        if (!reply.is_error()) continue;
        if (first == nullptr) first = &reply;
        ++failed;
    }
    if (first == nullptr) return;
    throw ReplyError(std::string(first->error_message()),
                     std::string(operation) + ": " + std::to_string(failed) + " of " + std::to_string(replies.size()) +
                         " command(s) failed, the first with");
}

inline bool concerns_the_connection(std::string_view error_message) {
    const std::string_view code = ReplyError::code_of(error_message);
    for (const char* c : {"NOAUTH", "NOPERM", "WRONGPASS", "LOADING", "MASTERDOWN", "READONLY", "BUSY"}) {
        if (code == c) return true;
    }
    return false;
}

template <class Value, class Codec>
class HashStoreCore {
public:
    using entry_type = CachedValue<Value>;

    // max_fields_per_read: the backend's validated option (at least 1).
    HashStoreCore(std::shared_ptr<Client> client, PayloadCodec<Value, Codec> payload, BackendErrorHook hook,
                  std::size_t max_fields_per_read)
        : client_(std::move(client)),
          payload_(std::move(payload)),
          hook_(std::move(hook)),
          max_fields_per_read_(std::max<std::size_t>(1, max_fields_per_read)) {}

    Client& client() const noexcept { return *client_; }
    const std::shared_ptr<Client>& client_ptr() const noexcept { return client_; }
    const PayloadCodec<Value, Codec>& payload() const noexcept { return payload_; }
    const BackendLimits& limits() const noexcept { return payload_.limits(); }

    RedisBackendStats stats() const noexcept { return counters_.snapshot(); }
    void reset_stats() noexcept { counters_.reset(); }

    // Throws LimitExceeded (over-long hash or field) and whatever the codec
    // throws while encoding.
    std::string encode(const entry_type& entry, std::string_view hash, std::string_view field) const {
        return payload_.encode(entry, [&] { return describe_field(hash, field); });
    }

    // HGET. Throws LimitExceeded for an over-long key (nothing is sent) and
    // DecodeError for a stored value that cannot be decoded.
    std::optional<entry_type> get(std::string_view hash, std::string_view field) const {
        check_hash_field(hash, field, limits());
        const Reply reply = client_->command(hash, Command{"HGET", hash, field});
        if (reply.is_nil()) return std::nullopt;
        if (!reply.is_string()) {
            throw ProtocolError(std::string("redis HGET: expected a string or nil, got ") + to_string(reply.type()));
        }
        try {
            return payload_.decode(reply.view(), [&] { return describe_field(hash, field); });
        } catch (const DecodeError&) {
            counters_.decode_errors.fetch_add(1, std::memory_order_relaxed);
            throw;
        }
    }

    // One HMGET per distinct hash and per max_fields_per_read of its fields,
    // all pipelined: one round trip on a single server whatever the number of
    // keys or hashes (a cluster client groups them per node). `at(i)` gives
    // the i-th (hash, field) as string views that stay valid during the call.
    // Results in order; an over-long key, an undecodable value or an error
    // reply for one HMGET turns only the entries concerned into misses, each
    // counted and reported through the hook.
    template <class At>
    std::vector<std::optional<entry_type>> get_multi(std::size_t count, At&& at) const {
        std::vector<std::optional<entry_type>> out(count);
        struct Group {
            std::string_view hash;
            std::vector<std::size_t> positions;
        };
        std::vector<Group> groups;
        std::unordered_map<std::string_view, std::size_t> index;
        for (std::size_t i = 0; i < count; ++i) {
            const std::pair<std::string_view, std::string_view> key = at(i);
            try {
                check_hash_field(key.first, key.second, limits());
            } catch (const LimitExceeded&) {
                counters_.rejected_keys.fetch_add(1, std::memory_order_relaxed);
                report(hook_, "get_multi", std::current_exception());
                continue;
            }
            const auto [it, inserted] = index.try_emplace(key.first, groups.size());
            if (inserted) groups.push_back(Group{key.first, {}});
            groups[it->second].positions.push_back(i);
        }
        if (groups.empty()) return out;

        // A server closes the connection of a client whose pending replies
        // outgrow its client-output-buffer-limit, and that costs every key of
        // the call, whatever its hash. So a big hash is read by several HMGETs
        // of at most max_fields_per_read fields, still in the one batch.
        struct Chunk {
            std::size_t group;
            std::size_t begin;  // into the group's positions
            std::size_t end;
        };
        std::vector<Chunk> chunks;
        std::vector<KeyedCommand> commands;
        chunks.reserve(groups.size());
        commands.reserve(groups.size());
        for (std::size_t g = 0; g < groups.size(); ++g) {
            const Group& group = groups[g];
            const std::size_t size = group.positions.size();
            for (std::size_t begin = 0; begin < size;) {
                const std::size_t end = begin + std::min(max_fields_per_read_, size - begin);
                Command hmget{"HMGET", group.hash};
                for (std::size_t k = begin; k < end; ++k) hmget.arg(at(group.positions[k]).second);
                commands.push_back(KeyedCommand{std::string(group.hash), std::move(hmget)});
                chunks.push_back(Chunk{g, begin, end});
                begin = end;
            }
        }
        const std::vector<Reply> replies = client_->batch(commands);
        if (replies.size() != commands.size()) {
            throw ProtocolError("redis HMGET batch: " + std::to_string(replies.size()) + " replies for " +
                                std::to_string(commands.size()) + " commands");
        }

        for (std::size_t c = 0; c < chunks.size(); ++c) {
            const Chunk& chunk = chunks[c];
            const Group& group = groups[chunk.group];
            const std::size_t fields = chunk.end - chunk.begin;
            const Reply& reply = replies[c];
            const auto context = [&] {
                std::string out = "redis HMGET " + printable(group.hash);
                if (fields == group.positions.size()) return out;
                return out + " (fields " + std::to_string(chunk.begin + 1) + ".." + std::to_string(chunk.end) +
                       " of " + std::to_string(group.positions.size()) + ")";
            };
            if (reply.is_error()) {
                // An error about this one hash (WRONGTYPE) costs only this
                // HMGET's entries; one about the connection or its rights
                // concerns every key, so the region must see it (count, hook,
                // policy).
                if (concerns_the_connection(reply.error_message())) {
                    throw ReplyError(std::string(reply.error_message()), context());
                }
                counters_.reply_errors.fetch_add(1, std::memory_order_relaxed);
                report(hook_, "get_multi",
                       std::make_exception_ptr(ReplyError(std::string(reply.error_message()), context())));
                continue;
            }
            if (!reply.is_array() || reply.size() != fields) {
                throw ProtocolError(context() + ": expected an array of " + std::to_string(fields) +
                                    " elements, got " + to_string(reply.type()));
            }
            for (std::size_t k = 0; k < fields; ++k) {
                const Reply element = reply.at(k);
                if (element.is_nil()) continue;
                const std::size_t position = group.positions[chunk.begin + k];
                const std::string_view field = at(position).second;
                try {
                    if (!element.is_string()) {
                        throw DecodeError(describe_field(group.hash, field) + ": HMGET returned a " +
                                          to_string(element.type()) + " instead of a string");
                    }
                    out[position] =
                        payload_.decode(element.view(), [&] { return describe_field(group.hash, field); });
                } catch (const DecodeError&) {
                    counters_.decode_errors.fetch_add(1, std::memory_order_relaxed);
                    report(hook_, "get_multi", std::current_exception());
                }
            }
        }
        return out;
    }

private:
    std::shared_ptr<Client> client_;
    PayloadCodec<Value, Codec> payload_;
    BackendErrorHook hook_;
    std::size_t max_fields_per_read_;
    mutable BackendCounters counters_;
};

}  // namespace dogpile::redis::details
