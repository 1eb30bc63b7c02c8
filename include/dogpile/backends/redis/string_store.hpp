#pragma once
// RedisStringStore: the byte store behind RedisBackend (plain.hpp), one Redis
// string per cache key: key_prefix + key -> bytes. Usable on its own for
// bytes; RedisBackend<Value, Codec> adds the codec and the envelope.
//
// Redis commands per operation (one round trip each):
//   get GET · get_multi one MGET · set SET [PX] · set_multi SETs pipelined ·
//   erase DEL · erase_multi one DEL
//
// Thread-safe: the client's pool serves concurrent calls.

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../errors.hpp"
#include "../../mutex.hpp"
#include "../../redis/client.hpp"
#include "../../redis/command.hpp"
#include "../../redis/errors.hpp"
#include "../../redis/lock.hpp"
#include "../../redis/reply.hpp"
#include "backend_options.hpp"
#include "details/hash_fields.hpp"
#include "details/payload.hpp"
#include "keyed_bytes.hpp"

namespace dogpile {

struct RedisBackendOptions {
    std::shared_ptr<redis::Client> client{};
    // Prepended to every key ("myapp:"); part of the Redis key for the limits.
    std::string key_prefix{};
    // SET ... PX: Redis deletes an entry this long after its last write.
    // Independent of the region's expiration_time (which decides freshness);
    // make it longer so stale values can still be served while regenerating.
    std::optional<Duration> ttl{};
    // When set, get_mutex() hands the region a Redis lock (redis/lock.hpp)
    // whose resource is the entry's Redis key (key_prefix + key).
    std::optional<redis::LockOptions> distributed_lock{};
    redis::BackendLimits limits{};
    redis::BackendErrorHook error_hook{};

    // Throws ConfigurationError for options that cannot work.
    void validate() const {
        static constexpr std::string_view name = "RedisBackend";
        redis::details::validate_client(client, name);
        redis::details::validate_ttl(ttl, "ttl", name);
        redis::details::validate_lock(distributed_lock, name);
        limits.validate(name);
        if (key_prefix.size() > limits.max_key_bytes) {
            throw ConfigurationError("RedisBackend: key_prefix is longer than limits.max_key_bytes");
        }
    }
};

namespace redis {

class RedisStringStore : public details::StoreStatistics {
public:
    using key_type = std::string;
    using options_type = RedisBackendOptions;

    // Throws ConfigurationError for invalid options (see validate()).
    explicit RedisStringStore(RedisBackendOptions options)
        : StoreStatistics(options.error_hook),
          options_(details::validated(std::move(options))),
          px_(details::validate_ttl(options_.ttl, "ttl", "").count()) {}

    // The stored bytes (a string reply), or std::nullopt. Throws
    // LimitExceeded for an over-long key.
    std::optional<Reply> get(const std::string& key) const {
        const std::string redis_key = redis_key_of(key);
        Reply reply = client().command(redis_key, Command{"GET", redis_key});
        if (reply.is_nil()) return std::nullopt;
        if (!reply.is_string()) {
            throw ProtocolError(std::string("redis GET: expected a string or nil, got ") + to_string(reply.type()));
        }
        return reply;
    }

    // One MGET. An over-long key or a value that is not a string turns only
    // its own entry into a miss (counted, and reported through options.error_hook).
    std::vector<std::optional<Reply>> get_multi(const std::vector<std::string>& keys) const {
        std::vector<std::optional<Reply>> out(keys.size());
        std::vector<std::string> redis_keys;
        std::vector<std::size_t> positions;
        redis_keys.reserve(keys.size());
        positions.reserve(keys.size());
        for (std::size_t i = 0; i < keys.size(); ++i) {
            try {
                redis_keys.push_back(redis_key_of(keys[i]));
                positions.push_back(i);
            } catch (const LimitExceeded&) {
                report_rejected_key("get_multi", std::current_exception());
            }
        }
        if (redis_keys.empty()) return out;

        // Routed by the first key; a cluster client would split an MGET
        // whose keys live on several nodes.
        const Reply reply = client().command(redis_keys.front(), Command{"MGET"}.args(redis_keys));
        if (!reply.is_array() || reply.size() != redis_keys.size()) {
            throw ProtocolError("redis MGET: expected an array of " + std::to_string(redis_keys.size()) +
                                " elements, got " + to_string(reply.type()));
        }
        for (std::size_t k = 0; k < redis_keys.size(); ++k) {
            Reply element = reply.at(k);
            if (element.is_nil()) continue;
            if (!element.is_string()) {
                report_decode_error("get_multi", std::make_exception_ptr(DecodeError(
                                                     "key '" + details::printable(redis_keys[k]) + "': MGET returned a " +
                                                     to_string(element.type()) + " instead of a string")));
                continue;
            }
            out[positions[k]] = std::move(element);
        }
        return out;
    }

