#pragma once
// Dict: the dynamic, Python-like dict the A-to-B workload caches, and
// KeyTemplate: the sorted key list (with nested templates) that the values-only
// codec uses to turn an array of values back into such a dict.
//
//   using dogpile::codec::Dict;
//   Dict perms{{"read", true}, {"write", false}, {"owner", Dict{{"id", 7}}}};
//   perms["read"] == true;                 // Value compares with plain values
//   perms.at("owner").at("id").as_int();   // 7
//   auto tmpl = KeyTemplate::of(perms);    // [owner: [id], read, write]
//
// Keys are ordered bytewise (std::string's <), which for UTF-8 keys is code
// point order, i.e. the order of Python's sorted(): both sides of the Redis
// interface agree on which value is where.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iomanip>
#include <limits>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../errors.hpp"

/// \namespace dogpile::codec
/// Codecs that turn cached values into bytes for stores that keep only bytes: msgpack,
/// values-only dicts and flags, bit-packed flags, and the metadata envelope.
namespace dogpile::codec {

class Value;

/// A dynamic dict, keys in bytewise order. Its `std::less<>` lets at()/find() take a
/// std::string_view or a literal without a copy.
using Dict = std::map<std::string, Value, std::less<>>;
using List = std::vector<Value>;  ///< a list value: any values, in order
/// The flat permission dict: every value a boolean. Has its own cheap codecs.
using Flags = std::map<std::string, bool>;

/// One dict value: nil, bool, integer, double, string, list or nested dict.
/// Integers that fit int64 are always held as int64 (whatever type built them);
/// only values above INT64_MAX use uint64, so a value survives a msgpack round
/// trip (which cannot tell 5 from 5u) unchanged.
class Value {
public:
    /// In the order of Storage's alternatives.
    enum class Type : std::uint8_t { nil, boolean, integer, unsigned_integer, floating, string, list, dict };
    /// What a Value holds: one alternative per Type, in the same order.
    using Storage = std::variant<std::nullptr_t, bool, std::int64_t, std::uint64_t, double, std::string, List, Dict>;

    Value() noexcept = default;
    Value(std::nullptr_t) noexcept {}             ///< nil
    Value(bool value) noexcept : data_(value) {}  ///< a boolean
    template <class Integer, std::enable_if_t<std::is_integral_v<Integer> && !std::is_same_v<Integer, bool>, int> = 0>
    /// Any integer type but bool: held as int64, or as uint64 above INT64_MAX.
    Value(Integer value) noexcept : data_(from_integer(value)) {}
    Value(double value) noexcept : data_(value) {}                  ///< a floating value
    Value(const char* value) : data_(std::string(value)) {}         ///< a string (copied)
    Value(std::string value) noexcept : data_(std::move(value)) {}  ///< a string
    Value(std::string_view value) : data_(std::string(value)) {}    ///< a string (copied)
    Value(List value) noexcept : data_(std::move(value)) {}         ///< a list
    Value(Dict value) noexcept : data_(std::move(value)) {}         ///< a nested dict

    /// Which alternative the value holds.
    Type type() const noexcept { return static_cast<Type>(data_.index()); }
    bool is_nil() const noexcept { return type() == Type::nil; }  ///< holds nil
    /// Holds a boolean.
    bool is_bool() const noexcept { return type() == Type::boolean; }
    /// Holds an integer, signed or unsigned.
    bool is_int() const noexcept { return type() == Type::integer || type() == Type::unsigned_integer; }
    /// Holds a floating value.
    bool is_double() const noexcept { return type() == Type::floating; }
    /// Holds a string.
    bool is_string() const noexcept { return type() == Type::string; }
    /// Holds a list.
    bool is_list() const noexcept { return type() == Type::list; }
    /// Holds a nested dict.
    bool is_dict() const noexcept { return type() == Type::dict; }

    /// The as_* accessors throw std::bad_variant_access when the value holds
    /// another type, and as_int/as_uint std::out_of_range when it does not fit.
    bool as_bool() const { return std::get<bool>(data_); }
    /// The integer; std::bad_variant_access for another type, std::out_of_range above INT64_MAX.
    std::int64_t as_int() const {
        if (const auto* big = std::get_if<std::uint64_t>(&data_)) {
            throw std::out_of_range("dogpile::codec::Value: " + std::to_string(*big) + " does not fit int64");
        }
        return std::get<std::int64_t>(data_);
    }
    /// The integer; std::bad_variant_access for another type, std::out_of_range when negative.
    std::uint64_t as_uint() const {
        if (const auto* big = std::get_if<std::uint64_t>(&data_)) return *big;
        const std::int64_t value = std::get<std::int64_t>(data_);
        if (value < 0) {
            throw std::out_of_range("dogpile::codec::Value: " + std::to_string(value) + " does not fit uint64");
        }
        return static_cast<std::uint64_t>(value);
    }
    /// The floating value; std::bad_variant_access for another type.
    double as_double() const { return std::get<double>(data_); }
    /// The string; std::bad_variant_access for another type.
    const std::string& as_string() const { return std::get<std::string>(data_); }
    /// The list; std::bad_variant_access for another type.
    const List& as_list() const { return std::get<List>(data_); }
    /// The list, to modify in place; std::bad_variant_access for another type.
    List& as_list() { return std::get<List>(data_); }
    /// The nested dict; std::bad_variant_access for another type.
    const Dict& as_dict() const { return std::get<Dict>(data_); }
    /// The nested dict, to modify in place; std::bad_variant_access for another type.
    Dict& as_dict() { return std::get<Dict>(data_); }

