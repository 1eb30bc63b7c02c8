#pragma once
// A strict msgpack reader for dogpile's own codecs (it returns views into the
// payload and allocates nothing for values), and the
// validator that runs before msgpack-c sees a payload.
//
// Every length a header announces is checked against DecodeLimits and against
// the bytes actually left before anyone allocates for it: an array element or
// a map pair needs at least one (two) bytes, so a count larger than the rest of
// the payload is rejected on the spot. That is what keeps `dd ff ff ff ff` (an
// array promising 4 Gi elements) from costing more than its five bytes.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "../../errors.hpp"
#include "../limits.hpp"

namespace dogpile::codec::details {

enum class MsgpackType : std::uint8_t {
    nil,
    boolean,
    positive_int,  // any integer encoding holding a value >= 0
    negative_int,
    float32,
    float64,
    str,
    bin,
    array,
    map,
    ext,
};

inline const char* type_name(MsgpackType type) {
    switch (type) {
        case MsgpackType::nil: return "nil";
        case MsgpackType::boolean: return "bool";
        case MsgpackType::positive_int: return "non-negative int";
        case MsgpackType::negative_int: return "negative int";
        case MsgpackType::float32: return "float32";
        case MsgpackType::float64: return "float64";
        case MsgpackType::str: return "str";
        case MsgpackType::bin: return "bin";
        case MsgpackType::array: return "array";
        case MsgpackType::map: return "map";
        case MsgpackType::ext: return "ext";
    }
    return "unknown";
}

// One decoded header. Only the fields of `type` are meaningful.
struct Token {
    MsgpackType type = MsgpackType::nil;
    bool boolean = false;
    std::uint64_t uint_value = 0;  // positive_int
    std::int64_t int_value = 0;    // negative_int
    double float_value = 0.0;      // float32, float64
    std::uint32_t count = 0;       // array elements, map pairs
    std::string_view bytes;        // str, bin, ext data (a view into the payload)
    std::int8_t ext_type = 0;
};

class MsgpackReader {
public:
    MsgpackReader(std::string_view data, const DecodeLimits& limits) : data_(data), limits_(limits) {}

    bool at_end() const { return pos_ == data_.size(); }
    std::size_t offset() const { return pos_; }
    std::size_t remaining() const { return data_.size() - pos_; }
    const DecodeLimits& limits() const { return limits_; }

    [[noreturn]] void fail_at(std::size_t offset, const std::string& what) const {
        throw DecodeError("msgpack: " + what + " (at byte " + std::to_string(offset) + " of " +
                          std::to_string(data_.size()) + ")");
    }

