#pragma once
/// \file
/// Reply: an owning handle on a hiredis reply tree. Elements of an array are
/// Replies too and share ownership of the root, so a caller can keep one
/// element and drop the rest without a dangling pointer. Copies are cheap
/// (a reference count); the tree itself is never copied.
///
/// Accessors check the type: asking for a string from an error reply throws
/// ReplyError with the server's message, asking for it from anything else that
/// is not a string throws ProtocolError naming both types.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../details/linkage.hpp"
#include "errors.hpp"

struct redisReply;  // hiredis; complete in reply-inl.hpp

namespace dogpile::redis {

/// The type of a reply. RESP2 types first; the RESP3 ones exist only with hiredis 1.x and are
/// listed so a reply from a RESP3 connection is reported by name rather than "unknown".
enum class ReplyType {
    string,
    array,
    integer,
    nil,
    status,
    error,
    floating,
    boolean,
    map,
    set,
    push,
    attribute,
    big_number,
    verbatim,
    unknown
};

/// The type's name ("string", "array", ...), for error messages.
const char* to_string(ReplyType type) noexcept;

/// An owning handle on a hiredis reply tree; copies are cheap and share it. The accessors check the
/// type: an error reply throws ReplyError, any other mismatch ProtocolError.
class Reply {
public:
    /// Takes ownership of a reply returned by hiredis (freed with freeReplyObject).
    static Reply adopt(redisReply* reply);

    /// What the server sent.
    ReplyType type() const noexcept;

    /// A bulk string.
    bool is_string() const noexcept { return type() == ReplyType::string; }
    /// An array.
    bool is_array() const noexcept { return type() == ReplyType::array; }
    /// An integer.
    bool is_integer() const noexcept { return type() == ReplyType::integer; }
    /// Nil: a missing key, field or element.
    bool is_nil() const noexcept { return type() == ReplyType::nil; }
    /// A status reply ("+OK").
    bool is_status() const noexcept { return type() == ReplyType::status; }
    /// An error reply.
    bool is_error() const noexcept { return type() == ReplyType::error; }
    /// The "+OK" status most write commands answer.
    bool is_ok() const noexcept { return is_status() && text() == "OK"; }

    /// Bulk string (also verbatim strings under RESP3), binary-safe; the view
    /// lives as long as this Reply or any copy of it.
    std::string_view view() const;
    /// A copy of view().
    std::string as_string() const { return std::string(view()); }

    /// Nil (a missing key or field) becomes std::nullopt.
    std::optional<std::string> as_optional_string() const {
        if (is_nil()) return std::nullopt;
        return as_string();
    }

    /// The value of an integer reply.
    long long as_integer() const;

    /// The text of a status reply ("OK", "QUEUED", "PONG").
    std::string_view status() const;

    /// The server's message of an error reply. Unlike the other accessors this
    /// does not throw for an error reply: it is how a pipeline result is inspected.
    std::string_view error_message() const;

    /// Throws ReplyError (with the server's message) when this is an error reply.
    const Reply& throw_if_error(std::string_view context = {}) const;

    /// Number of elements of an aggregate (arrays; also sets, maps and pushes
    /// under RESP3).
    std::size_t size() const;
    /// Element `index` of an aggregate; throws ProtocolError when it is out of range.
    Reply at(std::size_t index) const;
    /// at(index).
    Reply operator[](std::size_t index) const { return at(index); }
    /// Every element of an aggregate, in order.
    std::vector<Reply> elements() const;

    /// MGET / HMGET: an array of bulk strings and nils.
    std::vector<std::optional<std::string>> as_optional_strings() const;

    /// KEYS / HKEYS / SMEMBERS: an array of bulk strings.
    std::vector<std::string> as_strings() const;

    /// For code that needs a field this class does not expose.
    const redisReply* raw() const noexcept { return node_.get(); }

private:
    explicit Reply(std::shared_ptr<const redisReply> node) : node_(std::move(node)) {}

    Reply element(std::size_t index) const;
    std::string_view text() const noexcept;
    bool is_aggregate() const noexcept;
    void require_aggregate() const {
        if (!is_aggregate()) fail("array");
    }
    [[noreturn]] void fail(const char* expected) const;

    std::shared_ptr<const redisReply> node_;
};

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "reply-inl.hpp"
#endif
