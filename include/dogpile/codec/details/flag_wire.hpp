#pragma once
// The two wire forms of the flag codecs, written once and shared by both value
// types (Flags, the std::map; FlagSet, the bits): the values-only array of
// booleans and the bit-packed integer or bin. FlagCodecBase<T> holds what
// each codec keeps (the template, the limits); FlagAdapter<T> is the only
// place that knows how a T is walked in template order or built from bits.
//
// Decoding is strict in one place: MsgpackReader, whose messages name the
// offending key and byte. A values-only payload of the plain shape (an array
// header announcing the template's count, then exactly that many 0xc2/0xc3
// bytes) is read by a hand-written loop first, which accepts exactly what the
// reader would accept; anything else goes to the reader for its error. Neither
// path allocates on success, so a FlagSet of <= 64 flags decodes without
// touching the allocator.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../errors.hpp"
#include "../dict.hpp"
#include "../flag_set.hpp"
#include "../limits.hpp"
#include "flat_template.hpp"
#include "msgpack_reader.hpp"
#include "msgpack_writer.hpp"

namespace dogpile::codec::details {

// Flag counts up to this travel bit-packed as a msgpack integer, larger ones as bin.
inline constexpr std::size_t max_integer_flags = 64;

// The FlagSet codecs' template: an interned FlagTemplate and the decode limits.
class FlagSetNames {
public:
    // Throws ConfigurationError when `key_template` nests; `codec` names the codec.
    FlagSetNames(const KeyTemplate& key_template, DecodeLimits limits, std::string_view codec)
        : names_(&interned(key_template, codec)), limits_(limits) {}
    FlagSetNames(const FlagTemplate& names, DecodeLimits limits, std::string_view) : names_(&names), limits_(limits) {}

    const FlagTemplate& flag_template() const noexcept { return *names_; }
    const KeyTemplate& key_template() const noexcept { return names_->key_template(); }
    const DecodeLimits& limits() const noexcept { return limits_; }
    std::size_t size() const noexcept { return names_->size(); }

    // EncodeError unless `flags` has this template's names.
    void check(const FlagSet& flags, const char* codec) const {
        const FlagTemplate& theirs = flags.flag_template();
        if (&theirs == names_ || theirs.names() == names_->names()) return;
        throw EncodeError(std::string(codec) + ": the FlagSet's flags " + theirs.to_string() +
                          " are not the codec's template " + names_->to_string());
    }

private:
    static const FlagTemplate& interned(const KeyTemplate& key_template, std::string_view codec) {
        FlatKeyTemplate::require_flat(key_template, codec);
        return FlagTemplate::of(key_template);
    }

    const FlagTemplate* names_;
    DecodeLimits limits_;
};

template <class T>
struct FlagAdapter;

template <>
struct FlagAdapter<Flags> {
    using Names = FlatKeyTemplate;

    // Calls emit(flag) in template order; EncodeError when the keys differ.
    template <class Emit>
    static void for_each(const Names& names, const Flags& flags, const char* codec, Emit&& emit) {
        names.for_each_flag(flags, codec, emit);
    }

    // Calls use(words): the flags as words of 64 (flag i: bit i % 64 of word i / 64).
    template <class Use>
    static void with_words(const Names& names, const Flags& flags, const char* codec, Use&& use) {
        std::uint64_t single = 0;
        std::vector<std::uint64_t> many;
        if (names.size() > 64) many.assign((names.size() + 63) / 64, 0);
        std::uint64_t* words = many.empty() ? &single : many.data();
        std::size_t i = 0;
        names.for_each_flag(flags, codec, [&](bool set) {
            if (set) words[i / 64] |= std::uint64_t{1} << (i % 64);
            ++i;
        });
        use(static_cast<const std::uint64_t*>(words));
    }

    class Builder {
    public:
        explicit Builder(const Names& names) : keys_(names.key_template().keys()) {}
        void set(std::size_t index, bool value) { flags_.emplace_hint(flags_.end(), keys_[index].name, value); }
        void set_word(std::size_t index, std::uint64_t bits) {
            const std::size_t end = std::min(keys_.size(), index * 64 + 64);
            for (std::size_t i = index * 64; i < end; ++i) set(i, ((bits >> (i % 64)) & 1u) != 0);
        }
        Flags take() { return std::move(flags_); }

    private:
        const std::vector<KeyTemplate::Key>& keys_;
        Flags flags_;
    };
};

template <>
struct FlagAdapter<FlagSet> {
    using Names = FlagSetNames;

