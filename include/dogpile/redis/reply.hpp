#pragma once
// Reply: an owning handle on a hiredis reply tree. Elements of an array are
// Replies too and share ownership of the root, so a caller can keep one
// element and drop the rest without a dangling pointer. Copies are cheap
// (a reference count); the tree itself is never copied.
//
// Accessors check the type: asking for a string from an error reply throws
// ReplyError with the server's message, asking for it from anything else that
// is not a string throws ProtocolError naming both types.

#include <hiredis/hiredis.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "errors.hpp"

namespace dogpile::redis {

// RESP2 types first; the RESP3 ones exist only with hiredis 1.x and are listed
// so a reply from a RESP3 connection is reported by name rather than "unknown".
enum class ReplyType { string, array, integer, nil, status, error, floating, boolean, map, set, push, attribute, big_number, verbatim, unknown };

inline const char* to_string(ReplyType type) noexcept {
    switch (type) {
        case ReplyType::string: return "string";
        case ReplyType::array: return "array";
        case ReplyType::integer: return "integer";
        case ReplyType::nil: return "nil";
        case ReplyType::status: return "status";
        case ReplyType::error: return "error";
        case ReplyType::floating: return "double";
        case ReplyType::boolean: return "bool";
        case ReplyType::map: return "map";
        case ReplyType::set: return "set";
        case ReplyType::push: return "push";
        case ReplyType::attribute: return "attribute";
        case ReplyType::big_number: return "bignumber";
        case ReplyType::verbatim: return "verbatim";
        case ReplyType::unknown: break;
    }
    return "unknown";
}

class Reply {
public:
    // Takes ownership of a reply returned by hiredis (freed with freeReplyObject).
    static Reply adopt(redisReply* reply) {
        if (reply == nullptr) throw ProtocolError("redis: hiredis returned no reply object");
        return Reply(std::shared_ptr<const redisReply>(reply, [](const redisReply* r) {
            freeReplyObject(const_cast<redisReply*>(r));
        }));
    }

    ReplyType type() const noexcept {
        switch (node_->type) {
            case REDIS_REPLY_STRING: return ReplyType::string;
            case REDIS_REPLY_ARRAY: return ReplyType::array;
            case REDIS_REPLY_INTEGER: return ReplyType::integer;
            case REDIS_REPLY_NIL: return ReplyType::nil;
            case REDIS_REPLY_STATUS: return ReplyType::status;
            case REDIS_REPLY_ERROR: return ReplyType::error;
#ifdef REDIS_REPLY_DOUBLE
            case REDIS_REPLY_DOUBLE: return ReplyType::floating;
#endif
#ifdef REDIS_REPLY_BOOL
            case REDIS_REPLY_BOOL: return ReplyType::boolean;
#endif
#ifdef REDIS_REPLY_MAP
            case REDIS_REPLY_MAP: return ReplyType::map;
#endif
#ifdef REDIS_REPLY_SET
            case REDIS_REPLY_SET: return ReplyType::set;
#endif
#ifdef REDIS_REPLY_PUSH
            case REDIS_REPLY_PUSH: return ReplyType::push;
#endif
#ifdef REDIS_REPLY_ATTR
            case REDIS_REPLY_ATTR: return ReplyType::attribute;
#endif
#ifdef REDIS_REPLY_BIGNUM
            case REDIS_REPLY_BIGNUM: return ReplyType::big_number;
#endif
#ifdef REDIS_REPLY_VERB
            case REDIS_REPLY_VERB: return ReplyType::verbatim;
#endif
            default: return ReplyType::unknown;
        }
    }

    bool is_string() const noexcept { return type() == ReplyType::string; }
    bool is_array() const noexcept { return type() == ReplyType::array; }
    bool is_integer() const noexcept { return type() == ReplyType::integer; }
    bool is_nil() const noexcept { return type() == ReplyType::nil; }
    bool is_status() const noexcept { return type() == ReplyType::status; }
    bool is_error() const noexcept { return type() == ReplyType::error; }
    // The "+OK" status most write commands answer.
    bool is_ok() const noexcept { return is_status() && text() == "OK"; }

