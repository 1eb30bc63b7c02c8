#pragma once
// The values-only codec (docs/architecture.md, "The workload": values-only payloads).
//
// A dict is packed as a msgpack array of its values in sorted-key order;
// a nested dict becomes a nested array. The keys are not on the wire: a
// KeyTemplate, known to both writer and reader, turns the array back into a
// dict. For 25 boolean flags that is 28 bytes instead of a 128-byte msgpack
// map. A Python service reads it with
//     dict(zip(sorted_keys, msgpack.unpackb(payload)))   (recursing for nested keys)
//
//   ValuesCodec codec{KeyTemplate{"id", {"perm", {"read", "write"}}}};   // ValuesCodec<Dict>
//   std::string bytes = codec.encode(dict);   // EncodeError if dict's keys differ from the template
//   Dict back = codec.decode(bytes);          // DecodeError on anything malformed
//
//   FlagsCodec flags{KeyTemplate{"read", "write"}};   // std::map<std::string, bool>, the cheap path
//   FlagSetCodec set{FlagTemplate::of({"read", "write"})};   // FlagSet: same bytes, no allocation
//
// Leaf values are nil, bool, integers, doubles, strings and lists. A dict
// inside a list has no template, so it travels as a msgpack map (string keys);
// a dict directly under a leaf key is an EncodeError: the template must nest it.
// bin and ext objects are rejected on decode (Value has no bytes type).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "../errors.hpp"
#include "details/flag_wire.hpp"
#include "details/key_path.hpp"
#include "details/msgpack_reader.hpp"
#include "details/msgpack_writer.hpp"
#include "dict.hpp"
#include "flag_set.hpp"
#include "limits.hpp"

namespace dogpile::codec {

template <class T>
class ValuesCodec;

/// Values-only codec for dynamic dicts: a msgpack array of the values in sorted-key order
/// (nested dicts as nested arrays); the KeyTemplate, known to writer and reader, names them.
template <>
class ValuesCodec<Dict> {
public:
    using value_type = Dict;  ///< what it encodes

    /// A codec of dicts with exactly the keys of `key_template`; `limits` bound what decode()
    /// accepts.
    explicit ValuesCodec(KeyTemplate key_template, DecodeLimits limits = {})
        : template_(std::move(key_template)), limits_(limits) {}

    /// The keys every dict must have.
    const KeyTemplate& key_template() const noexcept { return template_; }
    /// What decode() accepts.
    const DecodeLimits& limits() const noexcept { return limits_; }

    /// The bytes of `dict`; EncodeError when its keys differ from the template or a dict sits
    /// directly under a leaf key.
    std::string encode(const Dict& dict) const {
        std::string out;
        encode_to(dict, out);
        return out;
    }

    /// Appends the encoding of `dict` to `out` (lets a caller reuse a buffer).
    void encode_to(const Dict& dict, std::string& out) const { encode_dict(dict, template_, out, nullptr); }

    /// The dict back; DecodeError on anything malformed or over the limits.
    Dict decode(std::string_view bytes) const {
        limits_.check_payload_size(bytes.size());
        details::MsgpackReader reader(bytes, limits_);
        Dict dict = decode_dict(reader, template_, 1, nullptr);
        reader.expect_end();
        return dict;
    }

private:
    using KeyPath = details::KeyPath;
    static constexpr const char* name = "values-only codec";

    static void encode_dict(const Dict& dict, const KeyTemplate& key_template, std::string& out, const KeyPath* path) {
        if (dict.size() != key_template.size()) details::throw_key_mismatch(name, dict, key_template, path);
        details::write_array_header(out, key_template.size());
        auto entry = dict.begin();
        for (const auto& key : key_template) {
            if (entry->first != key.name) details::throw_key_mismatch(name, dict, key_template, path);
            const KeyPath here{path, key.name};
            const Value& value = entry->second;
            if (key.is_nested()) {
                if (!value.is_dict()) {
                    throw EncodeError(std::string(name) + ": key \"" + here.to_string() +
                                      "\" must hold a dict (its template is " + key.nested->to_string() + ")");
                }
                encode_dict(value.as_dict(), *key.nested, out, &here);
            } else {
                if (value.is_dict()) {
                    throw EncodeError(std::string(name) + ": key \"" + here.to_string() +
                                      "\" holds a dict but its key template entry is a leaf; nest a template for it, "
                                      "e.g. KeyTemplate::of(example)");
                }
                encode_value(value, out);
            }
            ++entry;
        }
    }

