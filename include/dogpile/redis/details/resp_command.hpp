#pragma once
// append_resp_command: one command in the Redis protocol (an array of bulk
// strings), appended to a send buffer. The bytes are exactly those of
// hiredis' redisFormatCommandArgv, written without its sprintf per argument
// and its temporary buffer: a 100-field HMGET spent more time being formatted
// than its reply took to parse.

#include <charconv>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

namespace dogpile::redis::details {

inline std::size_t decimal_digits(std::size_t n) noexcept {
    std::size_t digits = 1;
    for (; n >= 10; n /= 10) ++digits;
    return digits;
}

inline char* write_resp_length(char* at, char marker, std::size_t n) noexcept {
    *at++ = marker;
    at = std::to_chars(at, at + 20, n).ptr;
    *at++ = '\r';
    *at++ = '\n';
    return at;
}

// `arg_at(i)` gives argument i as something convertible to std::string_view.
// Either the whole command is appended or, when the buffer cannot grow
// (std::bad_alloc), nothing is.
template <class ArgAt>
void append_resp_command(std::string& out, std::size_t argc, const ArgAt& arg_at) {
    std::size_t size = 1 + decimal_digits(argc) + 2;
    for (std::size_t i = 0; i < argc; ++i) {
        const std::size_t length = std::string_view(arg_at(i)).size();
        size += 1 + decimal_digits(length) + 2 + length + 2;
    }
    const std::size_t start = out.size();
    out.resize(start + size);
    char* at = out.data() + start;
    at = write_resp_length(at, '*', argc);
    for (std::size_t i = 0; i < argc; ++i) {
        const std::string_view arg(arg_at(i));
        at = write_resp_length(at, '$', arg.size());
        if (!arg.empty()) std::memcpy(at, arg.data(), arg.size());
        at += arg.size();
        *at++ = '\r';
        *at++ = '\n';
    }
}

}  // namespace dogpile::redis::details
