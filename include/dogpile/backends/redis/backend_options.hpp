#pragma once
/// \file
/// Option types shared by the Redis stores (plain.hpp, hash.hpp,
/// symmetric.hpp): limits, payload mode, TTL policy, statistics, and the
/// validation they all apply.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "../../details/linkage.hpp"
#include "../../cached_value.hpp"
#include "../../errors.hpp"
#include "../../mutex.hpp"
#include "../../redis/client.hpp"
#include "../../redis/distributed_locks.hpp"
#include "../../redis/lock.hpp"
#include "details/hash_scripts.hpp"

namespace dogpile::redis {

/// Ceilings on what a backend writes and accepts back. Bytes in Redis are
/// input from outside (another service, an older release), so a read checks
/// them too: an over-limit payload is a corrupt one (a DecodeError, a miss).
struct BackendLimits {
    /// A Redis key, a hash key or a hash field, in bytes (prefixes included).
    std::size_t max_key_bytes = 16 * 1024;
    /// A stored value in bytes, the envelope included.
    std::size_t max_payload_bytes = std::size_t{16} << 20;  ///< 16 MiB

    /// Throws ConfigurationError, naming `backend`, when a ceiling is 0.
    void validate(std::string_view backend) const;
};

/// What the bytes of a hash field are.
enum class PayloadMode : std::uint8_t {
    /// Exactly the codec's bytes (values-only msgpack for the A-to-B workload),
    /// readable by any service that knows the codec. They carry no timestamp:
    /// values are reported as Metadata::store_managed(), so a region serves
    /// them as fresh and the hash's TTL does the expiring.
    raw,
    /// codec/envelope.hpp's header {created_at, version} in front of the
    /// codec's bytes, so a region's expiration_time and soft invalidation work.
    envelope,
};

/// When a hash gets its TTL.
enum class TtlPolicy : std::uint8_t {
    /// When the hash is created (it had no TTL before the write). Later writes
    /// to other fields never prolong it, so no entry outlives the TTL counted
    /// from the hash's first write: stale data is the risk being avoided.
    on_create,
    /// Every write sets the TTL again: an active hash lives on.
    refresh_on_write,
    /// No TTL: entries live until erased (or evicted by Redis' maxmemory policy).
    none,
};

/// "raw" or "envelope", as the settings spell it.
const char* to_string(PayloadMode mode) noexcept;

/// "on_create", "refresh_on_write" or "none", as the settings spell it.
const char* to_string(TtlPolicy policy) noexcept;

/// Called for errors a backend absorbs instead of throwing: one undecodable
/// entry or one failed hash among the results of get_multi (the others are
/// still served). Errors a backend throws reach the region's own error_hook.
/// Called on the calling thread; must not throw (what it throws is swallowed).
using BackendErrorHook = std::function<void(const BackendErrorEvent&)>;

/// A BreakerOptions::on_state_change that tells `hook` of every state change
/// of a pool's circuit breaker (circuit_breaker.hpp), as operation
/// "circuit_breaker": the error is a CircuitOpenError when it opens, a
/// BreakerStateChanged otherwise; the message names the server and the states.
/// Clients made from settings (backends/redis/config.hpp) are wired this way
/// to RedisConfigDefaults::error_hook; wire a client you make yourself with
/// `pool_options.breaker.on_state_change = redis::report_breaker_to(hook);`
std::function<void(const BreakerEvent&)> report_breaker_to(BackendErrorHook hook);

/// What a Redis store counted since it was made (or since its reset_stats()).
struct RedisBackendStats {
    /// Stored values that could not be decoded (corrupt, truncated, over
    /// limits.max_payload_bytes, unknown envelope version): each was a miss.
    std::uint64_t decode_errors = 0;
    /// Keys refused by get_multi because they exceed limits.max_key_bytes.
    std::uint64_t rejected_keys = 0;
    /// Error replies absorbed by get_multi (e.g. WRONGTYPE for one hash).
    std::uint64_t reply_errors = 0;
    /// The client's circuit breakers (Client::breaker_stats()): state, and how
    /// often they opened, closed and failed a call fast. Not reset by reset_stats().
    BreakerStats breaker{};
};

namespace details {

void validate_client(const std::shared_ptr<Client>& client, std::string_view backend);

// PX / PEXPIRE take whole milliseconds; a TTL that rounds to 0 ms would be an error reply.
std::chrono::milliseconds validate_ttl(const std::optional<Duration>& ttl, std::string_view what,
                                       std::string_view backend);

void validate_lock(const std::optional<LockOptions>& lock, std::string_view backend);

// A store's distributed locks, when options.distributed_lock is set;
// warnings go to its error hook.
class StoreLocks {
public:
    StoreLocks(const std::shared_ptr<Client>& client, const std::optional<LockOptions>& lock,
               const BackendErrorHook& hook)
        : locks_(lock ? std::make_unique<DistributedLocks>(client, *lock, hook) : nullptr) {}