    // Reads one header (and the data of str/bin/ext). Containers' elements follow.
    Token next() {
        const std::size_t start = pos_;
        if (at_end()) fail_at(start, "unexpected end of input, expected an object");
        const std::uint8_t b = take_byte();
        Token token;
        if (b <= 0x7f) {
            token.type = MsgpackType::positive_int;
            token.uint_value = b;
        } else if (b <= 0x8f) {
            container(token, MsgpackType::map, b & 0x0fu, start);
        } else if (b <= 0x9f) {
            container(token, MsgpackType::array, b & 0x0fu, start);
        } else if (b <= 0xbf) {
            blob(token, MsgpackType::str, b & 0x1fu, start);
        } else if (b >= 0xe0) {
            token.type = MsgpackType::negative_int;
            token.int_value = static_cast<std::int8_t>(b);
        } else {
            switch (b) {
                case 0xc0: token.type = MsgpackType::nil; break;
                case 0xc1: fail_at(start, "byte 0xc1 is never used in msgpack");
                case 0xc2:
                case 0xc3:
                    token.type = MsgpackType::boolean;
                    token.boolean = b == 0xc3;
                    break;
                case 0xc4: blob(token, MsgpackType::bin, take<std::uint8_t>(start), start); break;
                case 0xc5: blob(token, MsgpackType::bin, take<std::uint16_t>(start), start); break;
                case 0xc6: blob(token, MsgpackType::bin, take<std::uint32_t>(start), start); break;
                case 0xc7: ext(token, take<std::uint8_t>(start), start); break;
                case 0xc8: ext(token, take<std::uint16_t>(start), start); break;
                case 0xc9: ext(token, take<std::uint32_t>(start), start); break;
                case 0xca: {
                    const std::uint32_t bits = take<std::uint32_t>(start);
                    float value = 0;
                    std::memcpy(&value, &bits, sizeof value);
                    token.type = MsgpackType::float32;
                    token.float_value = static_cast<double>(value);
                    break;
                }
                case 0xcb: {
                    const std::uint64_t bits = take<std::uint64_t>(start);
                    double value = 0;
                    std::memcpy(&value, &bits, sizeof value);
                    token.type = MsgpackType::float64;
                    token.float_value = value;
                    break;
                }
                case 0xcc: unsigned_int(token, take<std::uint8_t>(start)); break;
                case 0xcd: unsigned_int(token, take<std::uint16_t>(start)); break;
                case 0xce: unsigned_int(token, take<std::uint32_t>(start)); break;
                case 0xcf: unsigned_int(token, take<std::uint64_t>(start)); break;
                case 0xd0: signed_int(token, static_cast<std::int8_t>(take<std::uint8_t>(start))); break;
                case 0xd1: signed_int(token, static_cast<std::int16_t>(take<std::uint16_t>(start))); break;
                case 0xd2: signed_int(token, static_cast<std::int32_t>(take<std::uint32_t>(start))); break;
                case 0xd3: signed_int(token, static_cast<std::int64_t>(take<std::uint64_t>(start))); break;
                case 0xd4: ext(token, 1, start); break;
                case 0xd5: ext(token, 2, start); break;
                case 0xd6: ext(token, 4, start); break;
                case 0xd7: ext(token, 8, start); break;
                case 0xd8: ext(token, 16, start); break;
                case 0xd9: blob(token, MsgpackType::str, take<std::uint8_t>(start), start); break;
                case 0xda: blob(token, MsgpackType::str, take<std::uint16_t>(start), start); break;
                case 0xdb: blob(token, MsgpackType::str, take<std::uint32_t>(start), start); break;
                case 0xdc: container(token, MsgpackType::array, take<std::uint16_t>(start), start); break;
                case 0xdd: container(token, MsgpackType::array, take<std::uint32_t>(start), start); break;
                case 0xde: container(token, MsgpackType::map, take<std::uint16_t>(start), start); break;
                case 0xdf: container(token, MsgpackType::map, take<std::uint32_t>(start), start); break;
                default: fail_at(start, "invalid type byte");  // unreachable: every byte is covered above
            }
        }
        return token;
    }

    // Reads the next header and insists on its type.
    Token expect(MsgpackType type, const char* context) {
        const std::size_t start = pos_;
        Token token = next();
        if (token.type != type) {
            fail_at(start, std::string(context) + ": expected " + type_name(type) + ", got " + type_name(token.type));
        }
        return token;
    }

    // Skips one complete object, enforcing the limits and the depth, without
    // recursion (so a deep payload cannot exhaust the stack) and without
    // allocating more than one counter per open container.
    void skip_object() {
        std::vector<std::uint64_t> open;  // items still to read in each open container
        for (;;) {
            const std::size_t start = pos_;
            const Token token = next();
            if (token.type == MsgpackType::array || token.type == MsgpackType::map) {
                if (open.size() + 1 > limits_.max_depth) fail_at(start, depth_message());
                const std::uint64_t items =
                    token.type == MsgpackType::map ? std::uint64_t{2} * token.count : std::uint64_t{token.count};
                if (items > 0) {
                    open.push_back(items);
                    continue;
                }
            }
            // An object is complete: count it against its parents.
            while (!open.empty()) {
                if (--open.back() > 0) break;
                open.pop_back();
            }
            if (open.empty()) return;
        }
    }

