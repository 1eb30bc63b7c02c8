#pragma once
// MsgpackCodec<T>: the generic codec for anything msgpack-c can pack and
// convert: strings, integers, floats, vectors, maps, optionals, tuples and
// user types with MSGPACK_DEFINE.
//
//   MsgpackCodec<std::map<std::string, std::vector<int>>> codec;
//   std::string bytes = codec.encode(value);
//   auto back = codec.decode(bytes);   // DecodeError on malformed input or a type mismatch
//
// Decoding first walks the payload with dogpile's own validator (limits,
// depth, exactly one object, no trailing bytes). msgpack-c allocates for an
// array or map as soon as it reads the header, so only a payload whose every
// count has been proven by the bytes that follow reaches it; its memory use is
// then proportional to the payload size.
//
// MsgpackCodec<std::shared_ptr<const T>> is MsgpackCodec<T> behind
// SharedCodec (codec/shared.hpp): the bytes of T, decoded into one
// make_shared, a null pointer an EncodeError. It is the default codec of a
// Redis backend whose Value is std::shared_ptr<const T>.

#include <cstddef>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>

#include "../errors.hpp"
#include "details/msgpack_include.hpp"
#include "details/msgpack_reader.hpp"
#include "limits.hpp"
#include "shared.hpp"

namespace dogpile::codec {

namespace details {

// msgpack-c's packer writes straight into the result string.
struct StringSink {
    std::string* out;
    void write(const char* data, std::size_t size) { out->append(data, size); }
};

inline msgpack::unpack_limit to_unpack_limit(const DecodeLimits& limits) {
    return msgpack::unpack_limit(limits.max_array_length, limits.max_map_length, limits.max_string_length,
                                 limits.max_bin_length, limits.max_ext_length, limits.max_depth);
}

// Checks that `bytes` is exactly one well-formed msgpack object within `limits`.
inline void validate_msgpack(std::string_view bytes, const DecodeLimits& limits) {
    limits.check_payload_size(bytes.size());
    MsgpackReader reader(bytes, limits);
    reader.skip_object();
    reader.expect_end();
}

}  // namespace details

/// The generic codec for anything msgpack-c can pack and convert: strings, numbers, vectors, maps,
/// optionals, tuples and user types with MSGPACK_DEFINE. Decoding validates the payload first
/// (limits, depth, exactly one object), so msgpack-c allocates only for counts the bytes prove.
template <class T>
class MsgpackCodec {
public:
    using value_type = T;  ///< what it encodes

    MsgpackCodec() = default;
    /// A codec whose decode() enforces `limits`.
    explicit MsgpackCodec(DecodeLimits limits) : limits_(limits) {}

    /// What decode() accepts.
    const DecodeLimits& limits() const noexcept { return limits_; }

    /// The msgpack bytes of `value`; EncodeError when msgpack-c cannot pack it.
    std::string encode(const T& value) const {
        std::string out;
        encode_to(value, out);
        return out;
    }

    /// Appends the encoding of `value` to `out`.
    void encode_to(const T& value, std::string& out) const {
        try {
            details::StringSink sink{&out};
            msgpack::pack(sink, value);
        } catch (const Error&) {
            throw;
        } catch (const std::bad_alloc&) {
            throw;
        } catch (const std::exception& e) {
            // msgpack-c reports containers over 2^32-1 elements as length/runtime errors.
            throw EncodeError(std::string("msgpack codec: cannot encode value: ") + e.what());
        }
    }

    /// The value back; DecodeError on malformed input, limits exceeded, trailing bytes or a type
    /// mismatch.
    T decode(std::string_view bytes) const {
        details::validate_msgpack(bytes, limits_);
        try {
            std::size_t offset = 0;
            const msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr,
                                                                  details::to_unpack_limit(limits_));
            if (offset != bytes.size()) {
                throw DecodeError("msgpack codec: " + std::to_string(bytes.size() - offset) +
                                  " trailing byte(s) after the object");
            }
            return handle.get().as<T>();
        } catch (const Error&) {
            throw;
        } catch (const std::bad_alloc&) {
            throw;
        } catch (const msgpack::type_error&) {
            throw DecodeError("msgpack codec: the payload's msgpack types do not match the value type");
        } catch (const msgpack::unpack_error& e) {
            throw DecodeError(std::string("msgpack codec: ") + e.what());
        } catch (const std::exception& e) {
            // A user adaptor's own complaint about the data is still bad data.
            throw DecodeError(std::string("msgpack codec: cannot convert the payload: ") + e.what());
        }
    }

private:
    DecodeLimits limits_{};
};

/// The codec of a shared value: `*value` in T's wire format, which other services read
/// (msgpack-c's own std::shared_ptr adaptor, nil for null, is not used).
template <class T>
class MsgpackCodec<std::shared_ptr<const T>> : public SharedCodec<MsgpackCodec<T>> {
public:
    MsgpackCodec() = default;
    /// A codec whose decode() enforces `limits`.
    explicit MsgpackCodec(DecodeLimits limits) : SharedCodec<MsgpackCodec<T>>(MsgpackCodec<T>(limits)) {}

    /// What decode() accepts.
    const DecodeLimits& limits() const noexcept { return this->inner().limits(); }
};

}  // namespace dogpile::codec
