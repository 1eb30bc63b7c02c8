#pragma once
/// \file
/// Command: one Redis command as an owned, binary-safe argument vector. It is
/// sent as length-prefixed arguments only (details/resp_command.hpp), so
/// arguments may hold spaces, newlines or NUL bytes; nothing is ever formatted
/// through printf-style strings. The arguments live in one buffer, so a command costs two
/// allocations however many arguments it has.
///
/// \code
///   Command{"HSET", key, field, payload}
///   Command{"EXPIRE"}.arg(key).arg(seconds)      // integers are written in decimal
///   Command{"HMGET", key}.args(fields)           // any range of string-likes
/// \endcode

#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace dogpile::redis {

/// One Redis command as an owned, binary-safe argument vector: arguments may hold spaces, newlines
/// or NUL bytes. `Command{"EXPIRE"}.arg(key).arg(seconds)`.
class Command {
public:
    Command() = default;
    /// The arguments in order, the command name first: `Command{"HSET", key, field, payload}`.
    Command(std::initializer_list<std::string_view> args) {
        for (std::string_view a : args) arg(a);
    }

    /// From a range of strings or string views: std::vector<std::string>, ...
    template <class Range, class = decltype(std::string_view(*std::begin(std::declval<const Range&>())))>
    static Command from(const Range& args) {
        Command c;
        c.args(args);
        return c;
    }

    /// Appends one argument, copied; returns *this for chaining.
    Command& arg(std::string_view a) {
        buffer_.append(a.data(), a.size());
        ends_.push_back(buffer_.size());
        return *this;
    }

    template <
        class Int,
        std::enable_if_t<std::is_integral_v<Int> && !std::is_same_v<Int, bool> && !std::is_same_v<Int, char>, int> = 0>
    /// Appends an integer argument, written in decimal.
    Command& arg(Int value) {
        return arg(std::string_view(std::to_string(value)));
    }

    /// Appends every element of a range of string-likes.
    template <class Range>
    Command& args(const Range& range) {
        for (const auto& a : range) arg(std::string_view(a));
        return *this;
    }

    /// Number of arguments, the name included.
    std::size_t size() const noexcept { return ends_.size(); }
    /// True when it has no arguments at all.
    bool empty() const noexcept { return ends_.empty(); }

    /// Argument `i` (0: the name); `i` must be below size(). Valid until the command is changed.
    std::string_view operator[](std::size_t i) const noexcept {
        const std::size_t begin = i == 0 ? 0 : ends_[i - 1];
        return std::string_view(buffer_).substr(begin, ends_[i] - begin);
    }

    /// The command name (first argument), or empty for an empty command.
    std::string_view name() const noexcept { return empty() ? std::string_view{} : (*this)[0]; }

    /// The arguments as separate strings, e.g. for logging or tests.
    std::vector<std::string> to_vector() const {
        std::vector<std::string> out;
        out.reserve(size());
        for (std::size_t i = 0; i < size(); ++i) out.emplace_back((*this)[i]);
        return out;
    }

    /// Same arguments, byte for byte.
    friend bool operator==(const Command& a, const Command& b) noexcept {
        return a.ends_ == b.ends_ && a.buffer_ == b.buffer_;
    }
    /// Negation of operator==.
    friend bool operator!=(const Command& a, const Command& b) noexcept { return !(a == b); }

private:
    std::string buffer_;
    std::vector<std::size_t> ends_;
};

}  // namespace dogpile::redis