    template <class Emit>
    static void for_each(const Names& names, const FlagSet& flags, const char* codec, Emit&& emit) {
        names.check(flags, codec);
        for (std::size_t i = 0; i < flags.size(); ++i) emit(flags.test(i));
    }

    template <class Use>
    static void with_words(const Names& names, const FlagSet& flags, const char* codec, Use&& use) {
        names.check(flags, codec);
        use(FlagSetAccess::words(flags));
    }

    // Sets bits in a FlagSet that starts all false; the decoders visit each index once.
    class Builder {
    public:
        explicit Builder(const Names& names) : flags_(names.flag_template()), words_(FlagSetAccess::words(flags_)) {}
        void set(std::size_t index, bool value) noexcept { words_[index / 64] |= std::uint64_t{value} << (index % 64); }
        void set_word(std::size_t index, std::uint64_t bits) noexcept { words_[index] = bits; }
        FlagSet take() { return std::move(flags_); }

    private:
        FlagSet flags_;
        std::uint64_t* words_;
    };
};

// What FlagsCodec, FlagSetCodec and the two bit-packed codecs hold and expose.
template <class T>
class FlagCodecBase {
public:
    using value_type = T;
    using Names = typename FlagAdapter<T>::Names;

    const KeyTemplate& key_template() const noexcept { return names_.key_template(); }
    const DecodeLimits& limits() const noexcept { return names_.limits(); }

    template <class U = T, std::enable_if_t<std::is_same_v<U, FlagSet>, int> = 0>
    const FlagTemplate& flag_template() const noexcept {
        return names_.flag_template();
    }

protected:
    template <class Source>
    FlagCodecBase(Source&& names, DecodeLimits limits, std::string_view codec)
        : names_(std::forward<Source>(names), limits, codec) {}

    Names names_;
};

// --- values-only: an array of true/false bytes, one per flag -------------------------

template <class T>
void write_flag_array(std::string& out, const typename FlagAdapter<T>::Names& names, const T& flags,
                      const char* codec) {
    const std::size_t count = names.size();
    // Checked before the array header is written, so a wrong-sized value appends nothing.
    if constexpr (std::is_same_v<T, Flags>) {
        if (flags.size() != count) throw_key_mismatch(codec, flags, names.key_template(), nullptr);
    } else {
        names.check(flags, codec);
    }
    out.reserve(out.size() + array_header_size(count) + count);
    write_array_header(out, count);
    FlagAdapter<T>::for_each(names, flags, codec, [&out](bool set) { write_bool(out, set); });
}

// The `count` boolean bytes of a payload of the plain shape, or nothing: an
// array header announcing `count` (any of the three encodings, within the
// limits, as MsgpackReader accepts them) and exactly `count` bytes after it.
inline std::optional<std::string_view> plain_array_body(std::string_view bytes, std::size_t count,
                                                        const DecodeLimits& limits) noexcept {
    if (bytes.empty() || limits.max_depth < 1 || count > limits.max_array_length) return std::nullopt;
    const auto byte = [&bytes](std::size_t i) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i]));
    };
    std::size_t header = 0;
    std::uint32_t announced = 0;
    if ((byte(0) & 0xf0u) == 0x90u) {
        header = 1;
        announced = byte(0) & 0x0fu;
    } else if (byte(0) == 0xdc && bytes.size() >= 3) {
        header = 3;
        announced = byte(1) << 8 | byte(2);
    } else if (byte(0) == 0xdd && bytes.size() >= 5) {
        header = 5;
        announced = byte(1) << 24 | byte(2) << 16 | byte(3) << 8 | byte(4);
    } else {
        return std::nullopt;
    }
    if (announced != count || bytes.size() - header != count) return std::nullopt;
    return bytes.substr(header);
}

// Packs boolean bytes into `built` 64 at a time, in one pass that also checks
// them; false when a byte is not 0xc2/0xc3 (then `built` is to be discarded).
template <class Builder>
bool pack_bool_bytes(std::string_view body, Builder& built) noexcept(noexcept(built.set_word(0, 0))) {
    std::uint32_t stray = 0;
    for (std::size_t first = 0; first < body.size(); first += 64) {
        const std::size_t end = std::min(body.size(), first + 64);
        std::uint64_t bits = 0;
        for (std::size_t i = first; i < end; ++i) {
            const auto b = static_cast<std::uint32_t>(static_cast<unsigned char>(body[i]));
            // 0xc2 (false) and 0xc3 (true) are the only bytes equal to 0xc2 once bit 0 is cleared.
            stray |= (b & 0xfeu) ^ 0xc2u;
            bits |= std::uint64_t{b & 1u} << (i - first);
        }
        built.set_word(first / 64, bits);
    }
    return stray == 0;
}

