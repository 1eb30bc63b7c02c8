#pragma once
// RedisSymmetricBackend: the symmetric store (docs/architecture.md, "The workload"). The value
// of a pair (a, b) is kept in both directions, with the same payload:
//
//   a2b-a|<a>  field <b>     read by get()
//   a2b-b|<b>  field <a>     the mirror, so all of b's pairs can be found
//
// so that either side can be invalidated: invalidate_a(a) reads HKEYS
// a2b-a|<a>, deletes field <a> from every a2b-b|<b> it names, then deletes
// a2b-a|<a>; invalidate_b(b) is the mirror image. A write of a pair sets both
// fields under the same TTL rule as the hash store
// (redis/details/hash_scripts.hpp), and erase() removes both. In the default
// atomic mode each of these is one script, so the two directions never
// disagree; the per-node mode for clusters splits them (see "Modes" below).
//
//   auto backend = std::make_shared<dogpile::RedisSymmetricBackend<Flags, FlagsCodec>>(
//       dogpile::RedisSymmetricBackendOptions{client, std::chrono::hours(1)}, FlagsCodec{key_template});
//   dogpile::Region<Flags, dogpile::A2BKey> region(backend);
//   region.get_or_create(dogpile::A2BKey{"7", "42"}, creator);
//   backend->invalidate_b("42");   // object 42 changed: drop every user's entry for it
//
// Payload modes, decode errors, limits and statistics behave as in
// RedisHashBackend (backends/redis_hash.hpp). Reads (get, get_multi) are
// plain HGET/HMGET of the a-side hash in both modes below (get_multi: one
// HMGET per a and per max_pairs_per_read of its pairs).
//
// Modes (options.mode). Both use the same keys, fields, payloads and TTL
// rule, so each reads and invalidates what the other wrote.
//
// SymmetricMode::atomic (the default): every write, erase and invalidation
// is one Lua script, atomic: no reader or other writer ever sees one
// direction of a pair without the other. The unit is one script call: set()
// and erase() are one call; set_multi() is one call per a (per
// max_pairs_per_call pairs) and erase_multi() one per pair, pipelined, so a
// batch as a whole is not one transaction. On one server this holds for any
// ids. On a Redis Cluster a script runs only when all its keys are in one
// slot, that is when a and b share a hash tag ("{tenant7}user1",
// "{tenant7}obj1"): an untagged pair is refused with CROSSSLOT before its
// script runs, so nothing of it is written (in a set_multi, the calls of
// other, co-located a's still go through). invalidate_a/_b find the mirror
// hashes inside the script, where the server checks them one by one: this
// works for data the atomic mode wrote (its pairs are co-located), but on
// untagged data written in per-node mode it fails at the first mirror served
// by another node, after removing the mirrors it met on its own node (Redis
// lets a script without flags touch other slots of its own node), which can
// leave entries without their mirror; use per_node mode for such data.
// "Atomic" is in the sense of Redis scripts: nothing else runs in between,
// but a command that fails inside a script (a key of another type under a
// prefix) does not undo the commands before it.
//
// SymmetricMode::per_node (redis/details/symmetric_per_node.hpp): for a
// cluster whose ids are not co-located. Each operation becomes steps that
// each touch one hash and are atomic on it (one HSET, HDEL or DEL, or one
// hset-with-expiry script for a hash's fields and its TTL), and each step is
// one round trip per node involved: a write or an erase has two steps, an
// invalidation three (HKEYS first). The pair as a whole is not atomic. The steps are ordered so that
// every entry keeps its mirror, the invariant invalidate_b() relies on:
// mirrors are written before their entries and removed after them. A crash
// or an error between steps therefore leaves at most mirrors without an
// entry (harmless: an HDEL of nothing at the next invalidation, and counted
// in its return value). The gap: a write of a pair (a, b) racing an erase of
// that pair or an invalidation of a or b can end with the entry written and
// its mirror removed. invalidate_b(b) then misses that entry;
// invalidate_a(a) and erase() still remove it, and short of those it lives
// as long as its a-hash: at most the TTL from the hash's creation with
// on_create, while a keeps being written with refresh_on_write, and until
// evicted with TtlPolicy::none. Two concurrent writes of one pair may also leave the
// mirror's copy of the payload different from the entry's; nothing reads
// the mirror's payload back.
//
// In both modes each hash has its own TTL (counted from its own creation
// with on_create), so a mirror hash can expire before an entry it names;
// invalidate_b() then misses that entry until its a-hash expires too.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
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
#include "../../redis/lock.hpp"
#include "../../redis/reply.hpp"
#include "../../redis/script.hpp"
#include "backend_options.hpp"
#include "details/hash_scripts.hpp"
#include "details/hash_store.hpp"
#include "details/payload.hpp"
#include "details/symmetric_per_node.hpp"
#include "hash_key.hpp"

