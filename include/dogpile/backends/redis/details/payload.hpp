#pragma once
// PayloadCodec: a value codec plus the payload mode and the size limits, i.e.
// everything between a CachedValue and the bytes a Redis backend stores.
// Shared by the Redis backends so that all of them treat corrupt bytes alike:
// anything that cannot be decoded is a DecodeError, never a crash, never a
// value made up from garbage.
//
// The codec may also be one of T for a std::shared_ptr<const T> Value: it is
// then run through codec::SharedCodec (codec/shared.hpp), so every codec
// decodes straight into the pointer a memory or near-cache hit hands out.

#include <cstddef>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../../../cached_value.hpp"
#include "../../../codec/envelope.hpp"
#include "../../../codec/shared.hpp"
#include "../../../errors.hpp"
#include "../backend_options.hpp"

namespace dogpile::redis::details {

// A key or field as text for an error message: printable ASCII as is, other
// bytes as \xNN, cut after 120 bytes (keys may be binary and long).
inline std::string printable(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    constexpr std::size_t shown = 120;
    std::string out;
    for (std::size_t i = 0; i < bytes.size() && i < shown; ++i) {
        const auto c = static_cast<unsigned char>(bytes[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out.push_back(static_cast<char>(c));
        } else {
            out += {'\\', 'x', digits[c >> 4], digits[c & 15]};
        }
    }
    if (bytes.size() > shown) out += "...(" + std::to_string(bytes.size()) + " bytes)";
    return out;
}

template <class Value, class Codec>
class PayloadCodec {
    using Adapter = codec::CodecFor<Value, Codec>;
    using Runs = typename Adapter::type;

public:
    static_assert(std::is_same_v<typename Runs::value_type, Value>,
                  "the codec's value_type must be the backend's Value (or T for a std::shared_ptr<const T> Value)");

    PayloadCodec(Codec codec, PayloadMode mode, BackendLimits limits)
        : codec_(Adapter::adapt(std::move(codec))), mode_(mode), limits_(limits) {}

    // The codec as given, not the adapter around it.
    const Codec& codec() const noexcept {
        if constexpr (std::is_same_v<Runs, Codec>) {
            return codec_;
        } else {
            return codec_.inner();
        }
    }
    PayloadMode mode() const noexcept { return mode_; }
    const BackendLimits& limits() const noexcept { return limits_; }

    // Throws what the codec throws (EncodeError) and LimitExceeded when the
    // result is over limits.max_payload_bytes. `where()` names the entry in
    // error messages; it is called only when there is an error.
    template <class Where>
    std::string encode(const CachedValue<Value>& entry, Where&& where) const {
        std::string out;
        if (mode_ == PayloadMode::envelope) {
            codec::envelope::append_header(out, entry.metadata);
        }
        if constexpr (codec::details::codec_appends<Runs>::value) {
            codec_.encode_to(entry.value, out);
        } else {
            out += codec_.encode(entry.value);
        }
        if (out.size() > limits_.max_payload_bytes) {
            throw LimitExceeded(where() + ": payload of " + std::to_string(out.size()) +
                                " bytes exceeds limits.max_payload_bytes (" +
                                std::to_string(limits_.max_payload_bytes) + ")");
        }
        return out;
    }

    // Throws DecodeError for anything that is not a valid payload, whatever
    // the codec threw (only std::bad_alloc passes through as itself).
    template <class Where>
    CachedValue<Value> decode(std::string_view bytes, Where&& where) const {
        if (bytes.size() > limits_.max_payload_bytes) {
            throw DecodeError(where() + ": stored payload of " + std::to_string(bytes.size()) +
                              " bytes exceeds limits.max_payload_bytes (" + std::to_string(limits_.max_payload_bytes) +
                              ")");
        }
        try {
            if (mode_ == PayloadMode::raw) {
                return CachedValue<Value>{codec_.decode(bytes), Metadata::store_managed()};
            }
            const codec::envelope::Unwrapped unwrapped = codec::envelope::unwrap(bytes);
            return CachedValue<Value>{codec_.decode(unwrapped.payload), unwrapped.metadata};
        } catch (const DecodeError& e) {
            throw DecodeError(where() + ": " + e.what());
        } catch (const std::bad_alloc&) {
            throw;
        } catch (const std::exception& e) {
            throw DecodeError(where() + ": cannot decode the stored payload: " + e.what());
        } catch (...) {
            throw DecodeError(where() +
                              ": cannot decode the stored payload (the codec threw a non-standard exception)");
        }
    }

private:
    Runs codec_;
    PayloadMode mode_;
    BackendLimits limits_;
};

}  // namespace dogpile::redis::details