// The strict reader, for what the fast path turned down: its exact error.
template <class T>
T read_flag_array_strictly(std::string_view bytes, const typename FlagAdapter<T>::Names& names, const char* codec) {
    const DecodeLimits& limits = names.limits();
    const std::size_t count = names.size();
    typename FlagAdapter<T>::Builder built(names);
    MsgpackReader reader(bytes, limits);
    const KeyTemplate& key_template = names.key_template();
    if (limits.max_depth < 1) reader.fail_at(0, reader.depth_message());
    const Token header = reader.next();
    if (header.type != MsgpackType::array) {
        reader.fail_at(0, std::string(codec) + ": expected an array of " + std::to_string(count) + " booleans, got " +
                              type_name(header.type));
    }
    if (header.count != count) {
        reader.fail_at(0, std::string(codec) + ": array of " + std::to_string(header.count) +
                              " values, the key template " + key_template.to_string() + " has " +
                              std::to_string(count) + " keys");
    }
    for (std::size_t i = 0; i < count; ++i) {
        const std::size_t start = reader.offset();
        const Token token = reader.next();
        if (token.type != MsgpackType::boolean) {
            reader.fail_at(start, std::string(codec) + ", key \"" + key_template.keys()[i].name +
                                      "\": expected a bool, got " + type_name(token.type));
        }
        built.set(i, token.boolean);
    }
    reader.expect_end();
    return built.take();
}

template <class T>
T read_flag_array(std::string_view bytes, const typename FlagAdapter<T>::Names& names, const char* codec) {
    names.limits().check_payload_size(bytes.size());
    if (const auto body = plain_array_body(bytes, names.size(), names.limits())) {
        typename FlagAdapter<T>::Builder built(names);
        if (pack_bool_bytes(*body, built)) return built.take();
    }
    return read_flag_array_strictly<T>(bytes, names, codec);
}

// --- bit-packed: an integer up to 64 flags, else a little-endian bin -------------------

template <class T>
void write_flag_bits(std::string& out, const typename FlagAdapter<T>::Names& names, const T& flags, const char* codec) {
    const std::size_t count = names.size();
    FlagAdapter<T>::with_words(names, flags, codec, [&out, count](const std::uint64_t* words) {
        if (count <= max_integer_flags) {
            write_uint(out, words[0]);
            return;
        }
        const std::size_t size = (count + 7) / 8;
        write_bin_header(out, size);
        for (std::size_t j = 0; j < size; ++j) put_byte(out, static_cast<std::uint8_t>(words[j / 8] >> (8 * (j % 8))));
    });
}

template <class T>
T read_flag_bits(std::string_view payload, const typename FlagAdapter<T>::Names& names, const char* codec) {
    const DecodeLimits& limits = names.limits();
    limits.check_payload_size(payload.size());
    MsgpackReader reader(payload, limits);
    const std::size_t count = names.size();
    const Token token = reader.next();
    typename FlagAdapter<T>::Builder built(names);
    const auto beyond = [&] {
        reader.fail_at(0, std::string(codec) + ": bits set beyond the template's " + std::to_string(count) + " flags");
    };
    if (count <= max_integer_flags) {
        if (token.type != MsgpackType::positive_int) {
            reader.fail_at(0, std::string(codec) + ": expected a non-negative int, got " + type_name(token.type));
        }
        const std::uint64_t bits = token.uint_value;
        if (count < 64 && (bits >> count) != 0) beyond();
        built.set_word(0, bits);
    } else {
        if (token.type != MsgpackType::bin) {
            reader.fail_at(0, std::string(codec) + ": expected a bin, got " + type_name(token.type));
        }
        const std::string_view bytes = token.bytes;
        if (bytes.size() != (count + 7) / 8) {
            reader.fail_at(0, std::string(codec) + ": bin of " + std::to_string(bytes.size()) + " bytes, " +
                                  std::to_string(count) + " flags need " + std::to_string((count + 7) / 8));
        }
        const unsigned used_in_last = static_cast<unsigned>(count % 8);
        if (used_in_last != 0 && (static_cast<unsigned char>(bytes.back()) >> used_in_last) != 0) beyond();
        for (std::size_t w = 0; w * 8 < bytes.size(); ++w) {
            std::uint64_t bits = 0;
            for (std::size_t j = w * 8; j < bytes.size() && j < w * 8 + 8; ++j) {
                bits |= std::uint64_t{static_cast<unsigned char>(bytes[j])} << (8 * (j % 8));
            }
            built.set_word(w, bits);
        }
    }
    reader.expect_end();
    return built.take();
}

}  // namespace dogpile::codec::details