    // Bulk string (also verbatim strings under RESP3), binary-safe; the view
    // lives as long as this Reply or any copy of it.
    std::string_view view() const {
        const ReplyType t = type();
        if (t != ReplyType::string && t != ReplyType::verbatim) fail("string");
        return text();
    }
    std::string as_string() const { return std::string(view()); }

    // Nil (a missing key or field) becomes std::nullopt.
    std::optional<std::string> as_optional_string() const {
        if (is_nil()) return std::nullopt;
        return as_string();
    }

    long long as_integer() const {
        if (!is_integer()) fail("integer");
        return node_->integer;
    }

    // The text of a status reply ("OK", "QUEUED", "PONG").
    std::string_view status() const {
        if (!is_status()) fail("status");
        return text();
    }

    // The server's message of an error reply. Unlike the other accessors this
    // does not throw for an error reply: it is how a pipeline result is inspected.
    std::string_view error_message() const {
        if (!is_error()) fail("error");
        return text();
    }

    // Throws ReplyError (with the server's message) when this is an error reply.
    const Reply& throw_if_error(std::string_view context = {}) const {
        if (is_error()) throw ReplyError(std::string(text()), context);
        return *this;
    }

    // Aggregates (arrays; also sets, maps and pushes under RESP3).
    std::size_t size() const {
        require_aggregate();
        return node_->elements;
    }
    Reply at(std::size_t index) const {
        require_aggregate();
        if (index >= node_->elements) {
            throw ProtocolError("redis: reply element " + std::to_string(index) + " requested, the array has " +
                                std::to_string(node_->elements));
        }
        return Reply(std::shared_ptr<const redisReply>(node_, node_->element[index]));
    }
    Reply operator[](std::size_t index) const { return at(index); }
    std::vector<Reply> elements() const {
        std::vector<Reply> out;
        const std::size_t n = size();
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) out.push_back(Reply(std::shared_ptr<const redisReply>(node_, node_->element[i])));
        return out;
    }

    // MGET / HMGET: an array of bulk strings and nils.
    std::vector<std::optional<std::string>> as_optional_strings() const {
        std::vector<std::optional<std::string>> out;
        const std::size_t n = size();
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            out.push_back(Reply(std::shared_ptr<const redisReply>(node_, node_->element[i])).as_optional_string());
        }
        return out;
    }

    // KEYS / HKEYS / SMEMBERS: an array of bulk strings.
    std::vector<std::string> as_strings() const {
        std::vector<std::string> out;
        const std::size_t n = size();
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            out.push_back(Reply(std::shared_ptr<const redisReply>(node_, node_->element[i])).as_string());
        }
        return out;
    }

    // For code that needs a field this class does not expose.
    const redisReply* raw() const noexcept { return node_.get(); }

private:
    explicit Reply(std::shared_ptr<const redisReply> node) : node_(std::move(node)) {}

    std::string_view text() const noexcept {
        if (node_->str == nullptr) return {};
        return std::string_view(node_->str, static_cast<std::size_t>(node_->len));
    }

    bool is_aggregate() const noexcept {
        switch (type()) {
            case ReplyType::array:
            case ReplyType::map:
            case ReplyType::set:
            case ReplyType::push:
            case ReplyType::attribute: return true;
            default: return false;
        }
    }

    void require_aggregate() const {
        if (!is_aggregate()) fail("array");
    }

    [[noreturn]] void fail(const char* expected) const {
        if (is_error()) throw ReplyError(std::string(text()));
        throw ProtocolError(std::string("redis: expected ") + expected + " reply, got " + to_string(type()));
    }

    std::shared_ptr<const redisReply> node_;
};

}  // namespace dogpile::redis
