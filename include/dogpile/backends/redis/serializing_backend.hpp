#pragma once
/// \file
/// SerializingBackend<Store, Value, Codec>: a Backend<Value, Key> over a Redis
/// byte store (docs/architecture.md, "Serialization is a layer"). The store
/// moves bytes (RedisStringStore, RedisHashStore, RedisSymmetricStore); this
/// adapter owns the codec and the payload mode (raw codec bytes, or the
/// envelope of codec/envelope.hpp in front of them) and turns entries into
/// bytes and back. RedisBackend, RedisHashBackend and RedisSymmetricBackend
/// are this adapter over their store; the store's own operations (erase_hash,
/// invalidate_a, options(), stats(), ...) are the adapter's too. Called
/// directly, every operation throws what went wrong, while stats() never
/// throws (docs/reliability.md, "Errors outside the region").
///
/// The default codec is codec::MsgpackCodec<Value>, declared here only: a TU
/// that uses it includes dogpile/codec/msgpack.hpp (kept out of the store
/// headers, where it would cost every TU its compile time).
///
/// Large values: with Value = std::shared_ptr<const T>, give the codec of T
/// (FlagsCodec, DictValuesCodec, a codec of your own; the default
/// MsgpackCodec<Value> is already the shared one). The adapter wraps it in
/// codec::SharedCodec: the bytes are T's, a decode is one make_shared, a null
/// pointer handed to set() is an EncodeError. A near cache or a memory
/// backend in front then hands out that pointer on every hit.
///
/// A stored value that cannot be decoded is never served: get() throws
/// DecodeError; get_multi() returns std::nullopt for that entry and reports it
/// through the store's error hook. The store's stats().decode_errors counts both.

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../../backend.hpp"
#include "../../cached_value.hpp"
#include "../../errors.hpp"
#include "../../mutex.hpp"
#include "../../redis/reply.hpp"
#include "details/payload.hpp"
#include "keyed_bytes.hpp"

namespace dogpile::codec {
template <class T>
class MsgpackCodec;
}  // namespace dogpile::codec

namespace dogpile::redis {

/// A Backend over a Redis byte store: the store moves bytes, this adapter owns the codec and the
/// payload mode. The store's own operations and statistics are the adapter's too. Thread-safe as
/// its store.
template <class Store, class Value, class Codec = codec::MsgpackCodec<Value>>
class SerializingBackend final : public Backend<Value, typename Store::key_type>, public Store {
public:
    /// The store's key type.
    using key_type = typename Store::key_type;
    /// The Backend interface it implements.
    using base_type = Backend<Value, key_type>;
    using typename base_type::entry_type;
    /// The byte store it derives from.
    using store_type = Store;
    /// The store's options, which the constructor takes.
    using options_type = typename Store::options_type;
    /// The codec that turns a Value into bytes and back.
    using codec_type = Codec;

    /// Throws ConfigurationError for invalid options (see options_type::validate()).
    explicit SerializingBackend(options_type options, Codec codec = Codec())
        : Store(std::move(options)), payload_(std::move(codec), Store::payload_mode(), Store::limits()) {}

    /// The store's bytes, decoded. Throws DecodeError (counted in stats().decode_errors) for bytes
    /// that cannot be decoded.
    std::optional<entry_type> get(const key_type& key) override {
        const std::optional<Reply> bytes = Store::get(key);
        if (!bytes) return std::nullopt;
        try {
            return decode(bytes->view(), key);
        } catch (const DecodeError&) {
            Store::count_decode_error();
            throw;
        }
    }

    /// The store's bytes, decoded; an entry that cannot be decoded is a miss, counted and reported
    /// through the store's error hook.
    std::vector<std::optional<entry_type>> get_multi(const std::vector<key_type>& keys) override {
        const std::vector<std::optional<Reply>> found = Store::get_multi(keys);
        std::vector<std::optional<entry_type>> out(keys.size());
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (!found[i]) continue;
            try {
                out[i] = decode(found[i]->view(), keys[i]);
            } catch (const DecodeError&) {
                Store::report_decode_error("get_multi", std::current_exception());
            }
        }
        return out;
    }

    /// The entry is only read: encoding needs no copy of the value, so the
    /// rvalue set of Backend (which forwards here) costs nothing more.
    void set(const key_type& key, const entry_type& entry) override { Store::set(key, encode(entry, key)); }

    /// Every entry is encoded before the store checks and sends anything.
    void set_multi(const std::vector<std::pair<key_type, entry_type>>& entries) override {
        if (entries.empty()) return;
        std::vector<KeyedBytes<key_type>> writes;
        writes.reserve(entries.size());
        for (const auto& [key, entry] : entries) writes.push_back(KeyedBytes<key_type>{key, encode(entry, key)});
        Store::set_multi(std::move(writes));
    }

    /// The store's erase().
    void erase(const key_type& key) override { Store::erase(key); }
    /// The store's erase_multi().
    void erase_multi(const std::vector<key_type>& keys) override { Store::erase_multi(keys); }
    /// The store's distributed lock for `key`, or nullptr without one.
    std::unique_ptr<Mutex> get_mutex(const key_type& key) override { return Store::get_mutex(key); }

    /// The codec given to the constructor (the codec of T for a shared Value).
    const Codec& codec() const noexcept { return payload_.codec(); }

private:
    // Throws what the codec throws (EncodeError) and LimitExceeded (key or payload over limits).
    std::string encode(const entry_type& entry, const key_type& key) const {
        return payload_.encode(entry, [&] { return Store::describe(key); });
    }

    entry_type decode(std::string_view bytes, const key_type& key) const {
        return payload_.decode(bytes, [&] { return Store::describe(key); });
    }

    details::PayloadCodec<Value, Codec> payload_;
};

}  // namespace dogpile::redis
