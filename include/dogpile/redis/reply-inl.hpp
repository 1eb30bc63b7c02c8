#pragma once
// Definitions of reply.hpp (details/linkage.hpp: inline when header-only).

#include <hiredis/hiredis.h>

#include "reply.hpp"

namespace dogpile::redis {

DOGPILE_INLINE const char* to_string(ReplyType type) noexcept {
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

DOGPILE_INLINE Reply Reply::adopt(redisReply* reply) {
    if (reply == nullptr) throw ProtocolError("redis: hiredis returned no reply object");
    return Reply(std::shared_ptr<const redisReply>(
        reply, [](const redisReply* r) { freeReplyObject(const_cast<redisReply*>(r)); }));
}

DOGPILE_INLINE ReplyType Reply::type() const noexcept {
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

DOGPILE_INLINE std::string_view Reply::view() const {
    const ReplyType t = type();
    if (t != ReplyType::string && t != ReplyType::verbatim) fail("string");
    return text();
}

DOGPILE_INLINE long long Reply::as_integer() const {
    if (!is_integer()) fail("integer");
    return node_->integer;
}

DOGPILE_INLINE std::string_view Reply::status() const {
    if (!is_status()) fail("status");
    return text();
}

DOGPILE_INLINE std::string_view Reply::error_message() const {
    if (!is_error()) fail("error");
    return text();
}

DOGPILE_INLINE const Reply& Reply::throw_if_error(std::string_view context) const {
    if (is_error()) throw ReplyError(std::string(text()), context);
    return *this;
}

DOGPILE_INLINE std::size_t Reply::size() const {
    require_aggregate();
    return node_->elements;
}

DOGPILE_INLINE Reply Reply::at(std::size_t index) const {
    require_aggregate();
    if (index >= node_->elements) {
        throw ProtocolError("redis: reply element " + std::to_string(index) + " requested, the array has " +
                            std::to_string(node_->elements));
    }
    return element(index);
}

// Shares ownership of the root, so the element outlives this handle.
DOGPILE_INLINE Reply Reply::element(std::size_t index) const {
    return Reply(std::shared_ptr<const redisReply>(node_, node_->element[index]));
}

DOGPILE_INLINE std::vector<Reply> Reply::elements() const {
    std::vector<Reply> out;
    const std::size_t n = size();
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.push_back(element(i));
    return out;
}

DOGPILE_INLINE std::vector<std::optional<std::string>> Reply::as_optional_strings() const {
    std::vector<std::optional<std::string>> out;
    const std::size_t n = size();
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.push_back(element(i).as_optional_string());
    return out;
}

DOGPILE_INLINE std::vector<std::string> Reply::as_strings() const {
    std::vector<std::string> out;
    const std::size_t n = size();
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.push_back(element(i).as_string());
    return out;
}

DOGPILE_INLINE std::string_view Reply::text() const noexcept {
    if (node_->str == nullptr) return {};
    return std::string_view(node_->str, static_cast<std::size_t>(node_->len));
}

DOGPILE_INLINE bool Reply::is_aggregate() const noexcept {
    switch (type()) {
        case ReplyType::array:
        case ReplyType::map:
        case ReplyType::set:
        case ReplyType::push:
        case ReplyType::attribute: return true;
        default: return false;
    }
}

DOGPILE_INLINE void Reply::fail(const char* expected) const {
    if (is_error()) throw ReplyError(std::string(text()));
    throw ProtocolError(std::string("redis: expected ") + expected + " reply, got " + to_string(type()));
}

}  // namespace dogpile::redis