    // A self-describing value: the generic msgpack mapping.
    static void encode_value(const Value& value, std::string& out) {
        switch (value.type()) {
            case Value::Type::nil: details::write_nil(out); return;
            case Value::Type::boolean: details::write_bool(out, value.as_bool()); return;
            case Value::Type::integer: details::write_int(out, value.as_int()); return;
            case Value::Type::unsigned_integer: details::write_uint(out, value.as_uint()); return;
            case Value::Type::floating: details::write_double(out, value.as_double()); return;
            case Value::Type::string: details::write_str(out, value.as_string()); return;
            case Value::Type::list:
                details::write_array_header(out, value.as_list().size());
                for (const auto& element : value.as_list()) encode_value(element, out);
                return;
            case Value::Type::dict:
                details::write_map_header(out, value.as_dict().size());
                for (const auto& [key, element] : value.as_dict()) {
                    details::write_str(out, key);
                    encode_value(element, out);
                }
                return;
        }
    }

    Dict decode_dict(details::MsgpackReader& reader, const KeyTemplate& key_template, std::size_t depth,
                     const KeyPath* path) const {
        const std::size_t start = reader.offset();
        if (depth > limits_.max_depth) reader.fail_at(start, reader.depth_message());
        const details::Token token = reader.next();
        if (token.type != details::MsgpackType::array) {
            reader.fail_at(start, where(path) + "expected an array of " + std::to_string(key_template.size()) +
                                      " values, got " + details::type_name(token.type));
        }
        if (token.count != key_template.size()) {
            reader.fail_at(start, where(path) + "array of " + std::to_string(token.count) +
                                      " values, the key template " + key_template.to_string() + " has " +
                                      std::to_string(key_template.size()) + " keys");
        }
        Dict dict;
        for (const auto& key : key_template) {
            const KeyPath here{path, key.name};
            Value value = key.is_nested() ? Value(decode_dict(reader, *key.nested, depth + 1, &here))
                                          : decode_value(reader, depth, &here, MapAllowed::no);
            dict.emplace_hint(dict.end(), key.name, std::move(value));
        }
        return dict;
    }

    // Maps appear only inside lists: under a leaf key, a map means the writer
    // did not follow the template.
    enum class MapAllowed : bool { no, yes };

    Value decode_value(details::MsgpackReader& reader, std::size_t depth, const KeyPath* path,
                       MapAllowed map_allowed) const {
        using details::MsgpackType;
        const std::size_t start = reader.offset();
        const details::Token token = reader.next();
        switch (token.type) {
            case MsgpackType::nil: return Value();
            case MsgpackType::boolean: return Value(token.boolean);
            case MsgpackType::positive_int: return Value(token.uint_value);
            case MsgpackType::negative_int: return Value(token.int_value);
            case MsgpackType::float32:
            case MsgpackType::float64: return Value(token.float_value);
            case MsgpackType::str: return Value(std::string(token.bytes));
            case MsgpackType::bin:
            case MsgpackType::ext:
                reader.fail_at(start, where(path) + details::type_name(token.type) +
                                          " objects are not supported by dogpile::codec::Value");
            case MsgpackType::array: {
                if (depth + 1 > limits_.max_depth) reader.fail_at(start, reader.depth_message());
                // Grows with the elements actually decoded, never with the header's
                // promise (not even a capped reserve: nested lying headers would each
                // get one), so a lying header fails before it costs memory.
                List list;
                for (std::uint32_t i = 0; i < token.count; ++i) {
                    list.push_back(decode_value(reader, depth + 1, path, MapAllowed::yes));
                }
                return Value(std::move(list));
            }
            case MsgpackType::map: {
                if (map_allowed == MapAllowed::no) {
                    reader.fail_at(start, where(path) +
                                              "a map where the key template expects a plain value (nested dicts are "
                                              "arrays in values-only payloads)");
                }
                if (depth + 1 > limits_.max_depth) reader.fail_at(start, reader.depth_message());
                Dict dict;
                for (std::uint32_t i = 0; i < token.count; ++i) {
                    const std::size_t key_start = reader.offset();
                    const details::Token key = reader.next();
                    if (key.type != MsgpackType::str) {
                        reader.fail_at(key_start,
                                       where(path) + "map key must be a str, got " + details::type_name(key.type));
                    }
                    Value value = decode_value(reader, depth + 1, path, MapAllowed::yes);
                    if (!dict.emplace(std::string(key.bytes), std::move(value)).second) {
                        reader.fail_at(key_start, where(path) + "duplicate map key \"" + std::string(key.bytes) + "\"");
                    }
                }
                return Value(std::move(dict));
            }
        }
        reader.fail_at(start, "unknown msgpack type");
    }

