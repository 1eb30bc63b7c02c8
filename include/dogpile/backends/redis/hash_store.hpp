#pragma once
// RedisHashStore: the byte store behind RedisHashBackend (hash.hpp): an entry
// is a field of a Redis hash, HashKey{hash, field} -> bytes, and the TTL
// lives on the hash, set by an atomic Lua script as options.ttl_policy says.
// Usable on its own for bytes; RedisHashBackend<Value, Codec> adds the codec.
//
// Redis commands per operation (one round trip each, NOSCRIPT reloads aside):
//   get          HGET hash field
//   get_multi    one HMGET per distinct hash (split every max_fields_per_read
//                fields), all pipelined
//   set          EVALSHA hset-with-expiry (ttl_policy none: HSET)
//   set_multi    one script call per hash (split every max_fields_per_call
//                fields), all pipelined
//   erase        HDEL;  erase_multi: one HDEL per hash, pipelined
//   erase_hash   DEL hash
//
// Thread-safe: the client's pool serves concurrent calls.

#include <algorithm>
#include <cstddef>
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
#include "../../redis/lock.hpp"
#include "../../redis/reply.hpp"
#include "../../redis/script.hpp"
#include "backend_options.hpp"
#include "details/hash_fields.hpp"
#include "details/hash_scripts.hpp"
#include "hash_key.hpp"
#include "keyed_bytes.hpp"

namespace dogpile {

using redis::HashKey;
using redis::HashKeyScheme;

struct RedisHashBackendOptions {
    std::shared_ptr<redis::Client> client{};
    // The TTL of each hash, applied as ttl_policy says. Required unless
    // ttl_policy is none (which must not have one).
    std::optional<Duration> ttl{};
    redis::TtlPolicy ttl_policy = redis::TtlPolicy::on_create;
    redis::PayloadMode payload = redis::PayloadMode::raw;
    // When set, get_mutex() hands the region a Redis lock (redis/lock.hpp) so
    // creators in other processes are serialized too; its resource name is
    // RedisHashStore::lock_resource(key).
    std::optional<redis::LockOptions> distributed_lock{};
    redis::BackendLimits limits{};
    redis::BackendErrorHook error_hook{};
    // How many fields of one hash a single command carries, one knob per
    // direction; a hash with more is split over several commands, all still in
    // one round trip.
    // Writes: field/value pairs per script call (or HSET) in set_multi. At
    // most redis::details::max_pairs_per_script_call (Lua's unpack() limit).
    std::size_t max_fields_per_call = 1000;
    // Reads: fields per HMGET in get_multi. Keeps each reply under the
    // server's client-output-buffer-limit for normal clients, past which it
    // closes the connection and every key of the call is lost: size it so
    // that this many values fit under that limit.
    std::size_t max_fields_per_read = 1000;

    // Throws ConfigurationError for options that cannot work.
    void validate() const {
        redis::details::validate_hash_store(*this, {max_fields_per_call, "max_fields_per_call"},
                                            {max_fields_per_read, "max_fields_per_read"}, "RedisHashBackend");
    }
};

namespace redis {

class RedisHashStore : public details::StoreStatistics {
public:
    using key_type = HashKey;
    using options_type = RedisHashBackendOptions;

    // Throws ConfigurationError for invalid options (see validate()).
    explicit RedisHashStore(RedisHashBackendOptions options)
        : StoreStatistics(options.error_hook),
          options_(details::validated(std::move(options))),
          ttl_arg_(std::to_string(details::validate_hash_ttl(options_.ttl, options_.ttl_policy, "").count())) {}

    // HGET: the stored bytes, or std::nullopt. Throws LimitExceeded for an
    // over-long key (nothing is sent).
    std::optional<Reply> get(const HashKey& key) const {
        return details::read_field(client(), {key.hash, key.field}, options_.limits);
    }

    // Grouped HMGETs in one round trip (details::read_fields).
    std::vector<std::optional<Reply>> get_multi(const std::vector<HashKey>& keys) const {
        std::vector<details::FieldRef> fields;
        fields.reserve(keys.size());
        for (const auto& key : keys) fields.push_back({key.hash, key.field});
        return details::read_fields(client(), fields, options_.limits, options_.max_fields_per_read, *this);
    }

    void set(const HashKey& key, std::string bytes) {
        details::check_hash_field(key.hash, key.field, options_.limits);
        if (options_.ttl_policy == TtlPolicy::none) {
            client().command(key.hash, Command{"HSET", key.hash, key.field, bytes});
            return;
        }
        ScriptCall call;
        call.keys.push_back(key.hash);
        call.args.reserve(4);
        call.args.push_back(ttl_arg_);
        call.args.emplace_back(ttl_mode());
        call.args.push_back(key.field);
        call.args.push_back(std::move(bytes));
        client().eval(details::hset_with_expiry_script(), call);
    }

