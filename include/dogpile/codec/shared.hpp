#pragma once
// SharedCodec<Codec>: any codec of T as a codec of std::shared_ptr<const T>,
// so a cache of large values hands out pointers: a memory or near-cache hit
// is one reference-count increment instead of a copy of T.
//
//   codec::SharedCodec<FlagsCodec> codec{FlagsCodec{key_template}};
//   std::shared_ptr<const Flags> flags = codec.decode(bytes);   // one allocation, T moved in
//
// Rarely named: a Redis backend whose Value is std::shared_ptr<const T> wraps
// a codec of T itself (CodecFor below), and MsgpackCodec<std::shared_ptr<const T>>
// is this adapter over MsgpackCodec<T>, so
//
//   RedisHashBackend<std::shared_ptr<const Flags>, FlagsCodec> backend(options, FlagsCodec{key_template});
//
// stores exactly the bytes RedisHashBackend<Flags, FlagsCodec> stores.
//
// A null pointer has no encoding (the wire format is T's, which other
// services read): encoding one is an EncodeError. Decoding never yields null.

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../errors.hpp"

namespace dogpile::codec {

namespace details {

// Whether Codec can append its encoding to a string (encode_to), which saves
// the envelope a second buffer.
template <class Codec, class = void>
struct codec_appends : std::false_type {};
template <class Codec>
struct codec_appends<Codec, std::void_t<decltype(std::declval<const Codec&>().encode_to(
                                std::declval<const typename Codec::value_type&>(), std::declval<std::string&>()))>>
    : std::true_type {};

}  // namespace details

/// Turns a codec of T into a codec of `std::shared_ptr<const T>`: the same bytes as the inner
/// codec. Encoding a null pointer throws EncodeError.
template <class Codec>
class SharedCodec {
public:
    using inner_codec_type = Codec;                          ///< the codec of the pointed-to value
    using element_type = typename Codec::value_type;         ///< the pointed-to type
    using value_type = std::shared_ptr<const element_type>;  ///< what it encodes

    SharedCodec() = default;
    /// Wraps `inner`.
    explicit SharedCodec(Codec inner) : inner_(std::move(inner)) {}

    /// The codec of the pointed-to value.
    const Codec& inner() const noexcept { return inner_; }

    /// The inner codec's encoding of `*value`.
    std::string encode(const value_type& value) const { return inner_.encode(checked(value)); }

    /// Appends the encoding of `*value` to `out` (the inner codec's encode_to
    /// when it has one, so the envelope header and the payload share a buffer).
    void encode_to(const value_type& value, std::string& out) const {
        const element_type& element = checked(value);
        if constexpr (details::codec_appends<Codec>::value) {
            inner_.encode_to(element, out);
        } else {
            out += inner_.encode(element);
        }
    }

    /// The inner codec's value, moved into the pointer's own allocation.
    value_type decode(std::string_view bytes) const {
        return std::make_shared<const element_type>(inner_.decode(bytes));
    }

private:
    static const element_type& checked(const value_type& value) {
        if (!value) {
            throw EncodeError(
                "shared codec: cannot encode a null std::shared_ptr (the wire format is the pointee's; keep null "
                "results out of the cache with GetOrCreateOptions::should_cache)");
        }
        return *value;
    }

    Codec inner_{};
};

/// The codec a backend of `Value` runs when given `Codec`: `Codec` itself when
/// it encodes Value, `SharedCodec<Codec>` when Value is
/// `std::shared_ptr<const Codec::value_type>`. adapt() turns the codec the user gave into it.
template <class Value, class Codec, class = void>
struct CodecFor {
    using type = Codec;  ///< the codec the backend runs
    /// Turns the user's codec into `type`.
    static Codec adapt(Codec codec) { return codec; }
};

/// A Value of `std::shared_ptr<const T>` with a codec of T: SharedCodec.
template <class T, class Codec>
struct CodecFor<std::shared_ptr<const T>, Codec, std::enable_if_t<std::is_same_v<typename Codec::value_type, T>>> {
    using type = SharedCodec<Codec>;  ///< the codec the backend runs
    /// Wraps the user's codec in a SharedCodec.
    static type adapt(Codec codec) { return type(std::move(codec)); }
};

/// CodecFor<Value, Codec>::type.
template <class Value, class Codec>
using codec_for_t = typename CodecFor<Value, Codec>::type;

}  // namespace dogpile::codec
