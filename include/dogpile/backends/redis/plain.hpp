#pragma once
// RedisBackend: one Redis string per cache key (dogpile.cache's redis
// backend). The stored bytes are codec/envelope.hpp's header {created_at,
// version} followed by the codec's payload, so a region's expiration_time and
// soft invalidation work across processes; options.store_ttl additionally
// lets Redis drop entries nobody reads any more.
//
//   auto client = dogpile::redis::make_client("redis://127.0.0.1:6379");
//   auto backend = std::make_shared<dogpile::RedisBackend<std::string>>(
//       dogpile::RedisBackendOptions{client, "myapp:"});
//   dogpile::RegionOptions<std::string> region_options;
//   region_options.expiration_time = std::chrono::minutes(5);
//   dogpile::Region<std::string> region(backend, region_options);
//
// Redis commands per operation (one round trip each):
//   get GET · get_multi one MGET · set SET [PX] · set_multi SETs pipelined ·
//   erase DEL · erase_multi one DEL
//
// A stored value that cannot be decoded is never served: get() throws
// DecodeError (a region counts it and treats it as a miss, then overwrites
// it); get_multi() returns std::nullopt for that entry only and reports it
// through options.error_hook. stats().decode_errors counts both.
//
// Thread-safe: the client's pool serves concurrent calls.

#include <chrono>
#include <functional>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../backend.hpp"
#include "../../cached_value.hpp"
#include "../../codec/msgpack.hpp"
#include "../../errors.hpp"
#include "../../mutex.hpp"
#include "../../redis/client.hpp"
#include "../../redis/command.hpp"
#include "../../redis/errors.hpp"
#include "../../redis/lock.hpp"
#include "../../redis/reply.hpp"
#include "backend_options.hpp"
#include "details/hash_store.hpp"
#include "details/payload.hpp"

namespace dogpile {

struct RedisBackendOptions {
    std::shared_ptr<redis::Client> client{};
    // Prepended to every key ("myapp:"); part of the Redis key for the limits.
    std::string key_prefix{};
    // SET ... PX: Redis deletes an entry this long after its last write.
    // Independent of the region's expiration_time (which decides freshness);
    // make it longer so stale values can still be served while regenerating.
    std::optional<Duration> store_ttl{};
    // When set, get_mutex() hands the region a Redis lock (redis/lock.hpp)
    // whose resource is the entry's Redis key (key_prefix + key).
    std::optional<redis::LockOptions> distributed_lock{};
    redis::BackendLimits limits{};
    redis::BackendErrorHook error_hook{};

    // Throws ConfigurationError for options that cannot work.
    void validate() const {
        static constexpr std::string_view name = "RedisBackend";
        redis::details::validate_client(client, name);
        redis::details::validate_ttl(store_ttl, "store_ttl", name);
        redis::details::validate_lock(distributed_lock, name);
        limits.validate(name);
        if (key_prefix.size() > limits.max_key_bytes) {
            throw ConfigurationError("RedisBackend: key_prefix is longer than limits.max_key_bytes");
        }
    }
};

template <class Value, class Codec = codec::MsgpackCodec<Value>>
class RedisBackend final : public Backend<Value, std::string> {
public:
    using base_type = Backend<Value, std::string>;
    using typename base_type::entry_type;
    using options_type = RedisBackendOptions;
    using codec_type = Codec;

    // Throws ConfigurationError for invalid options (see validate()).
    explicit RedisBackend(RedisBackendOptions options, Codec codec = Codec())
        : options_(validated(std::move(options))),
          px_(redis::details::validate_ttl(options_.store_ttl, "store_ttl", "").count()),
          payload_(std::move(codec), redis::PayloadMode::envelope, options_.limits) {}

    // Throws LimitExceeded for an over-long key, DecodeError for a stored
    // value that cannot be decoded.
    std::optional<entry_type> get(const std::string& key) override {
        const std::string redis_key = redis_key_of(key);
        const redis::Reply reply = client().command(redis_key, redis::Command{"GET", redis_key});
        if (reply.is_nil()) return std::nullopt;
        if (!reply.is_string()) {
            throw redis::ProtocolError(std::string("redis GET: expected a string or nil, got ") +
                                       redis::to_string(reply.type()));
        }
        return decode(reply.view(), redis_key);
    }

    // One MGET. An over-long key or an undecodable value turns only its own
    // entry into a miss (counted, and reported through options.error_hook).
    std::vector<std::optional<entry_type>> get_multi(const std::vector<std::string>& keys) override {
        std::vector<std::optional<entry_type>> out(keys.size());
        std::vector<std::string> redis_keys;
        std::vector<std::size_t> positions;
        redis_keys.reserve(keys.size());
        positions.reserve(keys.size());
        for (std::size_t i = 0; i < keys.size(); ++i) {
            try {
                redis_keys.push_back(redis_key_of(keys[i]));
                positions.push_back(i);
            } catch (const LimitExceeded&) {
                counters_.rejected_keys.fetch_add(1, std::memory_order_relaxed);
                redis::details::report(options_.error_hook, "get_multi", std::current_exception());
            }
        }
        if (redis_keys.empty()) return out;

        // Routed by the first key; a cluster client would split an MGET
        // whose keys live on several nodes.
        const redis::Reply reply = client().command(redis_keys.front(), redis::Command{"MGET"}.args(redis_keys));
        if (!reply.is_array() || reply.size() != redis_keys.size()) {
            throw redis::ProtocolError("redis MGET: expected an array of " + std::to_string(redis_keys.size()) +
                                       " elements, got " + redis::to_string(reply.type()));
        }
        for (std::size_t k = 0; k < redis_keys.size(); ++k) {
            const redis::Reply element = reply.at(k);
            if (element.is_nil()) continue;
            try {
                if (!element.is_string()) {
                    throw DecodeError("key '" + redis::details::printable(redis_keys[k]) + "': MGET returned a " +
                                      redis::to_string(element.type()) + " instead of a string");
                }
                out[positions[k]] = decode(element.view(), redis_keys[k]);
            } catch (const DecodeError&) {
                redis::details::report(options_.error_hook, "get_multi", std::current_exception());
            }
        }
        return out;
    }

