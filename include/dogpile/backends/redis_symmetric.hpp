#pragma once
// RedisSymmetricBackend: the symmetric A-to-B store of DESIGN.md. The value
// of a pair (a, b) is kept in both directions, with the same payload:
//
//   a2b-a|<a>  field <b>     read by get()
//   a2b-b|<b>  field <a>     the mirror, so all of b's pairs can be found
//
// so that either side can be invalidated atomically with one script:
// invalidate_a(a) reads HKEYS a2b-a|<a>, deletes field <a> from every
// a2b-b|<b> it names, then deletes a2b-a|<a>; invalidate_b(b) is the mirror
// image. A write of a pair sets both fields in one script under the same TTL
// rule as the hash store (redis/details/hash_scripts.hpp), and erase() removes
// both in one script, so the two directions never disagree.
//
//   auto backend = std::make_shared<dogpile::RedisSymmetricBackend<Flags, FlagsCodec>>(
//       dogpile::RedisSymmetricBackendOptions{client, std::chrono::hours(1)}, FlagsCodec{key_template});
//   dogpile::Region<Flags, dogpile::A2BKey> region(backend);
//   region.get_or_create(dogpile::A2BKey{"7", "42"}, creator);
//   backend->invalidate_b("42");   // object 42 changed: drop every user's entry for it
//
// Payload modes, decode errors, limits and statistics behave as in
// RedisHashBackend (backends/redis_hash.hpp).
//
// Several Redis servers: reads and single-hash writes route by their hash key
// like the hash store's. The three multi-key scripts (write, erase,
// invalidate) are built in one place each (write_call, erase_call,
// invalidate_call below) and are atomic only while their keys live on one
// server; a cluster version would either put a and b under one hash tag
// ({tenant}) or split exactly these three steps per node (HKEYS on the id's
// node, then HDELs grouped by node, then DEL), giving up atomicity across nodes.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../cached_value.hpp"
#include "../codec/msgpack.hpp"
#include "../errors.hpp"
#include "../mutex.hpp"
#include "../redis/backend_options.hpp"
#include "../redis/client.hpp"
#include "../redis/details/hash_scripts.hpp"
#include "../redis/details/hash_store.hpp"
#include "../redis/details/payload.hpp"
#include "../redis/hash_key.hpp"
#include "../redis/lock.hpp"
#include "../redis/reply.hpp"
#include "../redis/script.hpp"

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
    // Pairs per script call in set_multi (pairs are grouped by a); bounds how
    // long one call keeps Redis busy. At most
    // redis::details::max_pairs_per_script_call.
    std::size_t max_pairs_per_call = 1000;

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
        if (max_pairs_per_call == 0 || max_pairs_per_call > redis::details::max_pairs_per_script_call) {
            throw ConfigurationError("RedisSymmetricBackend: max_pairs_per_call must be in 1.." +
                                     std::to_string(redis::details::max_pairs_per_script_call));
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
          ttl_arg_(std::to_string(redis::details::validate_hash_ttl(options_.ttl, options_.ttl_policy, "").count())),
          core_(options_.client,
                redis::details::PayloadCodec<Value, Codec>(std::move(codec), options_.payload, options_.limits),
                options_.error_hook) {}

    // HGET a2b-a|<a> <b>.
    std::optional<entry_type> get(const A2BKey& key) override { return core_.get(hash_of_a(key.a), key.b); }

    // One HMGET per distinct a, all pipelined (one round trip).
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
        PairWrite pair{&key.b, std::move(payload)};
        core_.client().eval(redis::details::symmetric_write_script(), write_call(key.a, &pair, 1));
    }

    // One script call per a (split every max_pairs_per_call pairs), all
    // pipelined. Every pair is checked and encoded before anything is sent.
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

    // Removes the pair from both directions in one script.
    void erase(const A2BKey& key) override {
        check_pair(key);
        core_.client().eval(redis::details::hdel_each_script(), erase_call(key));
    }

    // One script per pair, all pipelined.
    void erase_multi(const std::vector<A2BKey>& keys) override {
        if (keys.empty()) return;
        std::vector<redis::ScriptCall> calls;
        calls.reserve(keys.size());
        for (const auto& key : keys) {
            check_pair(key);
            calls.push_back(erase_call(key));
        }
        redis::details::throw_if_any_error(core_.client().eval_batch(redis::details::hdel_each_script(), calls),
                                           "redis a2b erase (erase_multi)");
    }

    // Drops every pair (a, *) from both directions, atomically. Returns how
    // many pairs there were.
    std::size_t invalidate_a(std::string_view a) {
        return invalidate(hash_of_a(a), options_.b_prefix, a);
    }

    // Drops every pair (*, b) from both directions, atomically. Returns how
    // many pairs there were.
    std::size_t invalidate_b(std::string_view b) {
        return invalidate(hash_of_b(b), options_.a_prefix, b);
    }

    std::string hash_of_a(std::string_view a) const { return options_.a_prefix + std::string(a); }
    std::string hash_of_b(std::string_view b) const { return options_.b_prefix + std::string(b); }

    std::unique_ptr<Mutex> get_mutex(const A2BKey& key) override {
        if (!options_.distributed_lock) return nullptr;
        return std::make_unique<redis::RedisLock>(options_.client, lock_resource(key), *options_.distributed_lock);
    }

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

    // Both hash keys and both fields of the pair within limits.
    void check_pair(const A2BKey& key) const {
        redis::details::check_hash_field(hash_of_a(key.a), key.b, options_.limits);
        redis::details::check_hash_field(hash_of_b(key.b), key.a, options_.limits);
    }

    const char* ttl_mode() const noexcept {
        return options_.ttl_policy == redis::TtlPolicy::refresh_on_write ? redis::details::ttl_refresh
                                                                          : redis::details::ttl_on_create;
    }

    // --- the multi-key steps (see the header comment on clusters) ----------

    // symmetric_write_script: KEYS a-hash, b-hash...; ARGV ttl, mode, a, (b, payload)...
    // The payloads are moved into the call.
    redis::ScriptCall write_call(std::string_view a, PairWrite* pairs, std::size_t count) const {
        redis::ScriptCall call;
        call.keys.reserve(1 + count);
        call.args.reserve(3 + 2 * count);
        call.keys.push_back(hash_of_a(a));
        call.args.push_back(ttl_arg_);
        call.args.push_back(ttl_mode());
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

    std::size_t invalidate(std::string hash, const std::string& mirror_prefix, std::string_view id) {
        redis::details::check_key_bytes(hash, options_.limits, "hash key");
        redis::ScriptCall call;
        call.keys.push_back(std::move(hash));
        call.args = {mirror_prefix, std::string(id)};
        const redis::Reply reply = core_.client().eval(redis::details::invalidate_mirrored_script(), call);
        return static_cast<std::size_t>(reply.as_integer());
    }

    RedisSymmetricBackendOptions options_;
    std::string ttl_arg_;
    redis::details::HashStoreCore<Value, Codec> core_;
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
