#pragma once
// RedisSymmetricStore: the byte store behind RedisSymmetricBackend
// (symmetric.hpp, whose header comment says what each mode guarantees): the
// value of a pair (a, b) is kept in both directions, a2b-a|<a> field <b> and
// its mirror a2b-b|<b> field <a>, with the same bytes. Usable on its own for
// bytes; RedisSymmetricBackend<Value, Codec> adds the codec.
//
// Thread-safe: the client's pool serves concurrent calls.

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../errors.hpp"
#include "../../mutex.hpp"
#include "../../redis/client.hpp"
#include "../../redis/lock.hpp"
#include "../../redis/reply.hpp"
#include "../../redis/script.hpp"
#include "a2b_key.hpp"
#include "backend_options.hpp"
#include "details/hash_fields.hpp"
#include "details/hash_scripts.hpp"
#include "details/symmetric_per_node.hpp"
#include "keyed_bytes.hpp"

namespace dogpile {

struct RedisSymmetricBackendOptions {
    std::shared_ptr<redis::Client> client{};
    // The TTL of each hash, applied as ttl_policy says (to both directions).
    // Required unless ttl_policy is none (which must not have one).
    std::optional<Duration> ttl{};
    redis::TtlPolicy ttl_policy = redis::TtlPolicy::on_create;
    redis::PayloadMode payload = redis::PayloadMode::raw;
    // Hash key prefixes of the two directions. Neither may be a prefix of the
    // other, or an a-hash and a b-hash could be the same key.
    std::string a_prefix = "a2b-a|";
    std::string b_prefix = "a2b-b|";
    // When set, get_mutex() hands the region a Redis lock (redis/lock.hpp)
    // whose resource is RedisSymmetricStore::lock_resource(key).
    std::optional<redis::LockOptions> distributed_lock{};
    redis::BackendLimits limits{};
    redis::BackendErrorHook error_hook{};
    // How many pairs of one a a single command carries, one knob per
    // direction (pairs are grouped by a); more are split over several
    // commands, all still in one round trip.
    // Writes: pairs per script call in set_multi; bounds how long one call
    // keeps Redis busy. At most redis::details::max_pairs_per_script_call.
    std::size_t max_pairs_per_call = 1000;
    // Reads: pairs (fields of the a-side hash) per HMGET in get_multi. Keeps
    // each reply under the server's client-output-buffer-limit for normal
    // clients, past which it closes the connection and every key of the call
    // is lost (see RedisHashBackendOptions::max_fields_per_read).
    std::size_t max_pairs_per_read = 1000;
    // atomic: one script per operation (one server, or a cluster with a and b
    // under one hash tag). per_node: one-hash steps, for a cluster whose ids
    // are not co-located. See the header comment for what each guarantees.
    redis::SymmetricMode mode = redis::SymmetricMode::atomic;

    // Throws ConfigurationError for options that cannot work.
    void validate() const {
        redis::details::validate_hash_store(*this, {max_pairs_per_call, "max_pairs_per_call"},
                                            {max_pairs_per_read, "max_pairs_per_read"}, "RedisSymmetricBackend");
        const std::string_view a(a_prefix);
        const std::string_view b(b_prefix);
        if (a.substr(0, b.size()) == b || b.substr(0, a.size()) == a) {
            throw ConfigurationError(
                "RedisSymmetricBackend: a_prefix and b_prefix must differ and neither may start with the other "
                "(got '" + a_prefix + "' and '" + b_prefix + "'), or an a-side and a b-side hash could collide");
        }
        if (mode != redis::SymmetricMode::atomic && mode != redis::SymmetricMode::per_node) {
            throw ConfigurationError("RedisSymmetricBackend: mode must be SymmetricMode::atomic or per_node");
        }
    }
};

namespace redis {

class RedisSymmetricStore : public details::StoreStatistics {
public:
    using key_type = A2BKey;
    using options_type = RedisSymmetricBackendOptions;

    // Throws ConfigurationError for invalid options (see validate()).
    explicit RedisSymmetricStore(RedisSymmetricBackendOptions options)
        : StoreStatistics(options.error_hook), options_(details::validated(std::move(options))), layout_(layout_of(options_)) {}

    // HGET a2b-a|<a> <b>: the stored bytes, or std::nullopt.
    std::optional<Reply> get(const A2BKey& key) const {
        return details::read_field(client(), {hash_of_a(key.a), key.b}, options_.limits);
    }

    // One HMGET per distinct a (split every max_pairs_per_read pairs), all
    // pipelined (one round trip).
    std::vector<std::optional<Reply>> get_multi(const std::vector<A2BKey>& keys) const {
        std::vector<std::string> hashes;
        hashes.reserve(keys.size());
        for (const auto& key : keys) hashes.push_back(hash_of_a(key.a));
        std::vector<details::FieldRef> fields;
        fields.reserve(keys.size());
        for (std::size_t i = 0; i < keys.size(); ++i) fields.push_back({hashes[i], keys[i].b});
        return details::read_fields(client(), fields, options_.limits, options_.max_pairs_per_read, *this);
    }