    static std::string where(const KeyPath* path) {
        return path ? std::string(name) + ", key \"" + path->to_string() + "\": " : std::string(name) + ": ";
    }

    KeyTemplate template_;
    DecodeLimits limits_;
};

/// Values-only codec for flat all-boolean dicts (the permission flags): an
/// array of true/false bytes, one per template key. 25 flags: 28 bytes.
// The wire logic is shared with ValuesCodec<FlagSet> (details/flag_wire.hpp).
template <>
class ValuesCodec<Flags> : public details::FlagCodecBase<Flags> {
public:
    /// Throws ConfigurationError when `key_template` nests: flags are flat.
    explicit ValuesCodec(KeyTemplate key_template, DecodeLimits limits = {})
        : FlagCodecBase(std::move(key_template), limits, "FlagsCodec") {}

    /// One true/false byte per template key; EncodeError when the keys differ from the template.
    std::string encode(const Flags& flags) const {
        std::string out;
        encode_to(flags, out);
        return out;
    }

    /// Appends the encoding of `flags` to `out`.
    void encode_to(const Flags& flags, std::string& out) const { details::write_flag_array(out, names_, flags, name); }

    /// The flags back; DecodeError on anything malformed or over the limits.
    Flags decode(std::string_view bytes) const { return details::read_flag_array<Flags>(bytes, names_, name); }

private:
    static constexpr const char* name = "flags codec";
};

/// The same bytes as FlagsCodec, for FlagSet: a FlagSet written by one is read
/// by the other. Decoding <= 64 flags allocates nothing.
/// \code
///   FlagSetCodec codec{FlagTemplate::of({"read", "write"})};   // or from a flat KeyTemplate
///   FlagSet perms = codec.decode(bytes);
/// \endcode
template <>
class ValuesCodec<FlagSet> : public details::FlagCodecBase<FlagSet> {
public:
    /// Throws ConfigurationError when `key_template` nests: flags are flat.
    explicit ValuesCodec(const KeyTemplate& key_template, DecodeLimits limits = {})
        : FlagCodecBase(key_template, limits, "FlagSetCodec") {}
    /// A codec of FlagSets of `names`; `limits` bound what decode() accepts.
    explicit ValuesCodec(const FlagTemplate& names, DecodeLimits limits = {})
        : FlagCodecBase(names, limits, "FlagSetCodec") {}

    /// The bytes of `flags`; EncodeError when it has another template's names.
    std::string encode(const FlagSet& flags) const {
        std::string out;
        encode_to(flags, out);
        return out;
    }

    /// EncodeError when `flags` has another template's names.
    void encode_to(const FlagSet& flags, std::string& out) const {
        details::write_flag_array(out, names_, flags, name);
    }

    /// The flags back (no allocation up to 64 flags); DecodeError on anything malformed or over the
    /// limits.
    FlagSet decode(std::string_view bytes) const { return details::read_flag_array<FlagSet>(bytes, names_, name); }

private:
    static constexpr const char* name = "flag set codec";
};

/// `ValuesCodec codec{key_template}` means the Dict codec.
ValuesCodec(KeyTemplate)->ValuesCodec<Dict>;
/// The same, with limits.
ValuesCodec(KeyTemplate, DecodeLimits)->ValuesCodec<Dict>;

using DictValuesCodec = ValuesCodec<Dict>;  ///< values-only codec of Dict
using FlagsCodec = ValuesCodec<Flags>;      ///< values-only codec of Flags
using FlagSetCodec = ValuesCodec<FlagSet>;  ///< the same bytes as FlagsCodec, for FlagSet

}  // namespace dogpile::codec