    void expect_end() const {
        if (!at_end()) {
            fail_at(pos_, std::to_string(remaining()) + " trailing byte(s) after the object");
        }
    }

    std::string depth_message() const {
        return "containers nested deeper than DecodeLimits::max_depth (" + std::to_string(limits_.max_depth) + ")";
    }

private:
    std::uint8_t take_byte() { return static_cast<std::uint8_t>(data_[pos_++]); }

    template <class U>
    U take(std::size_t start) {
        if (remaining() < sizeof(U)) {
            fail_at(start, "truncated: header needs " + std::to_string(sizeof(U)) + " more byte(s), " +
                               std::to_string(remaining()) + " left");
        }
        U value = 0;
        for (std::size_t i = 0; i < sizeof(U); ++i) {
            value = static_cast<U>((static_cast<std::uint64_t>(value) << 8) | take_byte());
        }
        return value;
    }

    std::string_view take_bytes(std::size_t size, std::size_t start, const char* what) {
        if (size > remaining()) {
            fail_at(start, std::string("truncated: ") + what + " of " + std::to_string(size) + " byte(s), " +
                               std::to_string(remaining()) + " left");
        }
        const std::string_view bytes = data_.substr(pos_, size);
        pos_ += size;
        return bytes;
    }

    void check_limit(std::size_t value, std::size_t limit, const char* what, const char* limit_name,
                     std::size_t start) const {
        if (value > limit) {
            fail_at(start, std::string(what) + " of " + std::to_string(value) + " exceeds DecodeLimits::" + limit_name +
                               " (" + std::to_string(limit) + ")");
        }
    }

    void unsigned_int(Token& token, std::uint64_t value) {
        token.type = MsgpackType::positive_int;
        token.uint_value = value;
    }

    void signed_int(Token& token, std::int64_t value) {
        if (value >= 0) {
            unsigned_int(token, static_cast<std::uint64_t>(value));
        } else {
            token.type = MsgpackType::negative_int;
            token.int_value = value;
        }
    }

    void blob(Token& token, MsgpackType type, std::uint32_t size, std::size_t start) {
        if (type == MsgpackType::str) {
            check_limit(size, limits_.max_string_length, "str", "max_string_length", start);
        } else {
            check_limit(size, limits_.max_bin_length, "bin", "max_bin_length", start);
        }
        token.type = type;
        token.bytes = take_bytes(size, start, type_name(type));
    }

    void ext(Token& token, std::uint32_t size, std::size_t start) {
        check_limit(size, limits_.max_ext_length, "ext", "max_ext_length", start);
        token.type = MsgpackType::ext;
        token.ext_type = static_cast<std::int8_t>(take<std::uint8_t>(start));
        token.bytes = take_bytes(size, start, "ext");
    }

    void container(Token& token, MsgpackType type, std::uint32_t count, std::size_t start) {
        // Each array element needs >= 1 byte and each map pair >= 2, so a count
        // beyond that is a lie told before any allocation can trust it.
        if (type == MsgpackType::array) {
            check_limit(count, limits_.max_array_length, "array length", "max_array_length", start);
            if (count > remaining()) {
                fail_at(start, "truncated: array announces " + std::to_string(count) + " element(s), only " +
                                   std::to_string(remaining()) + " byte(s) left");
            }
        } else {
            check_limit(count, limits_.max_map_length, "map length", "max_map_length", start);
            if (count > remaining() / 2) {
                fail_at(start, "truncated: map announces " + std::to_string(count) + " pair(s), only " +
                                   std::to_string(remaining()) + " byte(s) left");
            }
        }
        token.type = type;
        token.count = count;
    }

    std::string_view data_;
    const DecodeLimits& limits_;
    std::size_t pos_ = 0;
};

}  // namespace dogpile::codec::details
