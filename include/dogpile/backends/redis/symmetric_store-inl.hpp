#pragma once
// Definitions of symmetric_store.hpp (details/linkage.hpp: inline when header-only).

#include <algorithm>

#include "details/bounded_reads.hpp"
#include "symmetric_store.hpp"

namespace dogpile {

DOGPILE_INLINE void RedisSymmetricBackendOptions::validate() const {
    redis::details::validate_hash_store(*this, {max_pairs_per_call, "max_pairs_per_call"},
                                        {max_pairs_per_read, "max_pairs_per_read"}, "RedisSymmetricBackend");
    const std::string_view a(a_prefix);
    const std::string_view b(b_prefix);
    if (a.substr(0, b.size()) == b || b.substr(0, a.size()) == a) {
        throw ConfigurationError(
            "RedisSymmetricBackend: a_prefix and b_prefix must differ and neither may start with the other "
            "(got '" +
            a_prefix + "' and '" + b_prefix + "'), or an a-side and a b-side hash could collide");
    }
    if (mode != redis::SymmetricMode::atomic && mode != redis::SymmetricMode::per_node) {
        throw ConfigurationError("RedisSymmetricBackend: mode must be SymmetricMode::atomic or per_node");
    }
}

namespace redis {

DOGPILE_INLINE RedisSymmetricStore::RedisSymmetricStore(RedisSymmetricBackendOptions options)
    : StoreStatistics(options.error_hook, options.client),
      options_(details::validated(std::move(options))),
      layout_(layout_of(options_)) {}

DOGPILE_INLINE std::optional<Reply> RedisSymmetricStore::get(const A2BKey& key) const {
    return details::bounded_read(options_.limits, *this, [&] {
        return details::read_field(client(), {hash_of_a(key.a), key.b}, options_.limits);
    });
}

DOGPILE_INLINE std::vector<std::optional<Reply>> RedisSymmetricStore::get_multi(const std::vector<A2BKey>& keys) const {
    std::vector<std::string> hashes;
    hashes.reserve(keys.size());
    for (const auto& key : keys) hashes.push_back(hash_of_a(key.a));
    std::vector<details::FieldRef> fields;
    fields.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) fields.push_back({hashes[i], keys[i].b});
    return details::bounded_read(options_.limits, *this, [&] {
        return details::read_fields(client(), fields, options_.limits, options_.max_pairs_per_read, *this);
    });
}

DOGPILE_INLINE void RedisSymmetricStore::set(const A2BKey& key, std::string bytes) {
    std::vector<KeyedBytes<A2BKey>> writes;
    writes.push_back(KeyedBytes<A2BKey>{key, std::move(bytes)});
    set_multi(std::move(writes));
}

DOGPILE_INLINE void RedisSymmetricStore::set_multi(std::vector<KeyedBytes<A2BKey>> writes) {
    if (writes.empty()) return;
    for (const auto& write : writes) check_pair(write.key);
    const auto groups = details::group_by_hash(
        writes.size(), [&](std::size_t i) -> std::optional<std::string_view> { return writes[i].key.a; });
    if (per_node()) {
        details::symmetric_write_per_node(client(), layout_, writes, groups);
        return;
    }
    const std::size_t chunk = options_.max_pairs_per_call;
    std::vector<ScriptCall> calls;
    for (const auto& group : groups) {
        for (std::size_t begin = 0; begin < group.positions.size(); begin += chunk) {
            const std::size_t end = std::min(group.positions.size(), begin + chunk);
            calls.push_back(write_call(group.hash, writes, group.positions.data() + begin, end - begin));
        }
    }
    if (writes.size() == 1) {
        client().eval(details::symmetric_write_script(), calls.front());
        return;
    }
    details::throw_if_any_error(client().eval_batch(details::symmetric_write_script(), calls),
                                "redis a2b write (set_multi)");
}

DOGPILE_INLINE void RedisSymmetricStore::erase(const A2BKey& key) {
    check_pair(key);
    if (per_node()) {
        details::symmetric_erase_per_node(client(), layout_, {{key.a, key.b}});
        return;
    }
    client().eval(details::hdel_each_script(), erase_call(key));
}

DOGPILE_INLINE void RedisSymmetricStore::erase_multi(const std::vector<A2BKey>& keys) {
    if (keys.empty()) return;
    if (per_node()) {
        std::vector<std::pair<std::string, std::string>> pairs;
        pairs.reserve(keys.size());
        for (const auto& key : keys) {
            check_pair(key);
            pairs.emplace_back(key.a, key.b);
        }
        details::symmetric_erase_per_node(client(), layout_, pairs);
        return;
    }
    std::vector<ScriptCall> calls;
    calls.reserve(keys.size());
    for (const auto& key : keys) {
        check_pair(key);
        calls.push_back(erase_call(key));
    }
    details::throw_if_any_error(client().eval_batch(details::hdel_each_script(), calls),
                                "redis a2b erase (erase_multi)");
}

DOGPILE_INLINE std::size_t RedisSymmetricStore::invalidate_a(std::string_view a) {
    return invalidate(hash_of_a(a), details::SymmetricSide::a, options_.b_prefix, a);
}

DOGPILE_INLINE std::size_t RedisSymmetricStore::invalidate_b(std::string_view b) {
    return invalidate(hash_of_b(b), details::SymmetricSide::b, options_.a_prefix, b);
}

DOGPILE_INLINE std::unique_ptr<Mutex> RedisSymmetricStore::get_mutex(const A2BKey& key) {
    return locks_.make([&] { return lock_resource(key); });
}

DOGPILE_INLINE std::string RedisSymmetricStore::lock_resource(const A2BKey& key) const {
    return details::hash_field_lock_resource(hash_of_a(key.a), key.b);
}

DOGPILE_INLINE details::SymmetricLayout RedisSymmetricStore::layout_of(const RedisSymmetricBackendOptions& o) {
    const auto ttl = details::validate_hash_ttl(o.ttl, o.ttl_policy, "RedisSymmetricBackend");
    return details::SymmetricLayout{o.a_prefix, o.b_prefix, std::to_string(ttl.count()),
                                    o.ttl_policy == TtlPolicy::refresh_on_write ? details::ttl_refresh
                                                                                : details::ttl_on_create,
                                    o.max_pairs_per_call};
}

DOGPILE_INLINE void RedisSymmetricStore::check_pair(const A2BKey& key) const {
    details::check_hash_field(hash_of_a(key.a), key.b, options_.limits);
    details::check_hash_field(hash_of_b(key.b), key.a, options_.limits);
}

DOGPILE_INLINE ScriptCall RedisSymmetricStore::write_call(std::string_view a, std::vector<KeyedBytes<A2BKey>>& writes,
                                                          const std::size_t* positions, std::size_t count) const {
    ScriptCall call;
    call.keys.reserve(1 + count);
    call.args.reserve(3 + 2 * count);
    call.keys.push_back(hash_of_a(a));
    call.args.push_back(layout_.ttl_ms);
    call.args.emplace_back(layout_.ttl_mode);
    call.args.emplace_back(a);
    for (std::size_t i = 0; i < count; ++i) {
        KeyedBytes<A2BKey>& write = writes[positions[i]];
        call.keys.push_back(hash_of_b(write.key.b));
        call.args.push_back(write.key.b);
        call.args.push_back(std::move(write.bytes));
    }
    return call;
}

DOGPILE_INLINE ScriptCall RedisSymmetricStore::erase_call(const A2BKey& key) const {
    ScriptCall call;
    call.keys.reserve(2);
    call.keys.push_back(hash_of_a(key.a));
    call.keys.push_back(hash_of_b(key.b));
    call.args.reserve(2);
    call.args.push_back(key.b);
    call.args.push_back(key.a);
    return call;
}

DOGPILE_INLINE std::size_t RedisSymmetricStore::invalidate(std::string hash, details::SymmetricSide side,
                                                           const std::string& mirror_prefix, std::string_view id) {
    details::check_key_bytes(hash, options_.limits, "hash key");
    if (per_node()) return details::symmetric_invalidate_per_node(client(), layout_, side, id);
    ScriptCall call;
    call.keys.push_back(std::move(hash));
    call.args.reserve(2);
    call.args.push_back(mirror_prefix);
    call.args.emplace_back(id);
    const Reply reply = client().eval(details::invalidate_mirrored_script(), call);
    return static_cast<std::size_t>(reply.as_integer());
}

}  // namespace redis

}  // namespace dogpile
