#pragma once
/// \file
/// SentinelClient: the Client (client.hpp) for one master watched by Redis
/// Sentinel. Backends take it where they take a SingleServerClient:
///
/// \code
///   dogpile::redis::SentinelOptions options;
///   options.master_name = "cache";
///   options.sentinels = {{"10.0.0.1", 26379}, {"10.0.0.2", 26379}, {"10.0.0.3", 26379}};
///   options.pool.connection.password = "secret";      // the data nodes' AUTH
///   auto client = std::make_shared<dogpile::redis::SentinelClient>(options);
/// \endcode
///
/// Discovery (details/sentinel_discovery.hpp) asks the sentinels for the
/// master and checks its ROLE; the client then uses one ConnectionPool on
/// that server, exactly like SingleServerClient.
///
/// Failover is followed without a restart. With MasterWatch::subscribe (the
/// default) a background thread stays SUBSCRIBEd to +switch-master on one
/// sentinel (moving to the next when it fails, and re-discovering after every
/// reconnect, since a switch may have been missed) and re-discovers as soon as
/// the sentinels announce a new master: a master that is demoted while still
/// reachable (SENTINEL FAILOVER, a partition that heals) stops receiving
/// writes at once instead of when it is reconfigured. Either way, discovery
/// also runs again (at most every resolve_interval) when:
/// * a connection to the master cannot be opened: the command, which was not
///   sent, is retried once on the new master if there is one;
/// * a command fails with an I/O error or timeout: it may have run, so it is
///   not retried (as on one server), but the next command uses the new master;
/// * the server answers READONLY (it was demoted to a replica): nothing ran,
///   so the command is retried once on the new master.
/// When the master changes, a new pool is opened on it and the old one is
/// dropped once its last lease ends. Whenever the pool has opened a new
/// connection, the next lease is checked with ROLE first (one round trip,
/// counted in round_trips()), so a demoted master that came back as a replica
/// is not read from silently after a reconnect.
///
/// Between the master's death and the sentinels' promotion of a replica
/// (down-after-milliseconds plus an election) commands throw IoError; a Region
/// degrades to the creator meanwhile.
///
/// Thread-safe.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../details/linkage.hpp"
#include "address.hpp"
#include "client.hpp"
#include "command.hpp"
#include "connection.hpp"
#include "details/sentinel_discovery.hpp"
#include "details/stats_counters.hpp"
#include "details/switch_watcher.hpp"
#include "errors.hpp"
#include "options.hpp"
#include "pool.hpp"
#include "reply.hpp"
#include "script.hpp"
#include "sentinel_options.hpp"

namespace dogpile::redis {

/// The Client for one master watched by Redis Sentinel: it finds the master through the sentinels
/// and follows failovers without a restart (sentinel.hpp). Thread-safe.
class SentinelClient final : public Client {
public:
    /// Asks the sentinels now. Sentinels that cannot be reached (or do not
    /// know the master yet) are not an error here: commands throw IoError
    /// until discovery succeeds. Invalid options throw ConfigurationError.
    explicit SentinelClient(SentinelOptions options);

    /// Stops the watcher thread (at once: it is woken through a pipe).
    // DOGPILE_INLINE on the overrides too: header-only, no key function, so no
    // vtable in every TU; compiled, the library holds the vtable.
    DOGPILE_INLINE ~SentinelClient() override;

    SentinelClient(const SentinelClient&) = delete;
    SentinelClient& operator=(const SentinelClient&) = delete;

    using Client::batch;
    using Client::command;
    using Client::eval;

    DOGPILE_INLINE Reply command(std::string_view /*routing_key*/, const Command& cmd) override;

    DOGPILE_INLINE std::vector<Reply> pipeline(std::string_view /*routing_key*/,
                                               const std::vector<Command>& commands) override;

    DOGPILE_INLINE std::vector<Reply> batch(const std::vector<KeyedCommand>& commands,
                                            const std::vector<const Script*>& scripts) override;

    DOGPILE_INLINE Reply eval(const Script& script, const ScriptCall& call) override;

    DOGPILE_INLINE std::vector<Reply> eval_batch(const Script& script, const std::vector<ScriptCall>& calls) override;

    DOGPILE_INLINE void with_connection(std::string_view /*routing_key*/,
                                        const std::function<void(Connection&)>& fn) override;

    /// The current master's; throws IoError when none is known.
    DOGPILE_INLINE ConnectionOptions connection_options(std::string_view /*routing_key*/) const override;

    /// Over every master used so far.
    DOGPILE_INLINE std::uint64_t round_trips() const override;
    DOGPILE_INLINE BreakerStats breaker_stats() const override;