    // Every key is checked before anything is sent, so an over-limit key
    // fails the whole call and writes nothing.
    void set_multi(std::vector<KeyedBytes<HashKey>> writes) {
        if (writes.empty()) return;
        for (const auto& write : writes) details::check_hash_field(write.key.hash, write.key.field, options_.limits);
        const auto groups = details::group_by_hash(
            writes.size(), [&](std::size_t i) -> std::optional<std::string_view> { return writes[i].key.hash; });
        const std::size_t chunk = options_.max_fields_per_call;

        if (options_.ttl_policy == TtlPolicy::none) {
            std::vector<KeyedCommand> commands;
            for (const auto& group : groups) {
                for (std::size_t begin = 0; begin < group.positions.size(); begin += chunk) {
                    Command hset{"HSET", group.hash};
                    for (std::size_t k = begin; k < group.positions.size() && k < begin + chunk; ++k) {
                        const KeyedBytes<HashKey>& write = writes[group.positions[k]];
                        hset.arg(write.key.field).arg(write.bytes);
                    }
                    commands.push_back(KeyedCommand{std::string(group.hash), std::move(hset)});
                }
            }
            details::throw_if_any_error(client().batch(commands), "redis HSET (set_multi)");
            return;
        }

        std::vector<ScriptCall> calls;
        for (const auto& group : groups) {
            for (std::size_t begin = 0; begin < group.positions.size(); begin += chunk) {
                ScriptCall call;
                call.keys.emplace_back(group.hash);
                const std::size_t end = std::min(group.positions.size(), begin + chunk);
                call.args.reserve(2 + 2 * (end - begin));
                call.args.push_back(ttl_arg_);
                call.args.emplace_back(ttl_mode());
                for (std::size_t k = begin; k < end; ++k) {
                    KeyedBytes<HashKey>& write = writes[group.positions[k]];
                    call.args.push_back(write.key.field);
                    call.args.push_back(std::move(write.bytes));
                }
                calls.push_back(std::move(call));
            }
        }
        details::throw_if_any_error(client().eval_batch(details::hset_with_expiry_script(), calls),
                                    "redis hset-with-expiry (set_multi)");
    }

    void erase(const HashKey& key) {
        details::check_hash_field(key.hash, key.field, options_.limits);
        client().command(key.hash, Command{"HDEL", key.hash, key.field});
    }

    void erase_multi(const std::vector<HashKey>& keys) {
        if (keys.empty()) return;
        for (const auto& key : keys) details::check_hash_field(key.hash, key.field, options_.limits);
        const auto groups = details::group_by_hash(
            keys.size(), [&](std::size_t i) -> std::optional<std::string_view> { return keys[i].hash; });
        std::vector<KeyedCommand> commands;
        commands.reserve(groups.size());
        for (const auto& group : groups) {
            Command hdel{"HDEL", group.hash};
            for (std::size_t i : group.positions) hdel.arg(keys[i].field);
            commands.push_back(KeyedCommand{std::string(group.hash), std::move(hdel)});
        }
        details::throw_if_any_error(client().batch(commands), "redis HDEL (erase_multi)");
    }

    // Deletes the whole hash, i.e. every entry of one id_a: one DEL.
    void erase_hash(std::string_view hash) {
        details::check_key_bytes(hash, options_.limits, "hash key");
        client().command(hash, Command{"DEL", hash});
    }

    // A Redis lock (nullptr without options.distributed_lock).
    std::unique_ptr<Mutex> get_mutex(const HashKey& key) {
        return locks_.make([&] { return lock_resource(key); });
    }
    // The distributed locks (nullptr without options.distributed_lock): their lost-reply statistics.
    const DistributedLocks* distributed_locks() const noexcept { return locks_.get(); }

    // The distributed lock's resource for `key`: "<hash length>:<hash>|<field>"
    // (the lock's Redis key is LockOptions::prefix followed by it). The length
    // keeps it unambiguous whatever bytes the hash and field hold.
    static std::string lock_resource(const HashKey& key) {
        return details::hash_field_lock_resource(key.hash, key.field);
    }

    const RedisHashBackendOptions& options() const noexcept { return options_; }
    const BackendLimits& limits() const noexcept { return options_.limits; }
    PayloadMode payload_mode() const noexcept { return options_.payload; }

    // The entry in error messages.
    static std::string describe(const HashKey& key) { return details::describe_field(key.hash, key.field); }

private:
    Client& client() const noexcept { return *options_.client; }

    const char* ttl_mode() const noexcept {
        return options_.ttl_policy == TtlPolicy::refresh_on_write ? details::ttl_refresh : details::ttl_on_create;
    }

    RedisHashBackendOptions options_;
    std::string ttl_arg_;
    details::StoreLocks locks_{options_.client, options_.distributed_lock, options_.error_hook};  // after options_
};

}  // namespace redis

using redis::RedisHashStore;

// For NearCacheBackend: an entry lives in the hash key.hash, so an
// invalidation of the hash drops all of its fields.
inline std::function<std::string(const redis::HashKey&)> hash_store_redis_keys() {
    return [](const redis::HashKey& key) { return key.hash; };
}

inline std::function<std::string(const redis::HashKey&)> redis_keys_of(const RedisHashStore& /*store*/) {
    return hash_store_redis_keys();
}

}  // namespace dogpile