    void set(const std::string& key, std::string bytes) {
        const std::string redis_key = redis_key_of(key);
        const Reply reply = client().command(redis_key, set_command(redis_key, bytes));
        if (!reply.is_ok()) {
            throw ProtocolError(std::string("redis SET: expected OK, got ") + to_string(reply.type()));
        }
    }

    // All SETs in one round trip. Every key is checked before anything is
    // sent, so an over-limit key writes nothing.
    void set_multi(std::vector<KeyedBytes<std::string>> writes) {
        if (writes.empty()) return;
        std::vector<KeyedCommand> commands;
        commands.reserve(writes.size());
        for (const auto& write : writes) {
            std::string redis_key = redis_key_of(write.key);
            Command command = set_command(redis_key, write.bytes);
            commands.push_back(KeyedCommand{std::move(redis_key), std::move(command)});
        }
        details::throw_if_any_error(client().batch(commands), "redis SET (set_multi)");
    }

    void erase(const std::string& key) {
        const std::string redis_key = redis_key_of(key);
        client().command(redis_key, Command{"DEL", redis_key});
    }

    // One DEL for all keys (routed by the first; a cluster client would split it).
    void erase_multi(const std::vector<std::string>& keys) {
        if (keys.empty()) return;
        Command del{"DEL"};
        for (const auto& key : keys) del.arg(redis_key_of(key));
        client().command(del[1], del);
    }

    // A Redis lock (nullptr without options.distributed_lock).
    std::unique_ptr<Mutex> get_mutex(const std::string& key) {
        return locks_.make([&] { return lock_resource(key); });
    }
    // The distributed locks (nullptr without options.distributed_lock): their lost-reply statistics.
    const DistributedLocks* distributed_locks() const noexcept { return locks_.get(); }

    // The distributed lock's resource for `key`: its Redis key, key_prefix + key.
    std::string lock_resource(const std::string& key) const { return redis_key_of(key); }

    // key_prefix + key; throws LimitExceeded when over limits.max_key_bytes.
    std::string redis_key_of(std::string_view key) const {
        std::string redis_key;
        redis_key.reserve(options_.key_prefix.size() + key.size());
        redis_key += options_.key_prefix;
        redis_key.append(key.data(), key.size());
        details::check_key_bytes(redis_key, options_.limits, "key");
        return redis_key;
    }

    const RedisBackendOptions& options() const noexcept { return options_; }
    const BackendLimits& limits() const noexcept { return options_.limits; }
    // Plain entries always carry the envelope: the region's expiration needs it.
    static constexpr PayloadMode payload_mode() noexcept { return PayloadMode::envelope; }

    // The entry in error messages.
    std::string describe(const std::string& key) const {
        return "key '" + details::printable(options_.key_prefix + key) + "'";
    }

private:
    Client& client() const noexcept { return *options_.client; }

    Command set_command(std::string_view redis_key, std::string_view bytes) const {
        Command command{"SET", redis_key, bytes};
        if (px_ > 0) command.arg("PX").arg(px_);
        return command;
    }

    RedisBackendOptions options_;
    long long px_;
    details::StoreLocks locks_{options_.client, options_.distributed_lock, options_.error_hook};  // after options_
};

}  // namespace redis

using redis::RedisStringStore;

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

inline std::function<std::string(const std::string&)> redis_keys_of(const RedisStringStore& store) {
    return string_store_redis_keys(store.options().key_prefix);
}

}  // namespace dogpile
