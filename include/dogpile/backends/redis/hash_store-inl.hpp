#pragma once
// Definitions of hash_store.hpp (details/linkage.hpp: inline when header-only).

#include "details/bounded_reads.hpp"
#include "hash_store.hpp"

namespace dogpile {

DOGPILE_INLINE void RedisHashBackendOptions::validate() const {
    redis::details::validate_hash_store(*this, {max_fields_per_call, "max_fields_per_call"},
                                        {max_fields_per_read, "max_fields_per_read"}, "RedisHashBackend");
    if (whole_hash_reads && (whole_hash_reads->min_fields == 0 || whole_hash_reads->max_hash_fields == 0)) {
        throw ConfigurationError("RedisHashBackend: whole_hash_reads.min_fields and .max_hash_fields must be >= 1");
    }
}

}  // namespace dogpile

namespace dogpile::redis {

DOGPILE_INLINE RedisHashStore::RedisHashStore(RedisHashBackendOptions options)
    : StoreStatistics(options.error_hook, options.client),
      options_(details::validated(std::move(options))),
      ttl_arg_(std::to_string(details::validate_hash_ttl(options_.ttl, options_.ttl_policy, "").count())),
      whole_hash_(options_.whole_hash_reads ? std::make_shared<details::WholeHashReads>(*options_.whole_hash_reads)
                                            : nullptr) {}

DOGPILE_INLINE std::optional<Reply> RedisHashStore::get(const HashKey& key) const {
    return details::bounded_read(options_.limits, *this, [&] {
        return details::read_field(client(), {key.hash, key.field}, options_.limits);
    });
}

DOGPILE_INLINE std::vector<std::optional<Reply>> RedisHashStore::get_multi(const std::vector<HashKey>& keys) const {
    std::vector<details::FieldRef> fields;
    fields.reserve(keys.size());
    for (const auto& key : keys) fields.push_back({key.hash, key.field});
    return details::bounded_read(options_.limits, *this, [&] {
        return details::read_fields(client(), fields, options_.limits, options_.max_fields_per_read, *this,
                                    whole_hash_.get());
    });
}

DOGPILE_INLINE void RedisHashStore::set(const HashKey& key, std::string bytes) {
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

DOGPILE_INLINE void RedisHashStore::set_multi(std::vector<KeyedBytes<HashKey>> writes) {
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

DOGPILE_INLINE void RedisHashStore::erase(const HashKey& key) {
    details::check_hash_field(key.hash, key.field, options_.limits);
    client().command(key.hash, Command{"HDEL", key.hash, key.field});
}

DOGPILE_INLINE void RedisHashStore::erase_multi(const std::vector<HashKey>& keys) {
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

DOGPILE_INLINE void RedisHashStore::erase_hash(std::string_view hash) {
    details::check_key_bytes(hash, options_.limits, "hash key");
    client().command(hash, Command{"DEL", hash});
}

DOGPILE_INLINE std::unique_ptr<Mutex> RedisHashStore::get_mutex(const HashKey& key) {
    return locks_.make([&] { return lock_resource(key); });
}

}  // namespace dogpile::redis

namespace dogpile {

DOGPILE_INLINE std::function<std::string(const redis::HashKey&)> hash_store_redis_keys() {
    return [](const redis::HashKey& key) { return key.hash; };
}

DOGPILE_INLINE std::function<std::string(const redis::HashKey&)> redis_keys_of(const RedisHashStore& /*store*/) {
    return hash_store_redis_keys();
}

}  // namespace dogpile
