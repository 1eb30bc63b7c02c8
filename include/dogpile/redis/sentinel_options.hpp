#pragma once
/// \file
/// How a SentinelClient (redis/sentinel.hpp) finds and follows its master:
/// SentinelOptions, MasterWatch, and what it counts (SentinelStats).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "../details/linkage.hpp"
#include "../errors.hpp"
#include "address.hpp"
#include "options.hpp"
#include "pool.hpp"

namespace dogpile::redis {

/// How the client learns that the sentinels switched masters.
enum class MasterWatch {
    subscribe,  ///< a background thread listens for +switch-master, and failures trigger discovery
    on_error,   ///< only failures (refused connections, I/O errors, READONLY) trigger discovery
};

/// How a SentinelClient finds its master through the sentinels, and how it reaches that master.
struct SentinelOptions {
    /// The name the sentinels monitor the master under (`sentinel monitor <name> ...`).
    std::string master_name;
    /// One reachable sentinel is enough.
    std::vector<NodeAddress> sentinels;
    /// How to talk to the sentinels: timeouts, TLS (sentinels with tls-port),
    /// and their own AUTH if they have requirepass. host, port and db are ignored.
    ConnectionOptions sentinel_connection;
    /// The pool on whichever server is master; pool.connection carries the data
    /// nodes' AUTH / ACL user, database, timeouts and TLS (for the port the
    /// sentinels name: the TLS port with tls-replication yes). Its host, port
    /// and unix_socket are ignored.
    PoolOptions pool;
    /// Minimum time between two discoveries triggered by failures.
    std::chrono::milliseconds resolve_interval{100};
    MasterWatch watch = MasterWatch::subscribe;  ///< how a failover is noticed

    /// Throws ConfigurationError naming what cannot work.
    void validate() const;

    /// The connection to `sentinel`: sentinel_connection at its address, db 0.
    ConnectionOptions sentinel_connection_to(const NodeAddress& sentinel) const;
};

/// What a SentinelClient counted since it was made.
struct SentinelStats {
    std::uint64_t discoveries = 0;      ///< successful master look-ups
    std::uint64_t master_changes = 0;   ///< failovers followed (a different master found)
    std::uint64_t role_mismatches = 0;  ///< a server named as master whose ROLE said otherwise
    /// Commands re-sent to a new master (not sent, or READONLY).
    std::uint64_t retried = 0;
    std::uint64_t switch_notices = 0;  ///< +switch-master messages received for this master
};

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "sentinel_options-inl.hpp"
#endif