namespace dogpile::redis {

// How RedisSymmetricBackend runs its multi-key operations (see its header
// comment for exactly what is atomic in each).
enum class SymmetricMode : std::uint8_t {
    // One Lua script per operation. On a cluster, a and b must share a hash tag.
    atomic,
    // Steps of one hash each, ordered to keep every entry's mirror; for
    // clusters whose ids are not co-located.
    per_node,
};

inline const char* to_string(SymmetricMode mode) noexcept {
    return mode == SymmetricMode::atomic ? "atomic" : "per_node";
}

}  // namespace dogpile::redis

namespace dogpile {

// One pair of the symmetric store. Both ids are binary-safe byte strings.
struct A2BKey {
    std::string a;
    std::string b;

    friend bool operator==(const A2BKey& x, const A2BKey& y) noexcept { return x.a == y.a && x.b == y.b; }
    friend bool operator!=(const A2BKey& x, const A2BKey& y) noexcept { return !(x == y); }
    friend bool operator<(const A2BKey& x, const A2BKey& y) noexcept {
        const int by_a = x.a.compare(y.a);
        return by_a != 0 ? by_a < 0 : x.b < y.b;
    }
    friend bool operator>(const A2BKey& x, const A2BKey& y) noexcept { return y < x; }
    friend bool operator<=(const A2BKey& x, const A2BKey& y) noexcept { return !(y < x); }
    friend bool operator>=(const A2BKey& x, const A2BKey& y) noexcept { return !(x < y); }

    friend std::ostream& operator<<(std::ostream& out, const A2BKey& key) {
        return out << "A2BKey{\"" << key.a << "\", \"" << key.b << "\"}";
    }
};

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
    // whose resource is RedisSymmetricBackend::lock_resource(key).
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
        static constexpr std::string_view name = "RedisSymmetricBackend";
        redis::details::validate_client(client, name);
        redis::details::validate_hash_ttl(ttl, ttl_policy, name);
        redis::details::validate_lock(distributed_lock, name);
        limits.validate(name);
        const std::string_view a(a_prefix);
        const std::string_view b(b_prefix);
        if (a.substr(0, b.size()) == b || b.substr(0, a.size()) == a) {
            throw ConfigurationError(
                "RedisSymmetricBackend: a_prefix and b_prefix must differ and neither may start with the other "
                "(got '" + a_prefix + "' and '" + b_prefix + "'), or an a-side and a b-side hash could collide");
        }
        redis::details::validate_per_call(max_pairs_per_call, redis::details::max_pairs_per_script_call,
                                          "max_pairs_per_call", name);
        redis::details::validate_per_read(max_pairs_per_read, "max_pairs_per_read", name);
        if (mode != redis::SymmetricMode::atomic && mode != redis::SymmetricMode::per_node) {
            throw ConfigurationError("RedisSymmetricBackend: mode must be SymmetricMode::atomic or per_node");
        }
    }
};

template <class Value, class Codec = codec::MsgpackCodec<Value>>
class RedisSymmetricBackend final : public Backend<Value, A2BKey> {
public:
    using base_type = Backend<Value, A2BKey>;
    using typename base_type::entry_type;
    using options_type = RedisSymmetricBackendOptions;
    using codec_type = Codec;

    // Throws ConfigurationError for invalid options (see validate()).
    explicit RedisSymmetricBackend(RedisSymmetricBackendOptions options, Codec codec = Codec())
        : options_(validated(std::move(options))),
          layout_(layout_of(options_)),
          core_(options_.client,
                redis::details::PayloadCodec<Value, Codec>(std::move(codec), options_.payload, options_.limits),
                options_.error_hook, options_.max_pairs_per_read) {}

    // HGET a2b-a|<a> <b>.
    std::optional<entry_type> get(const A2BKey& key) override { return core_.get(hash_of_a(key.a), key.b); }

    // One HMGET per distinct a (split every max_pairs_per_read pairs), all
    // pipelined (one round trip).
    std::vector<std::optional<entry_type>> get_multi(const std::vector<A2BKey>& keys) override {
        std::vector<std::string> hashes;
        hashes.reserve(keys.size());
        for (const auto& key : keys) hashes.push_back(hash_of_a(key.a));
        return core_.get_multi(keys.size(), [&](std::size_t i) {
            return std::pair<std::string_view, std::string_view>(hashes[i], keys[i].b);
        });
    }

