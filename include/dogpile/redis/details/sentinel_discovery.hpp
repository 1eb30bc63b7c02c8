#pragma once
// SentinelDiscovery: finds the master a SentinelClient uses. The sentinels
// are asked in turn (the last one that answered first) for SENTINEL
// GET-MASTER-ADDR-BY-NAME; the server named is accepted only if its ROLE says
// master (a sentinel may lag behind a failover).

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "../../details/linkage.hpp"
#include "../address.hpp"
#include "../connection.hpp"
#include "../errors.hpp"
#include "../reply.hpp"
#include "../sentinel_options.hpp"
#include "interval_gate.hpp"
#include "stats_counters.hpp"

namespace dogpile::redis::details {

// A master's ROLE says "master" (one round trip).
bool is_master(Connection& connection);

class SentinelDiscovery {
public:
    enum class When {
        now,     // always, waiting for a discovery in progress
        if_due,  // at most every resolve_interval, skipped while another runs
    };

    // `options` and `counters` outlive the discovery (both are the client's).
    SentinelDiscovery(const SentinelOptions& options, StatsCounters<SentinelStats>& counters)
        : options_(options), counters_(counters), gate_(options.resolve_interval) {}

    // Asks the sentinels, preferred one first, and calls `install` with the
    // first server named whose ROLE is master, before another discovery can
    // run. False when none was found (last_error() says why) or skipped. An
    // AuthError propagates: a wrong password is not a failover.
    template <class Install>
    bool discover(When when, Install&& install) {
        const auto pass = when == When::now ? gate_.enter_now() : gate_.enter_if_due();
        if (!pass) return false;

        std::string errors;
        const std::size_t n = options_.sentinels.size();
        for (std::size_t k = 0; k < n; ++k) {
            const std::size_t index = (preferred_ + k) % n;
            const NodeAddress& sentinel = options_.sentinels[index];
            const std::optional<NodeAddress> named = ask(sentinel, errors);
            if (!named || !confirm(sentinel, *named, errors)) continue;
            preferred_ = index;
            install(*named);
            counters_.add(&SentinelStats::discoveries);
            set_last_error({});
            return true;
        }
        set_last_error(std::move(errors));
        return false;
    }

    // Why the last discovery found no master; empty after a success.
    std::string last_error() const;

private:
    // The address `sentinel` names, or nullopt with the reason added to `errors`.
    std::optional<NodeAddress> ask(const NodeAddress& sentinel, std::string& errors) const;

    // Whether `named` is a master, or false with the reason added to `errors`.
    bool confirm(const NodeAddress& sentinel, const NodeAddress& named, std::string& errors);

    void set_last_error(std::string error);

    const SentinelOptions& options_;
    StatsCounters<SentinelStats>& counters_;

    IntervalGate<> gate_;        // one discovery at a time, if_due at most every resolve_interval
    std::size_t preferred_ = 0;  // guarded by gate_

    mutable std::mutex error_mutex_;
    std::string last_error_;
};

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "sentinel_discovery-inl.hpp"
#endif
