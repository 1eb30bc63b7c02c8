#pragma once
// RedisHashBackend: the hash store (docs/architecture.md, "The workload"). An entry
// is a field of a Redis hash (HashKey{hash, field}), typically one hash per
// id_a ("calculated-a|<id_a>") with one field per id_b; the TTL lives on the
// hash and is set by an atomic Lua script according to the TTL policy:
//
//   auto backend = std::make_shared<dogpile::RedisHashBackend<Flags, FlagsCodec>>(
//       dogpile::RedisHashBackendOptions{client, std::chrono::hours(1)}, FlagsCodec{key_template});
//   dogpile::Region<Flags, dogpile::HashKey> region(backend);
//   HashKeyScheme calculated{"calculated-a|"};
//   region.get_or_create(calculated.key(id_a, id_b), [&] { return compute(id_a, id_b); });
//   backend->erase_hash(calculated.hash_of(id_a));      // log user a out: one DEL
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
// Payloads: PayloadMode::raw (the default) stores exactly the codec's bytes,
// the interface a Python service reads (values-only msgpack); the region sees
// them as always fresh (Metadata::store_managed()) and the hash's TTL expires
// them. PayloadMode::envelope prefixes dogpile's metadata so the region's
// expiration_time and soft invalidation apply.
//
// A value that cannot be decoded (corrupt, truncated, written for another key
// template, over limits.max_payload_bytes) is never served: get() throws
// DecodeError, which a region counts as a backend error and treats as a miss
// (it then regenerates and overwrites the entry); get_multi() returns
// std::nullopt for that entry only and reports it through options.error_hook.
// Either way stats().decode_errors counts it.
//
// Thread-safe: the client's pool serves concurrent calls.

#include <algorithm>
#include <chrono>
#include <functional>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../../backend.hpp"
#include "../../cached_value.hpp"
#include "../../codec/msgpack.hpp"
#include "../../errors.hpp"
#include "../../mutex.hpp"
#include "../../redis/client.hpp"
#include "../../redis/command.hpp"
#include "../../redis/lock.hpp"
#include "backend_options.hpp"
#include "details/hash_scripts.hpp"
#include "details/hash_store.hpp"
#include "details/payload.hpp"
#include "hash_key.hpp"

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
    // RedisHashBackend::lock_resource(key).
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
        static constexpr std::string_view name = "RedisHashBackend";
        redis::details::validate_client(client, name);
        redis::details::validate_hash_ttl(ttl, ttl_policy, name);
        redis::details::validate_lock(distributed_lock, name);
        limits.validate(name);
        redis::details::validate_per_call(max_fields_per_call, redis::details::max_pairs_per_script_call,
                                          "max_fields_per_call", name);
        redis::details::validate_per_read(max_fields_per_read, "max_fields_per_read", name);
    }
};

template <class Value, class Codec = codec::MsgpackCodec<Value>>
class RedisHashBackend final : public Backend<Value, HashKey> {
public:
    using base_type = Backend<Value, HashKey>;
    using typename base_type::entry_type;
    using options_type = RedisHashBackendOptions;
    using codec_type = Codec;

    // Throws ConfigurationError for invalid options (see validate()).
    explicit RedisHashBackend(RedisHashBackendOptions options, Codec codec = Codec())
        : options_(validated(std::move(options))),
          ttl_arg_(std::to_string(redis::details::validate_hash_ttl(options_.ttl, options_.ttl_policy, "").count())),
          core_(options_.client, redis::details::PayloadCodec<Value, Codec>(std::move(codec), options_.payload, options_.limits),
                options_.error_hook, options_.max_fields_per_read) {}

    std::optional<entry_type> get(const HashKey& key) override { return core_.get(key.hash, key.field); }

    std::vector<std::optional<entry_type>> get_multi(const std::vector<HashKey>& keys) override {
        return core_.get_multi(keys.size(), [&keys](std::size_t i) {
            return std::pair<std::string_view, std::string_view>(keys[i].hash, keys[i].field);
        });
    }

    void set(const HashKey& key, const entry_type& entry) override {
        redis::details::check_hash_field(key.hash, key.field, options_.limits);
        std::string payload = core_.encode(entry, key.hash, key.field);
        if (options_.ttl_policy == redis::TtlPolicy::none) {
            core_.client().command(key.hash, redis::Command{"HSET", key.hash, key.field, payload});
            return;
        }
        redis::ScriptCall call;
        call.keys.push_back(key.hash);
        call.args = {ttl_arg_, ttl_mode(), key.field, std::move(payload)};
        core_.client().eval(redis::details::hset_with_expiry_script(), call);
    }