    void set(const A2BKey& key, const entry_type& entry) override {
        check_pair(key);
        std::string payload = core_.encode(entry, hash_of_a(key.a), key.b);
        if (per_node()) {
            std::vector<redis::details::SymmetricWrite> writes(1);
            writes[0].a = key.a;
            writes[0].b_payloads.emplace_back(key.b, std::move(payload));
            redis::details::symmetric_write_per_node(core_.client(), layout_, writes);
            return;
        }
        PairWrite pair{&key.b, std::move(payload)};
        core_.client().eval(redis::details::symmetric_write_script(), write_call(key.a, &pair, 1));
    }

    // atomic: one script call per a (split every max_pairs_per_call pairs),
    // all pipelined. per_node: all mirrors, then all entries (one call per a).
    // Every pair is checked and encoded before anything is sent.
    void set_multi(const std::vector<std::pair<A2BKey, entry_type>>& entries) override {
        if (entries.empty()) return;
        std::unordered_map<std::string_view, std::size_t> index;
        std::vector<std::pair<std::string_view, std::vector<PairWrite>>> groups;
        for (const auto& [key, entry] : entries) {
            check_pair(key);
            std::string payload = core_.encode(entry, hash_of_a(key.a), key.b);
            const auto [it, inserted] = index.try_emplace(key.a, groups.size());
            if (inserted) groups.emplace_back(key.a, std::vector<PairWrite>{});
            groups[it->second].second.push_back(PairWrite{&key.b, std::move(payload)});
        }
        if (per_node()) {
            std::vector<redis::details::SymmetricWrite> writes;
            writes.reserve(groups.size());
            for (auto& [a, pairs] : groups) {
                redis::details::SymmetricWrite& w = writes.emplace_back();
                w.a = std::string(a);
                w.b_payloads.reserve(pairs.size());
                for (auto& pair : pairs) w.b_payloads.emplace_back(*pair.b, std::move(pair.payload));
            }
            redis::details::symmetric_write_per_node(core_.client(), layout_, writes);
            return;
        }
        const std::size_t chunk = options_.max_pairs_per_call;
        std::vector<redis::ScriptCall> calls;
        for (auto& [a, pairs] : groups) {
            for (std::size_t begin = 0; begin < pairs.size(); begin += chunk) {
                const std::size_t n = std::min(chunk, pairs.size() - begin);
                calls.push_back(write_call(a, pairs.data() + begin, n));
            }
        }
        redis::details::throw_if_any_error(
            core_.client().eval_batch(redis::details::symmetric_write_script(), calls), "redis a2b write (set_multi)");
    }

    // Removes the pair from both directions: in one script (atomic), or the
    // entry, then its mirror (per_node).
    void erase(const A2BKey& key) override {
        check_pair(key);
        if (per_node()) {
            redis::details::symmetric_erase_per_node(core_.client(), layout_, {{key.a, key.b}});
            return;
        }
        core_.client().eval(redis::details::hdel_each_script(), erase_call(key));
    }

    // atomic: one script per pair, all pipelined. per_node: all the entries,
    // then all the mirrors.
    void erase_multi(const std::vector<A2BKey>& keys) override {
        if (keys.empty()) return;
        if (per_node()) {
            std::vector<std::pair<std::string, std::string>> pairs;
            pairs.reserve(keys.size());
            for (const auto& key : keys) {
                check_pair(key);
                pairs.emplace_back(key.a, key.b);
            }
            redis::details::symmetric_erase_per_node(core_.client(), layout_, pairs);
            return;
        }
        std::vector<redis::ScriptCall> calls;
        calls.reserve(keys.size());
        for (const auto& key : keys) {
            check_pair(key);
            calls.push_back(erase_call(key));
        }
        redis::details::throw_if_any_error(core_.client().eval_batch(redis::details::hdel_each_script(), calls),
                                           "redis a2b erase (erase_multi)");
    }

    // Drops every pair (a, *) from both directions (atomically in atomic
    // mode). Returns how many pairs there were.
    std::size_t invalidate_a(std::string_view a) {
        return invalidate(hash_of_a(a), redis::details::SymmetricSide::a, options_.b_prefix, a);
    }

    // Drops every pair (*, b) from both directions (atomically in atomic
    // mode). Returns how many pairs there were.
    std::size_t invalidate_b(std::string_view b) {
        return invalidate(hash_of_b(b), redis::details::SymmetricSide::b, options_.a_prefix, b);
    }

    std::string hash_of_a(std::string_view a) const { return options_.a_prefix + std::string(a); }
    std::string hash_of_b(std::string_view b) const { return options_.b_prefix + std::string(b); }

    std::unique_ptr<Mutex> get_mutex(const A2BKey& key) override {
        if (!locks_) return nullptr;
        return locks_->make(lock_resource(key));
    }

