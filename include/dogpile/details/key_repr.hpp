#pragma once
// append_repr(out, value): a value as cache-key text that no other value of its
// type shares (see ReprKeyGenerator in memoize.hpp for the two exceptions), and
// that ends where it visibly ends, so that parts can be joined without being
// confused. Readable like Python's repr():
//   strings, chars         'x y'  'it\'s'  'a'   (only \ and ' are escaped)
//   null C string, empty optional   None
//   bool, integers, enums  True  False  42  -7  (enums: their underlying value)
//   floating point         1.5  0.1  1.0  1e+16  1.5e-07  inf  -inf  nan  -0.0
//   pair, tuple            (1, 'a')  (1,)
//   ranges                 [1, 2]  [(1, 'a'), (2, 'b')]
//   anything else          its operator<< text, quoted like a string
// Why no two values collide: a quoted string ends at its first unescaped
// quote, and the other forms never contain a quote, a space, a comma or a
// bracket outside the quoted strings they hold.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

namespace dogpile::details {

template <class T>
inline constexpr bool always_false = false;

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

// Only pair and tuple: std::array is a tuple-like too, but reads better as a list.
template <class T>
struct is_pair_or_tuple : std::false_type {};
template <class A, class B>
struct is_pair_or_tuple<std::pair<A, B>> : std::true_type {};
template <class... Ts>
struct is_pair_or_tuple<std::tuple<Ts...>> : std::true_type {};

template <class T, class = void>
struct range_element {
    using type = void;
};
template <class T>
struct range_element<
    T, std::void_t<decltype(std::begin(std::declval<const T&>())), decltype(std::end(std::declval<const T&>()))>> {
    using type = std::decay_t<decltype(*std::begin(std::declval<const T&>()))>;
};

// A type whose elements are of its own type (std::filesystem::path) would
// recurse forever as a list: it is left to operator<<.
template <class T>
inline constexpr bool is_list_like =
    !std::is_void_v<typename range_element<T>::type> && !std::is_same_v<typename range_element<T>::type, T>;

template <class T, class = void>
struct is_streamable : std::false_type {};
template <class T>
struct is_streamable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const T&>())>>
    : std::true_type {};

inline void append_quoted(std::string& out, std::string_view text) {
    out += '\'';
    for (char c : text) {
        if (c == '\\' || c == '\'') out += '\\';
        out += c;
    }
    out += '\'';
}

// A char buffer holds a C string: up to its first NUL, never past its end.
template <std::size_t N>
std::string_view c_string_in(const char (&buffer)[N]) {
    return std::string_view(buffer, static_cast<std::size_t>(std::find(buffer, buffer + N, '\0') - buffer));
}

template <class Integer>
void append_integer(std::string& out, Integer value) {
    char digits[64];  // wider than any integer's decimal form, __int128's included
    // Unary + turns char-sized integers (an enum's underlying type) into int:
    // they are numbers here, not characters.
    const auto result = std::to_chars(std::begin(digits), std::end(digits), +value);
    out.append(digits, result.ptr);
}

// Python's repr(float): the shortest digits that read back as the same value,
// positional when the decimal exponent is in [-4, 16) and then always with a
// fraction ("1.0"), otherwise scientific with a signed exponent of at least two
// digits ("1e+16", "1.5e-07").
template <class Float>
void append_float(std::string& out, Float value) {
    if (std::isnan(value)) {
        out += "nan";  // every NaN alike, as in Python: its sign and payload are not worth an entry each
        return;
    }
    if (std::isinf(value)) {
        out += value < 0 ? "-inf" : "inf";
        return;
    }
    char text[64];  // the longest, a negative long double with 21 digits, needs about 30
    const auto result = std::to_chars(std::begin(text), std::end(text), value, std::chars_format::scientific);
    std::string_view scientific(text, static_cast<std::size_t>(result.ptr - text));  // [-]d[.ddd]e(+|-)dd[d]

    const std::size_t e = scientific.find('e');
    std::string_view exponent_text = scientific.substr(e + 1);
    const bool negative_exponent = exponent_text.front() == '-';
    int exponent = 0;
    std::from_chars(exponent_text.data() + 1, exponent_text.data() + exponent_text.size(), exponent);
    if (negative_exponent) exponent = -exponent;
    if (exponent < -4 || exponent >= 16) {
        out += scientific;
        return;
    }

    std::string_view mantissa = scientific.substr(0, e);
    if (mantissa.front() == '-') {
        out += '-';
        mantissa.remove_prefix(1);
    }
    std::string digits(1, mantissa.front());
    if (mantissa.size() > 2) digits += mantissa.substr(2);  // drops the point
    if (exponent < 0) {
        out += "0.";
        out.append(static_cast<std::size_t>(-exponent - 1), '0');
        out += digits;
        return;
    }
    const auto whole = static_cast<std::size_t>(exponent) + 1;
    if (digits.size() <= whole) {
        out += digits;
        out.append(whole - digits.size(), '0');
        out += ".0";
    } else {
        out.append(digits, 0, whole);
        out += '.';
        out.append(digits, whole, std::string::npos);
    }
}

template <class T>
void append_repr(std::string& out, const T& value);

template <class Tuple, std::size_t... I>
void append_tuple(std::string& out, [[maybe_unused]] const Tuple& tuple, std::index_sequence<I...>) {
    out += '(';
    ((out += (I == 0 ? "" : ", "), append_repr(out, std::get<I>(tuple))), ...);
    if constexpr (sizeof...(I) == 1) out += ',';  // (1,) as in Python: (1) would read as a parenthesised 1
    out += ')';
}

template <class T>
void append_repr(std::string& out, const T& value) {
    if constexpr (std::is_same_v<T, std::nullptr_t>) {
        out += "None";
    } else if constexpr (std::is_same_v<T, bool>) {
        out += value ? "True" : "False";
    } else if constexpr (std::is_same_v<T, char>) {
        append_quoted(out, std::string_view(&value, 1));
    } else if constexpr (std::is_enum_v<T>) {
        append_integer(out, static_cast<std::underlying_type_t<T>>(value));
    } else if constexpr (std::is_integral_v<T>) {
        append_integer(out, value);
    } else if constexpr (std::is_floating_point_v<T>) {
        append_float(out, value);
    } else if constexpr (std::is_array_v<T> && std::is_same_v<std::remove_cv_t<std::remove_extent_t<T>>, char>) {
        append_quoted(out, c_string_in(value));
    } else if constexpr (std::is_same_v<T, const char*> || std::is_same_v<T, char*>) {
        if (value == nullptr) {
            out += "None";
        } else {
            append_quoted(out, value);
        }
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
        append_quoted(out, std::string_view(value));
    } else if constexpr (is_optional<T>::value) {
        // optional<optional<U>> is the exception: both kinds of empty read None.
        if (value) {
            append_repr(out, *value);
        } else {
            out += "None";
        }
    } else if constexpr (is_pair_or_tuple<T>::value) {
        append_tuple(out, value, std::make_index_sequence<std::tuple_size_v<T>>{});
    } else if constexpr (is_list_like<T>) {
        out += '[';
        bool first = true;
        for (const auto& element : value) {
            if (!first) out += ", ";
            first = false;
            append_repr(out, element);
        }
        out += ']';
    } else if constexpr (is_streamable<T>::value) {
        // Quoted, so that no text the type prints can pass for a separator; the
        // key is as injective as the operator<< is.
        std::ostringstream text;
        text << value;
        append_quoted(out, text.str());
    } else {
        static_assert(always_false<T>,
                      "no key text for this argument type: give it an operator<<, or pass memoize() a key generator");
    }
}

}  // namespace dogpile::details