    /// The master in use, if one is known.
    std::optional<NodeAddress> master() const;

    /// Asks the sentinels again now (ignoring resolve_interval). False when no
    /// sentinel named a server that is master.
    bool rediscover() { return discover(Discover::now); }

    /// Discoveries, failovers and retries since it was made.
    SentinelStats stats() const noexcept { return counters_.snapshot(); }

    /// The options it was made with.
    const SentinelOptions& options() const noexcept { return options_; }

private:
    using Discover = details::SentinelDiscovery::When;

    struct Master {
        NodeAddress address;
        std::shared_ptr<ConnectionPool> pool;
        // connections_created() of the pool when a connection was last
        // checked with ROLE; a higher count means a new, unchecked one.
        mutable std::atomic<std::uint64_t> checked_created{0};
    };

    // A connection to a server that turned out not to be master: nothing was sent.
    class NotMaster : public IoError {
    public:
        using IoError::IoError;
    };

    static SentinelOptions validated(SentinelOptions options);

    std::shared_ptr<const Master> current() const;

    std::shared_ptr<const Master> current_or_discover();

    std::string no_master_message() const;

    // Unless `how` is now, rate-limited and skipped while another thread is
    // discovering.
    bool discover(Discover how);

    void install(const NodeAddress& address);

    // A lease on the master, checked with ROLE when the pool opened a
    // connection since the last check (one more round trip, after reconnects
    // only). Throws IoError (nothing was sent) when the master cannot be
    // reached or is not a master any more.
    ConnectionPool::Lease acquire(const Master& master);

    // True when the client is off `from` now, after another thread's
    // discovery or its own.
    bool moved_from(const std::shared_ptr<const Master>& from, Discover how);

    template <class Fn>
    auto run(Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
        for (int attempt = 0;; ++attempt) {
            const auto master = current_or_discover();
            std::optional<ConnectionPool::Lease> lease;
            try {
                lease.emplace(acquire(*master));
            } catch (const PoolTimeout&) {
                throw;
            } catch (const NotMaster&) {
                if (attempt == 0 && moved_from(master, Discover::now)) {
                    counters_.add(&SentinelStats::retried);
                    continue;
                }
                throw;
            } catch (const IoError&) {
                // Nothing was sent: follow a failover if there was one.
                if (attempt == 0 && moved_from(master, Discover::if_due)) {
                    counters_.add(&SentinelStats::retried);
                    continue;
                }
                throw;
            }
            try {
                return fn(**lease);
            } catch (const ReplyError& e) {
                if (!e.is_readonly() || attempt != 0) throw;
                lease.reset();
                if (!moved_from(master, Discover::now)) throw;
                counters_.add(&SentinelStats::retried);
            } catch (const IoError&) {
                lease.reset();
                discover(Discover::if_due);
                throw;
            }
        }
    }

    // Runs a pipeline; commands answered READONLY (a demoted master) are
    // re-run once on the new master when discovery finds one.
    template <class CommandAt>
    std::vector<Reply> run_batch(std::size_t count, CommandAt&& command_at, const std::vector<const Script*>& scripts) {
        std::vector<Reply> replies =
            run([&](Connection& c) { return details::pipeline_with_script_recovery(c, count, command_at, scripts); });
        std::vector<std::size_t> readonly;
        for (std::size_t i = 0; i < replies.size(); ++i) {
            if (replies[i].is_error() && ReplyError::code_of(replies[i].error_message()) == "READONLY") {
                readonly.push_back(i);
            }
        }
        if (readonly.empty()) return replies;
        const auto before = current();
        if (!moved_from(before, Discover::now)) return replies;
        counters_.add(&SentinelStats::retried, readonly.size());
        std::vector<Reply> again = run([&](Connection& c) {
            return details::pipeline_with_script_recovery(
                c, readonly.size(), [&](std::size_t k) -> const Command& { return command_at(readonly[k]); }, scripts);
        });
        for (std::size_t k = 0; k < readonly.size(); ++k) replies[readonly[k]] = std::move(again[k]);
        return replies;
    }

    const SentinelOptions options_;

    mutable std::mutex mutex_;
    std::shared_ptr<const Master> master_;
    std::vector<std::shared_ptr<ConnectionPool>> pools_;  // every pool used, for round_trips()

    details::StatsCounters<SentinelStats> counters_;
    details::SentinelDiscovery discovery_;
    std::unique_ptr<details::SwitchWatcher> watcher_;  // last: stopped before the rest goes
};

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "sentinel-inl.hpp"
#endif
