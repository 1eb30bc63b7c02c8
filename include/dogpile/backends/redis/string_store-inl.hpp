#pragma once
// Definitions of string_store.hpp (details/linkage.hpp: inline when header-only).

#include "details/bounded_reads.hpp"
#include "string_store.hpp"

namespace dogpile {

DOGPILE_INLINE void RedisBackendOptions::validate() const {
    static constexpr std::string_view name = "RedisBackend";
    redis::details::validate_client(client, name);
    redis::details::validate_ttl(ttl, "ttl", name);
    redis::details::validate_lock(distributed_lock, name);
    limits.validate(name);
    if (key_prefix.size() > limits.max_key_bytes) {
        throw ConfigurationError("RedisBackend: key_prefix is longer than limits.max_key_bytes");
    }
}

}  // namespace dogpile

namespace dogpile::redis {

DOGPILE_INLINE RedisStringStore::RedisStringStore(RedisBackendOptions options)
    : StoreStatistics(options.error_hook, options.client),
      options_(details::validated(std::move(options))),
      px_(details::validate_ttl(options_.ttl, "ttl", "").count()) {}

DOGPILE_INLINE std::optional<Reply> RedisStringStore::get(const std::string& key) const {
    const std::string redis_key = redis_key_of(key);
    Reply reply = details::bounded_read(options_.limits, *this, [&] {
        return client().command(redis_key, Command{"GET", redis_key});
    });
    if (reply.is_nil()) return std::nullopt;
    if (!reply.is_string()) {
        throw ProtocolError(std::string("redis GET: expected a string or nil, got ") + to_string(reply.type()));
    }
    return reply;
}

DOGPILE_INLINE std::vector<std::optional<Reply>> RedisStringStore::get_multi(
    const std::vector<std::string>& keys) const {
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
    const Reply reply = details::bounded_read(
        options_.limits, *this, [&] { return client().command(redis_keys.front(), Command{"MGET"}.args(redis_keys)); });
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

DOGPILE_INLINE void RedisStringStore::set(const std::string& key, std::string bytes) {
    const std::string redis_key = redis_key_of(key);
    const Reply reply = client().command(redis_key, set_command(redis_key, bytes));
    if (!reply.is_ok()) {
        throw ProtocolError(std::string("redis SET: expected OK, got ") + to_string(reply.type()));
    }
}

DOGPILE_INLINE void RedisStringStore::set_multi(std::vector<KeyedBytes<std::string>> writes) {
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

DOGPILE_INLINE void RedisStringStore::erase(const std::string& key) {
    const std::string redis_key = redis_key_of(key);
    client().command(redis_key, Command{"DEL", redis_key});
}

DOGPILE_INLINE void RedisStringStore::erase_multi(const std::vector<std::string>& keys) {
    if (keys.empty()) return;
    Command del{"DEL"};
    for (const auto& key : keys) del.arg(redis_key_of(key));
    client().command(del[1], del);
}

DOGPILE_INLINE std::unique_ptr<Mutex> RedisStringStore::get_mutex(const std::string& key) {
    return locks_.make([&] { return lock_resource(key); });
}

DOGPILE_INLINE std::string RedisStringStore::redis_key_of(std::string_view key) const {
    std::string redis_key;
    redis_key.reserve(options_.key_prefix.size() + key.size());
    redis_key += options_.key_prefix;
    redis_key.append(key.data(), key.size());
    details::check_key_bytes(redis_key, options_.limits, "key");
    return redis_key;
}

DOGPILE_INLINE std::string RedisStringStore::describe(const std::string& key) const {
    return "key '" + details::printable(options_.key_prefix + key) + "'";
}

DOGPILE_INLINE Command RedisStringStore::set_command(std::string_view redis_key, std::string_view bytes) const {
    Command command{"SET", redis_key, bytes};
    if (px_ > 0) command.arg("PX").arg(px_);
    return command;
}

}  // namespace dogpile::redis

namespace dogpile {

DOGPILE_INLINE std::function<std::string(const std::string&)> string_store_redis_keys(std::string key_prefix) {
    return [prefix = std::move(key_prefix)](const std::string& key) {
        std::string out;
        out.reserve(prefix.size() + key.size());
        out += prefix;
        out += key;
        return out;
    };
}

DOGPILE_INLINE std::function<std::string(const std::string&)> redis_keys_of(const RedisStringStore& store) {
    return string_store_redis_keys(store.options().key_prefix);
}

}  // namespace dogpile