    /// The entry `key` of a dict value; std::out_of_range when it has none.
    const Value& at(std::string_view key) const {
        const Dict& dict = as_dict();
        const auto it = dict.find(key);
        if (it == dict.end()) throw_missing(key);
        return it->second;
    }
    /// The entry `key` of a dict value, to modify; std::out_of_range when it has none.
    Value& at(std::string_view key) {
        Dict& dict = as_dict();
        const auto it = dict.find(key);
        if (it == dict.end()) throw_missing(key);
        return it->second;
    }

    /// The underlying variant, for std::visit.
    const Storage& storage() const noexcept { return data_; }
    /// The underlying variant, for std::visit; may be modified.
    Storage& storage() noexcept { return data_; }

    /// Same type and equal contents (an int64 and a uint64 never compare equal).
    friend bool operator==(const Value& a, const Value& b) { return a.data_ == b.data_; }
    /// Not operator==.
    friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

    /// JSON-like, for test failure messages and logs.
    friend std::ostream& operator<<(std::ostream& out, const Value& value) {
        std::visit([&out](const auto& held) { print(out, held); }, value.data_);
        return out;
    }

private:
    [[noreturn]] static void throw_missing(std::string_view key) {
        throw std::out_of_range("dogpile::codec::Value: no key \"" + std::string(key) + "\"");
    }

    template <class Integer>
    static Storage from_integer(Integer value) noexcept {
        if constexpr (std::is_signed_v<Integer>) {
            return Storage(std::in_place_type<std::int64_t>, static_cast<std::int64_t>(value));
        } else {
            if (static_cast<std::uint64_t>(value) <=
                static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                return Storage(std::in_place_type<std::int64_t>, static_cast<std::int64_t>(value));
            }
            return Storage(std::in_place_type<std::uint64_t>, static_cast<std::uint64_t>(value));
        }
    }

    static void print(std::ostream& out, std::nullptr_t) { out << "null"; }
    static void print(std::ostream& out, bool value) { out << (value ? "true" : "false"); }
    static void print(std::ostream& out, std::int64_t value) { out << value; }
    static void print(std::ostream& out, std::uint64_t value) { out << value; }
    static void print(std::ostream& out, double value) {
        std::ostringstream text;
        text << std::setprecision(17) << value;
        out << text.str();
    }
    static void print(std::ostream& out, const std::string& value) { out << std::quoted(value); }
    static void print(std::ostream& out, const List& list) {
        out << '[';
        for (std::size_t i = 0; i < list.size(); ++i) out << (i ? ", " : "") << list[i];
        out << ']';
    }
    static void print(std::ostream& out, const Dict& dict) {
        out << '{';
        const char* separator = "";
        for (const auto& [key, value] : dict) {
            out << separator << std::quoted(key) << ": " << value;
            separator = ", ";
        }
        out << '}';
    }

    Storage data_;
};

/// The sorted keys of a dict, each either a leaf (any value) or nested (a dict
/// with its own template). Immutable once built; copies share nested templates.
/// \code
///   KeyTemplate flags{"read", "write", "admin"};                 // sorted for you
///   KeyTemplate nested{"id", {"perm", {"read", "write"}}};       // perm is a nested dict
///   KeyTemplate::of(dict) == nested;
/// \endcode
class KeyTemplate {
public:
    /// One key of a template: a name, and the template of its value when that is a dict.
    struct Key {
        std::string name;  ///< the key in the dict
        /// The template of the nested dict this key holds; null for a leaf.
        std::shared_ptr<const KeyTemplate> nested;

        Key(std::string key_name) : name(std::move(key_name)) {}  ///< a leaf key
        Key(const char* key_name) : name(key_name) {}             ///< a leaf key
        /// A key whose value is a dict of `nested_template`.
        Key(std::string key_name, KeyTemplate nested_template)
            : name(std::move(key_name)), nested(std::make_shared<const KeyTemplate>(std::move(nested_template))) {}