    void set(const std::string& key, const entry_type& entry) override {
        const std::string redis_key = redis_key_of(key);
        const redis::Reply reply = client().command(redis_key, set_command(redis_key, encode(entry, redis_key)));
        if (!reply.is_ok()) {
            throw redis::ProtocolError(std::string("redis SET: expected OK, got ") + redis::to_string(reply.type()));
        }
    }

    // All SETs in one round trip. Every entry is checked and encoded before
    // anything is sent, so an over-limit key or value writes nothing.
    void set_multi(const std::vector<std::pair<std::string, entry_type>>& entries) override {
        if (entries.empty()) return;
        std::vector<redis::KeyedCommand> commands;
        commands.reserve(entries.size());
        for (const auto& [key, entry] : entries) {
            std::string redis_key = redis_key_of(key);
            redis::Command command = set_command(redis_key, encode(entry, redis_key));
            commands.push_back(redis::KeyedCommand{std::move(redis_key), std::move(command)});
        }
        redis::details::throw_if_any_error(client().batch(commands), "redis SET (set_multi)");
    }

    void erase(const std::string& key) override {
        const std::string redis_key = redis_key_of(key);
        client().command(redis_key, redis::Command{"DEL", redis_key});
    }

    // One DEL for all keys (routed by the first; a cluster client would split it).
    void erase_multi(const std::vector<std::string>& keys) override {
        if (keys.empty()) return;
        redis::Command del{"DEL"};
        for (const auto& key : keys) del.arg(redis_key_of(key));
        client().command(del[1], del);
    }

    std::unique_ptr<Mutex> get_mutex(const std::string& key) override {
        if (!locks_) return nullptr;
        return locks_->make(lock_resource(key));
    }

    // The distributed locks (nullptr without options.distributed_lock): their lost-reply statistics.
    const redis::DistributedLocks* distributed_locks() const noexcept { return locks_.get(); }

    // The distributed lock's resource for `key`: its Redis key, key_prefix + key.
    std::string lock_resource(const std::string& key) const { return redis_key_of(key); }

    // key_prefix + key; throws LimitExceeded when over limits.max_key_bytes.
    std::string redis_key_of(std::string_view key) const {
        std::string redis_key;
        redis_key.reserve(options_.key_prefix.size() + key.size());
        redis_key += options_.key_prefix;
        redis_key.append(key.data(), key.size());
        redis::details::check_key_bytes(redis_key, options_.limits, "key");
        return redis_key;
    }

    const RedisBackendOptions& options() const noexcept { return options_; }
    const Codec& codec() const noexcept { return payload_.codec(); }

    redis::RedisBackendStats stats() const noexcept { return counters_.snapshot(); }
    void reset_stats() noexcept { counters_.reset(); }

private:
    static RedisBackendOptions validated(RedisBackendOptions options) {
        options.validate();
        return options;
    }

    redis::Client& client() const noexcept { return *options_.client; }

    redis::Command set_command(std::string_view redis_key, std::string_view payload) const {
        redis::Command command{"SET", redis_key, payload};
        if (px_ > 0) command.arg("PX").arg(px_);
        return command;
    }

    std::string encode(const entry_type& entry, std::string_view redis_key) const {
        return payload_.encode(entry, [&] { return "key '" + redis::details::printable(redis_key) + "'"; });
    }

    entry_type decode(std::string_view bytes, std::string_view redis_key) const {
        try {
            return payload_.decode(bytes, [&] { return "key '" + redis::details::printable(redis_key) + "'"; });
        } catch (const DecodeError&) {
            counters_.decode_errors.fetch_add(1, std::memory_order_relaxed);
            throw;
        }
    }

    RedisBackendOptions options_;
    long long px_;
    redis::details::PayloadCodec<Value, Codec> payload_;
    mutable redis::details::BackendCounters counters_;
    // After options_: built from them.
    std::unique_ptr<redis::DistributedLocks> locks_ =
        redis::details::make_distributed_locks(options_.client, options_.distributed_lock, options_.error_hook);
};

// For NearCacheBackend: which Redis key holds a cache key's entry (one string
// per entry: key_prefix + key).
inline std::function<std::string(const std::string&)> string_store_redis_keys(std::string key_prefix) {
    return [prefix = std::move(key_prefix)](const std::string& key) {
        std::string out;
        out.reserve(prefix.size() + key.size());
        out += prefix;
        out += key;
        return out;
    };
}

template <class Value, class Codec>
std::function<std::string(const std::string&)> redis_keys_of(const RedisBackend<Value, Codec>& backend) {
    return string_store_redis_keys(backend.options().key_prefix);
}

}  // namespace dogpile
