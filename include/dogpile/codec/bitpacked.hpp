#pragma once
// BitpackedCodec: flat all-boolean dicts as bits. 25 flags fit in 5 bytes.
//
// Bit i is the flag of the i-th key in sorted order. The wire form stays one
// valid msgpack object, so a Python service reads it with msgpack.unpackb:
//   * up to 64 flags: a non-negative integer in its smallest msgpack encoding
//     (25 flags: at most `ce` + 4 bytes);
//         flags = {k: bool(n >> i & 1) for i, k in enumerate(sorted_keys)}
//   * more flags: a bin of ceil(n/8) bytes, flag i in byte i/8, bit i%8
//     (little-endian, so the first 64 flags read the same as the integer form).
// The reader accepts any msgpack integer encoding of the value, and rejects
// bits set beyond the template's flag count: those came from another template.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "../errors.hpp"
#include "details/flat_template.hpp"
#include "details/msgpack_reader.hpp"
#include "details/msgpack_writer.hpp"
#include "dict.hpp"
#include "limits.hpp"

namespace dogpile::codec {

class BitpackedCodec {
public:
    using value_type = Flags;

    // Flag counts up to this travel as a msgpack integer, larger ones as bin.
    static constexpr std::size_t max_integer_flags = 64;

    // Throws ConfigurationError when `key_template` nests: flags are flat.
    explicit BitpackedCodec(KeyTemplate key_template, DecodeLimits limits = {})
        : flat_(std::move(key_template), limits, "BitpackedCodec") {}

    const KeyTemplate& key_template() const noexcept { return flat_.key_template(); }
    const DecodeLimits& limits() const noexcept { return flat_.limits(); }

    std::string encode(const Flags& flags) const {
        std::string out;
        encode_to(flags, out);
        return out;
    }

    void encode_to(const Flags& flags, std::string& out) const {
        const std::size_t count = flat_.size();
        std::size_t i = 0;
        if (count <= max_integer_flags) {
            std::uint64_t bits = 0;
            flat_.for_each_flag(flags, name, [&](bool set) {
                if (set) bits |= std::uint64_t{1} << i;
                ++i;
            });
            details::write_uint(out, bits);
            return;
        }
        std::string bytes((count + 7) / 8, '\0');
        flat_.for_each_flag(flags, name, [&](bool set) {
            if (set) bytes[i / 8] = static_cast<char>(static_cast<unsigned char>(bytes[i / 8]) | (1u << (i % 8)));
            ++i;
        });
        details::write_bin(out, bytes);
    }

    Flags decode(std::string_view payload) const {
        flat_.limits().check_payload_size(payload.size());
        details::MsgpackReader reader(payload, flat_.limits());
        const std::size_t count = flat_.size();
        const details::Token token = reader.next();
        Flags flags;
        if (count <= max_integer_flags) {
            if (token.type != details::MsgpackType::positive_int) {
                reader.fail_at(0, std::string(name) + ": expected a non-negative int, got " +
                                      details::type_name(token.type));
            }
            const std::uint64_t bits = token.uint_value;
            if (count < 64 && (bits >> count) != 0) {
                reader.fail_at(0, std::string(name) + ": bits set beyond the template's " + std::to_string(count) +
                                      " flags");
            }
            std::size_t i = 0;
            for (const auto& key : flat_.key_template()) flags.emplace_hint(flags.end(), key.name, ((bits >> i++) & 1u) != 0);
        } else {
            if (token.type != details::MsgpackType::bin) {
                reader.fail_at(0, std::string(name) + ": expected a bin, got " + details::type_name(token.type));
            }
            const std::string_view bytes = token.bytes;
            if (bytes.size() != (count + 7) / 8) {
                reader.fail_at(0, std::string(name) + ": bin of " + std::to_string(bytes.size()) + " bytes, " +
                                      std::to_string(count) + " flags need " + std::to_string((count + 7) / 8));
            }
            const unsigned used_in_last = static_cast<unsigned>(count % 8);
            if (used_in_last != 0 && (static_cast<unsigned char>(bytes.back()) >> used_in_last) != 0) {
                reader.fail_at(0, std::string(name) + ": bits set beyond the template's " + std::to_string(count) +
                                      " flags");
            }
            std::size_t i = 0;
            for (const auto& key : flat_.key_template()) {
                const bool set = ((static_cast<unsigned char>(bytes[i / 8]) >> (i % 8)) & 1u) != 0;
                flags.emplace_hint(flags.end(), key.name, set);
                ++i;
            }
        }
        reader.expect_end();
        return flags;
    }

private:
    static constexpr const char* name = "bitpacked codec";

    details::FlatKeyTemplate flat_;
};

}  // namespace dogpile::codec
