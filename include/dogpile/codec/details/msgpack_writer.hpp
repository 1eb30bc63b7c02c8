#pragma once
// Appends msgpack objects to a std::string, always in the smallest encoding
// (the choice msgpack-c and Python's msgpack make), so that dogpile's bytes
// equal a Python service's bytes for the same data. Used instead of
// msgpack::packer on the hot path: no stream object, no virtual buffer.

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "../../errors.hpp"

namespace dogpile::codec::details {

inline void put_byte(std::string& out, std::uint8_t byte) { out.push_back(static_cast<char>(byte)); }

template <class U>
void put_big_endian(std::string& out, U value) {
    for (int shift = static_cast<int>(sizeof(U) * 8) - 8; shift >= 0; shift -= 8) {
        put_byte(out, static_cast<std::uint8_t>(value >> shift));
    }
}

inline void write_nil(std::string& out) { put_byte(out, 0xc0); }

inline void write_bool(std::string& out, bool value) { put_byte(out, value ? 0xc3 : 0xc2); }

inline void write_uint(std::string& out, std::uint64_t value) {
    if (value < 0x80) {
        put_byte(out, static_cast<std::uint8_t>(value));
    } else if (value <= 0xff) {
        put_byte(out, 0xcc);
        put_big_endian(out, static_cast<std::uint8_t>(value));
    } else if (value <= 0xffff) {
        put_byte(out, 0xcd);
        put_big_endian(out, static_cast<std::uint16_t>(value));
    } else if (value <= 0xffffffff) {
        put_byte(out, 0xce);
        put_big_endian(out, static_cast<std::uint32_t>(value));
    } else {
        put_byte(out, 0xcf);
        put_big_endian(out, value);
    }
}

inline void write_int(std::string& out, std::int64_t value) {
    if (value >= 0) {
        write_uint(out, static_cast<std::uint64_t>(value));
    } else if (value >= -32) {
        put_byte(out, static_cast<std::uint8_t>(static_cast<std::int8_t>(value)));
    } else if (value >= std::numeric_limits<std::int8_t>::min()) {
        put_byte(out, 0xd0);
        put_big_endian(out, static_cast<std::uint8_t>(static_cast<std::int8_t>(value)));
    } else if (value >= std::numeric_limits<std::int16_t>::min()) {
        put_byte(out, 0xd1);
        put_big_endian(out, static_cast<std::uint16_t>(static_cast<std::int16_t>(value)));
    } else if (value >= std::numeric_limits<std::int32_t>::min()) {
        put_byte(out, 0xd2);
        put_big_endian(out, static_cast<std::uint32_t>(static_cast<std::int32_t>(value)));
    } else {
        put_byte(out, 0xd3);
        put_big_endian(out, static_cast<std::uint64_t>(value));
    }
}

// Always float64, like Python's default packer: a float32 would lose digits.
inline void write_double(std::string& out, double value) {
    static_assert(sizeof(double) == sizeof(std::uint64_t), "IEEE-754 binary64 double expected");
    std::uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    put_byte(out, 0xcb);
    put_big_endian(out, bits);
}

inline void check_encodable_size(std::size_t size, const char* what) {
    if (size > 0xffffffffu) {
        throw EncodeError(std::string("msgpack cannot encode a ") + what + " of " + std::to_string(size) +
                          " (the format's limit is 2^32-1)");
    }
}

inline void write_str(std::string& out, std::string_view text) {
    const std::size_t size = text.size();
    check_encodable_size(size, "string");
    if (size < 32) {
        put_byte(out, static_cast<std::uint8_t>(0xa0 | size));
    } else if (size <= 0xff) {
        put_byte(out, 0xd9);
        put_big_endian(out, static_cast<std::uint8_t>(size));
    } else if (size <= 0xffff) {
        put_byte(out, 0xda);
        put_big_endian(out, static_cast<std::uint16_t>(size));
    } else {
        put_byte(out, 0xdb);
        put_big_endian(out, static_cast<std::uint32_t>(size));
    }
    out.append(text.data(), size);
}

// The header of a bin of `size` bytes; the caller appends the bytes.
inline void write_bin_header(std::string& out, std::size_t size) {
    check_encodable_size(size, "bin");
    if (size <= 0xff) {
        put_byte(out, 0xc4);
        put_big_endian(out, static_cast<std::uint8_t>(size));
    } else if (size <= 0xffff) {
        put_byte(out, 0xc5);
        put_big_endian(out, static_cast<std::uint16_t>(size));
    } else {
        put_byte(out, 0xc6);
        put_big_endian(out, static_cast<std::uint32_t>(size));
    }
}

inline void write_bin(std::string& out, std::string_view bytes) {
    write_bin_header(out, bytes.size());
    out.append(bytes.data(), bytes.size());
}

inline void write_array_header(std::string& out, std::size_t count) {
    check_encodable_size(count, "array");
    if (count < 16) {
        put_byte(out, static_cast<std::uint8_t>(0x90 | count));
    } else if (count <= 0xffff) {
        put_byte(out, 0xdc);
        put_big_endian(out, static_cast<std::uint16_t>(count));
    } else {
        put_byte(out, 0xdd);
        put_big_endian(out, static_cast<std::uint32_t>(count));
    }
}

inline void write_map_header(std::string& out, std::size_t count) {
    check_encodable_size(count, "map");
    if (count < 16) {
        put_byte(out, static_cast<std::uint8_t>(0x80 | count));
    } else if (count <= 0xffff) {
        put_byte(out, 0xde);
        put_big_endian(out, static_cast<std::uint16_t>(count));
    } else {
        put_byte(out, 0xdf);
        put_big_endian(out, static_cast<std::uint32_t>(count));
    }
}

// Size of the array header write_array_header emits, for exact reserve().
constexpr std::size_t array_header_size(std::size_t count) { return count < 16 ? 1 : count <= 0xffff ? 3 : 5; }

}  // namespace dogpile::codec::details