    // The distributed locks (nullptr without options.distributed_lock): their lost-reply statistics.
    const redis::DistributedLocks* distributed_locks() const noexcept { return locks_.get(); }

    // The distributed lock's resource for `key`: that of the a-side field,
    // "<length of a2b-a|<a>>:a2b-a|<a>|<b>" (see RedisHashBackend::lock_resource).
    std::string lock_resource(const A2BKey& key) const {
        return redis::details::hash_field_lock_resource(hash_of_a(key.a), key.b);
    }

    const RedisSymmetricBackendOptions& options() const noexcept { return options_; }
    const Codec& codec() const noexcept { return core_.payload().codec(); }

    redis::RedisBackendStats stats() const noexcept { return core_.stats(); }
    void reset_stats() noexcept { core_.reset_stats(); }

private:
    struct PairWrite {
        const std::string* b;
        std::string payload;
    };

    static RedisSymmetricBackendOptions validated(RedisSymmetricBackendOptions options) {
        options.validate();
        return options;
    }

    // ttl_ms "0" (TtlPolicy::none) means plain HSET in the per-node steps and
    // no PEXPIRE in the write script.
    static redis::details::SymmetricLayout layout_of(const RedisSymmetricBackendOptions& o) {
        const auto ttl = redis::details::validate_hash_ttl(o.ttl, o.ttl_policy, "RedisSymmetricBackend");
        return redis::details::SymmetricLayout{
            o.a_prefix, o.b_prefix, std::to_string(ttl.count()),
            o.ttl_policy == redis::TtlPolicy::refresh_on_write ? redis::details::ttl_refresh
                                                               : redis::details::ttl_on_create,
            o.max_pairs_per_call};
    }

    bool per_node() const noexcept { return options_.mode == redis::SymmetricMode::per_node; }

    // Both hash keys and both fields of the pair within limits.
    void check_pair(const A2BKey& key) const {
        redis::details::check_hash_field(hash_of_a(key.a), key.b, options_.limits);
        redis::details::check_hash_field(hash_of_b(key.b), key.a, options_.limits);
    }

    // --- the atomic mode's scripts (see "Modes" in the header comment) ------

    // symmetric_write_script: KEYS a-hash, b-hash...; ARGV ttl, mode, a, (b, payload)...
    // The payloads are moved into the call.
    redis::ScriptCall write_call(std::string_view a, PairWrite* pairs, std::size_t count) const {
        redis::ScriptCall call;
        call.keys.reserve(1 + count);
        call.args.reserve(3 + 2 * count);
        call.keys.push_back(hash_of_a(a));
        call.args.push_back(layout_.ttl_ms);
        call.args.emplace_back(layout_.ttl_mode);
        call.args.emplace_back(a);
        for (std::size_t i = 0; i < count; ++i) {
            call.keys.push_back(hash_of_b(*pairs[i].b));
            call.args.push_back(*pairs[i].b);
            call.args.push_back(std::move(pairs[i].payload));
        }
        return call;
    }

    // hdel_each_script: HDEL a-hash b, HDEL b-hash a.
    redis::ScriptCall erase_call(const A2BKey& key) const {
        redis::ScriptCall call;
        call.keys = {hash_of_a(key.a), hash_of_b(key.b)};
        call.args = {key.b, key.a};
        return call;
    }

    std::size_t invalidate(std::string hash, redis::details::SymmetricSide side, const std::string& mirror_prefix,
                           std::string_view id) {
        redis::details::check_key_bytes(hash, options_.limits, "hash key");
        if (per_node()) return redis::details::symmetric_invalidate_per_node(core_.client(), layout_, side, id);
        redis::ScriptCall call;
        call.keys.push_back(std::move(hash));
        call.args = {mirror_prefix, std::string(id)};
        const redis::Reply reply = core_.client().eval(redis::details::invalidate_mirrored_script(), call);
        return static_cast<std::size_t>(reply.as_integer());
    }

    RedisSymmetricBackendOptions options_;
    redis::details::SymmetricLayout layout_;
    redis::details::HashStoreCore<Value, Codec> core_;
    // After options_: built from them.
    std::unique_ptr<redis::DistributedLocks> locks_ =
        redis::details::make_distributed_locks(options_.client, options_.distributed_lock, options_.error_hook);
};

}  // namespace dogpile

namespace std {
template <>
struct hash<dogpile::A2BKey> {
    size_t operator()(const dogpile::A2BKey& key) const noexcept {
        const hash<string> h;
        return dogpile::redis::details::combine_hashes(h(key.a), h(key.b));
    }
};
}  // namespace std