        /// Whether the value is a nested dict.
        bool is_nested() const noexcept { return nested != nullptr; }

        /// Same name, and equal nested templates if any.
        friend bool operator==(const Key& a, const Key& b) {
            if (a.name != b.name || a.is_nested() != b.is_nested()) return false;
            return !a.is_nested() || a.nested == b.nested || *a.nested == *b.nested;
        }
        /// Not operator==.
        friend bool operator!=(const Key& a, const Key& b) { return !(a == b); }
    };

    KeyTemplate() = default;
    /// Sorts the keys; throws ConfigurationError when a name appears twice.
    KeyTemplate(std::initializer_list<Key> keys) : KeyTemplate(std::vector<Key>(keys)) {}
    /// Sorts the keys; throws ConfigurationError when a name appears twice.
    explicit KeyTemplate(std::vector<Key> keys) : keys_(std::move(keys)) {
        std::sort(keys_.begin(), keys_.end(), [](const Key& a, const Key& b) { return a.name < b.name; });
        const auto duplicate =
            std::adjacent_find(keys_.begin(), keys_.end(), [](const Key& a, const Key& b) { return a.name == b.name; });
        if (duplicate != keys_.end()) {
            throw ConfigurationError("dogpile::codec::KeyTemplate: key \"" + duplicate->name + "\" is listed twice");
        }
    }

    /// A template of leaf keys only.
    static KeyTemplate flat(std::vector<std::string> names) {
        std::vector<Key> keys;
        keys.reserve(names.size());
        for (auto& name : names) keys.emplace_back(std::move(name));
        return KeyTemplate(std::move(keys));
    }

    /// The template of an example dict: every dict-valued key becomes nested.
    static KeyTemplate of(const Dict& dict) {
        std::vector<Key> keys;
        keys.reserve(dict.size());
        for (const auto& [name, value] : dict) {
            if (value.is_dict()) {
                keys.emplace_back(name, of(value.as_dict()));
            } else {
                keys.emplace_back(name);
            }
        }
        return KeyTemplate(std::move(keys));
    }

    /// The template of a flags dict: its keys, all leaves.
    static KeyTemplate of(const Flags& flags) {
        std::vector<Key> keys;
        keys.reserve(flags.size());
        for (const auto& entry : flags) keys.emplace_back(entry.first);
        return KeyTemplate(std::move(keys));
    }

    std::size_t size() const noexcept { return keys_.size(); }       ///< number of keys at this level
    bool empty() const noexcept { return keys_.empty(); }            ///< no keys at all
    const std::vector<Key>& keys() const noexcept { return keys_; }  ///< the keys, sorted
    /// The first key, in sorted order.
    std::vector<Key>::const_iterator begin() const noexcept { return keys_.begin(); }
    /// Past the last key.
    std::vector<Key>::const_iterator end() const noexcept { return keys_.end(); }
    /// The key at `index` in sorted order; std::out_of_range past size().
    const Key& operator[](std::size_t index) const { return keys_.at(index); }

    /// The key called `name`, or nullptr.
    const Key* find(std::string_view name) const {
        const auto it = std::lower_bound(keys_.begin(), keys_.end(), name,
                                         [](const Key& key, std::string_view wanted) { return key.name < wanted; });
        return it != keys_.end() && it->name == name ? &*it : nullptr;
    }

    /// No key is nested (what the Flags and FlagSet codecs require).
    bool is_flat() const noexcept {
        return std::none_of(keys_.begin(), keys_.end(), [](const Key& key) { return key.is_nested(); });
    }

    /// Arrays nested on the wire: 1 for a flat template, one more per level.
    std::size_t depth() const noexcept {
        std::size_t deepest = 0;
        for (const auto& key : keys_) {
            if (key.is_nested()) deepest = std::max(deepest, key.nested->depth());
        }
        return deepest + 1;
    }

    /// "[id, perm: [read, write]]", for error messages.
    std::string to_string() const {
        std::string text = "[";
        for (std::size_t i = 0; i < keys_.size(); ++i) {
            if (i) text += ", ";
            text += keys_[i].name;
            if (keys_[i].is_nested()) text += ": " + keys_[i].nested->to_string();
        }
        return text + "]";
    }

    /// The same keys, nested templates compared by value.
    friend bool operator==(const KeyTemplate& a, const KeyTemplate& b) { return a.keys_ == b.keys_; }
    /// Not operator==.
    friend bool operator!=(const KeyTemplate& a, const KeyTemplate& b) { return !(a == b); }
    /// Writes to_string().
    friend std::ostream& operator<<(std::ostream& out, const KeyTemplate& key_template) {
        return out << key_template.to_string();
    }

private:
    std::vector<Key> keys_;
};

}  // namespace dogpile::codec