    void set(const A2BKey& key, std::string bytes) {
        std::vector<KeyedBytes<A2BKey>> writes;
        writes.push_back(KeyedBytes<A2BKey>{key, std::move(bytes)});
        set_multi(std::move(writes));
    }

    // atomic: one script call per a (split every max_pairs_per_call pairs),
    // all pipelined. per_node: all mirrors, then all entries (one call per a).
    // Every pair is checked and encoded before anything is sent.
    void set_multi(std::vector<KeyedBytes<A2BKey>> writes) {
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

    // Removes the pair from both directions: in one script (atomic), or the
    // entry, then its mirror (per_node).
    void erase(const A2BKey& key) {
        check_pair(key);
        if (per_node()) {
            details::symmetric_erase_per_node(client(), layout_, {{key.a, key.b}});
            return;
        }
        client().eval(details::hdel_each_script(), erase_call(key));
    }

    // atomic: one script per pair, all pipelined. per_node: all the entries,
    // then all the mirrors.
    void erase_multi(const std::vector<A2BKey>& keys) {
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

    // Drops every pair (a, *) from both directions (atomically in atomic
    // mode). Returns how many pairs there were.
    std::size_t invalidate_a(std::string_view a) {
        return invalidate(hash_of_a(a), details::SymmetricSide::a, options_.b_prefix, a);
    }

    // Drops every pair (*, b) from both directions (atomically in atomic
    // mode). Returns how many pairs there were.
    std::size_t invalidate_b(std::string_view b) {
        return invalidate(hash_of_b(b), details::SymmetricSide::b, options_.a_prefix, b);
    }

    std::string hash_of_a(std::string_view a) const { return options_.a_prefix + std::string(a); }
    std::string hash_of_b(std::string_view b) const { return options_.b_prefix + std::string(b); }

    // A Redis lock (nullptr without options.distributed_lock).
    std::unique_ptr<Mutex> get_mutex(const A2BKey& key) {
        return locks_.make([&] { return lock_resource(key); });
    }
    // The distributed locks (nullptr without options.distributed_lock): their lost-reply statistics.
    const DistributedLocks* distributed_locks() const noexcept { return locks_.get(); }

    // The distributed lock's resource for `key`: that of the a-side field,
    // "<length of a2b-a|<a>>:a2b-a|<a>|<b>" (see RedisHashStore::lock_resource).
    std::string lock_resource(const A2BKey& key) const {
        return details::hash_field_lock_resource(hash_of_a(key.a), key.b);
    }

    const RedisSymmetricBackendOptions& options() const noexcept { return options_; }
    const BackendLimits& limits() const noexcept { return options_.limits; }
    PayloadMode payload_mode() const noexcept { return options_.payload; }

    // The entry in error messages: its a-side field.
    std::string describe(const A2BKey& key) const { return details::describe_field(hash_of_a(key.a), key.b); }

private:

    // ttl_ms "0" (TtlPolicy::none) means plain HSET in the per-node steps and
    // no PEXPIRE in the write script.
    static details::SymmetricLayout layout_of(const RedisSymmetricBackendOptions& o) {
        const auto ttl = details::validate_hash_ttl(o.ttl, o.ttl_policy, "RedisSymmetricBackend");
        return details::SymmetricLayout{
            o.a_prefix, o.b_prefix, std::to_string(ttl.count()),
            o.ttl_policy == TtlPolicy::refresh_on_write ? details::ttl_refresh
                                                               : details::ttl_on_create,
            o.max_pairs_per_call};
    }

    bool per_node() const noexcept { return options_.mode == SymmetricMode::per_node; }

    // Both hash keys and both fields of the pair within limits.
    void check_pair(const A2BKey& key) const {
        details::check_hash_field(hash_of_a(key.a), key.b, options_.limits);
        details::check_hash_field(hash_of_b(key.b), key.a, options_.limits);
    }

    // --- the atomic mode's scripts (see "Modes" in the header comment) ------

    // symmetric_write_script: KEYS a-hash, b-hash...; ARGV ttl, mode, a, (b, payload)...
    // for the `count` writes at `positions` (all of one a); their bytes are moved into the call.
    ScriptCall write_call(std::string_view a, std::vector<KeyedBytes<A2BKey>>& writes, const std::size_t* positions,
                          std::size_t count) const {
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

    // hdel_each_script: HDEL a-hash b, HDEL b-hash a.
    ScriptCall erase_call(const A2BKey& key) const {
        ScriptCall call;
        call.keys.reserve(2);
        call.keys.push_back(hash_of_a(key.a));
        call.keys.push_back(hash_of_b(key.b));
        call.args.reserve(2);
        call.args.push_back(key.b);
        call.args.push_back(key.a);
        return call;
    }

    std::size_t invalidate(std::string hash, details::SymmetricSide side, const std::string& mirror_prefix,
                           std::string_view id) {
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

    Client& client() const noexcept { return *options_.client; }

    RedisSymmetricBackendOptions options_;
    details::SymmetricLayout layout_;
    details::StoreLocks locks_{options_.client, options_.distributed_lock, options_.error_hook};  // after options_
};

}  // namespace redis

using redis::RedisSymmetricStore;

}  // namespace dogpile