    // Every entry is checked and encoded before anything is sent, so an
    // over-limit key or value fails the whole call and writes nothing.
    void set_multi(const std::vector<std::pair<HashKey, entry_type>>& entries) override {
        if (entries.empty()) return;
        std::vector<std::string> payloads;
        payloads.reserve(entries.size());
        for (const auto& [key, entry] : entries) {
            redis::details::check_hash_field(key.hash, key.field, options_.limits);
            payloads.push_back(core_.encode(entry, key.hash, key.field));
        }
        const auto groups = group_by_hash(entries.size(), [&entries](std::size_t i) -> const HashKey& {
            return entries[i].first;
        });
        const std::size_t chunk = options_.max_fields_per_call;

        if (options_.ttl_policy == redis::TtlPolicy::none) {
            std::vector<redis::KeyedCommand> commands;
            for (const auto& group : groups) {
                for (std::size_t begin = 0; begin < group.positions.size(); begin += chunk) {
                    redis::Command hset{"HSET", group.hash};
                    for (std::size_t k = begin; k < group.positions.size() && k < begin + chunk; ++k) {
                        const std::size_t i = group.positions[k];
                        hset.arg(entries[i].first.field).arg(payloads[i]);
                    }
                    commands.push_back(redis::KeyedCommand{std::string(group.hash), std::move(hset)});
                }
            }
            redis::details::throw_if_any_error(core_.client().batch(commands), "redis HSET (set_multi)");
            return;
        }

        std::vector<redis::ScriptCall> calls;
        for (const auto& group : groups) {
            for (std::size_t begin = 0; begin < group.positions.size(); begin += chunk) {
                redis::ScriptCall call;
                call.keys.emplace_back(group.hash);
                const std::size_t end = std::min(group.positions.size(), begin + chunk);
                call.args.reserve(2 + 2 * (end - begin));
                call.args.push_back(ttl_arg_);
                call.args.push_back(ttl_mode());
                for (std::size_t k = begin; k < end; ++k) {
                    const std::size_t i = group.positions[k];
                    call.args.push_back(entries[i].first.field);
                    call.args.push_back(std::move(payloads[i]));
                }
                calls.push_back(std::move(call));
            }
        }
        redis::details::throw_if_any_error(
            core_.client().eval_batch(redis::details::hset_with_expiry_script(), calls),
            "redis hset-with-expiry (set_multi)");
    }

    void erase(const HashKey& key) override {
        redis::details::check_hash_field(key.hash, key.field, options_.limits);
        core_.client().command(key.hash, redis::Command{"HDEL", key.hash, key.field});
    }

    void erase_multi(const std::vector<HashKey>& keys) override {
        if (keys.empty()) return;
        for (const auto& key : keys) redis::details::check_hash_field(key.hash, key.field, options_.limits);
        const auto groups = group_by_hash(keys.size(), [&keys](std::size_t i) -> const HashKey& { return keys[i]; });
        std::vector<redis::KeyedCommand> commands;
        commands.reserve(groups.size());
        for (const auto& group : groups) {
            redis::Command hdel{"HDEL", group.hash};
            for (std::size_t i : group.positions) hdel.arg(keys[i].field);
            commands.push_back(redis::KeyedCommand{std::string(group.hash), std::move(hdel)});
        }
        redis::details::throw_if_any_error(core_.client().batch(commands), "redis HDEL (erase_multi)");
    }

    // Deletes the whole hash, i.e. every entry of one id_a: one DEL.
    void erase_hash(std::string_view hash) {
        redis::details::check_key_bytes(hash, options_.limits, "hash key");
        core_.client().command(hash, redis::Command{"DEL", hash});
    }

    std::unique_ptr<Mutex> get_mutex(const HashKey& key) override {
        if (!locks_) return nullptr;
        return locks_->make(lock_resource(key));
    }

    // The distributed locks (nullptr without options.distributed_lock): their lost-reply statistics.
    const redis::DistributedLocks* distributed_locks() const noexcept { return locks_.get(); }

    // The distributed lock's resource for `key`: "<hash length>:<hash>|<field>"
    // (the lock's Redis key is LockOptions::prefix followed by it). The length
    // keeps it unambiguous whatever bytes the hash and field hold.
    static std::string lock_resource(const HashKey& key) {
        return redis::details::hash_field_lock_resource(key.hash, key.field);
    }

    const RedisHashBackendOptions& options() const noexcept { return options_; }
    const Codec& codec() const noexcept { return core_.payload().codec(); }

    redis::RedisBackendStats stats() const noexcept { return core_.stats(); }
    void reset_stats() noexcept { core_.reset_stats(); }

private:
    struct Group {
        std::string_view hash;
        std::vector<std::size_t> positions;
    };

    // Positions grouped by hash, hashes in order of first appearance.
    template <class KeyAt>
    static std::vector<Group> group_by_hash(std::size_t count, KeyAt&& key_at) {
        std::vector<Group> groups;
        std::unordered_map<std::string_view, std::size_t> index;
        for (std::size_t i = 0; i < count; ++i) {
            const std::string_view hash = key_at(i).hash;
            const auto [it, inserted] = index.try_emplace(hash, groups.size());
            if (inserted) groups.push_back(Group{hash, {}});
            groups[it->second].positions.push_back(i);
        }
        return groups;
    }

    static RedisHashBackendOptions validated(RedisHashBackendOptions options) {
        options.validate();
        return options;
    }

    const char* ttl_mode() const noexcept {
        return options_.ttl_policy == redis::TtlPolicy::refresh_on_write ? redis::details::ttl_refresh
                                                                          : redis::details::ttl_on_create;
    }

    RedisHashBackendOptions options_;
    std::string ttl_arg_;
    redis::details::HashStoreCore<Value, Codec> core_;
    // After options_: built from them.
    std::unique_ptr<redis::DistributedLocks> locks_ =
        redis::details::make_distributed_locks(options_.client, options_.distributed_lock, options_.error_hook);
};

// For NearCacheBackend: an entry lives in the hash key.hash, so an
// invalidation of the hash drops all of its fields.
inline std::function<std::string(const redis::HashKey&)> hash_store_redis_keys() {
    return [](const redis::HashKey& key) { return key.hash; };
}

template <class Value, class Codec>
std::function<std::string(const redis::HashKey&)> redis_keys_of(const RedisHashBackend<Value, Codec>& /*backend*/) {
    return hash_store_redis_keys();
}

}  // namespace dogpile