    // nullptr without distributed locks: their lost-reply statistics.
    const DistributedLocks* get() const noexcept { return locks_.get(); }

    // A lock on the resource `resource_of()` names (computed only when
    // needed), or nullptr without distributed locks.
    template <class ResourceOf>
    std::unique_ptr<Mutex> make(ResourceOf&& resource_of) const {
        if (!locks_) return nullptr;
        return locks_->make(resource_of());
    }

private:
    std::unique_ptr<DistributedLocks> locks_;
};

// The hash stores' TTL rules: a TTL policy needs a TTL and `none` must not have one.
std::chrono::milliseconds validate_hash_ttl(const std::optional<Duration>& ttl, TtlPolicy policy,
                                            std::string_view backend);

// Entries per script call: at least one, at most what one call may unpack.
void validate_per_call(std::size_t value, std::size_t max, std::string_view what, std::string_view backend);

// Fields per HMGET: at least one.
void validate_per_read(std::size_t value, std::string_view what, std::string_view backend);

// A store's options after their validate() (which throws ConfigurationError).
template <class Options>
Options validated(Options options) {
    options.validate();
    return options;
}

// The options the two hash stores share, checked alike; `per_call` and
// `per_read` are their batch sizes (max_fields_* or max_pairs_*).
struct BatchSize {
    std::size_t value;
    std::string_view name;
};

template <class HashStoreOptions>
void validate_hash_store(const HashStoreOptions& o, BatchSize per_call, BatchSize per_read, std::string_view backend) {
    validate_client(o.client, backend);
    validate_hash_ttl(o.ttl, o.ttl_policy, backend);
    validate_lock(o.distributed_lock, backend);
    o.limits.validate(backend);
    validate_per_call(per_call.value, max_pairs_per_script_call, per_call.name, backend);
    validate_per_read(per_read.value, per_read.name, backend);
}

// Rare events: plain atomics are enough.
struct BackendCounters {
    std::atomic<std::uint64_t> decode_errors{0};
    std::atomic<std::uint64_t> rejected_keys{0};
    std::atomic<std::uint64_t> reply_errors{0};

    RedisBackendStats snapshot() const noexcept {
        RedisBackendStats s;
        s.decode_errors = decode_errors.load(std::memory_order_relaxed);
        s.rejected_keys = rejected_keys.load(std::memory_order_relaxed);
        s.reply_errors = reply_errors.load(std::memory_order_relaxed);
        return s;
    }
    void reset() noexcept {
        decode_errors.store(0, std::memory_order_relaxed);
        rejected_keys.store(0, std::memory_order_relaxed);
        reply_errors.store(0, std::memory_order_relaxed);
    }
};

// Reports an absorbed error through the hook. A throwing hook must not turn a
// served batch into a failed one.
void report(const BackendErrorHook& hook, std::string_view operation, std::exception_ptr error) noexcept;

// A store's statistics and error hook. Decoding happens in the serializing
// adapter (serializing_backend.hpp), which reports its failures here so that
// stats() counts them with the store's own. Each report_* counts one entry of
// `operation` turned into a miss and hands the error to the hook.
class StoreStatistics {
public:
    StoreStatistics(BackendErrorHook hook, std::shared_ptr<Client> client)
        : hook_(std::move(hook)), client_(std::move(client)) {}

    RedisBackendStats stats() const noexcept {
        RedisBackendStats s = counters_.snapshot();
        if (client_) {
            try {
                s.breaker = client_->breaker_stats();
            } catch (...) {
                // Statistics must not fail the caller: the breaker part stays default.
            }
        }
        return s;
    }
    void reset_stats() noexcept { counters_.reset(); }

    void count_decode_error() const noexcept { counters_.decode_errors.fetch_add(1, std::memory_order_relaxed); }
    void report_decode_error(std::string_view operation, std::exception_ptr error) const noexcept {
        count_decode_error();
        report(hook_, operation, std::move(error));
    }
    void report_rejected_key(std::string_view operation, std::exception_ptr error) const noexcept {
        counters_.rejected_keys.fetch_add(1, std::memory_order_relaxed);
        report(hook_, operation, std::move(error));
    }
    void report_reply_error(std::string_view operation, std::exception_ptr error) const noexcept {
        counters_.reply_errors.fetch_add(1, std::memory_order_relaxed);
        report(hook_, operation, std::move(error));
    }

private:
    BackendErrorHook hook_;
    std::shared_ptr<Client> client_;
    mutable BackendCounters counters_;
};

}  // namespace details

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "backend_options-inl.hpp"
#endif
