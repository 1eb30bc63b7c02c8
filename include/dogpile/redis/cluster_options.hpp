#pragma once
/// \file
/// ClusterOptions: how a ClusterClient (cluster.hpp) reaches a Redis Cluster,
/// from code or from a URL:
///
/// \code
///   ClusterOptions::from_url("redis://:secret@10.0.0.1:7000,10.0.0.2:7000?connect_timeout=200")
/// \endcode

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../details/linkage.hpp"
#include "../errors.hpp"
#include "address.hpp"
#include "options.hpp"
#include "pool.hpp"

namespace dogpile::redis {

/// Which node of a slot serves read-only commands (ClusterOptions::read_from).
enum class ReadFrom {
    primary,  ///< every command goes to the slot's master (the default)
    replica,  ///< read-only commands go to the slot's replicas (stale reads possible)
};

/// How a ClusterClient reaches a Redis Cluster (from code or from_url()), and how hard it retries.
struct ClusterOptions {
    /// Nodes to learn the topology from; one reachable node is enough. Later
    /// reloads ask the known nodes first and fall back to these.
    std::vector<NodeAddress> seeds;
    /// Per node: at most pool.size connections, acquire_timeout, and the
    /// connection settings all nodes share (TLS included: with tls-cluster yes
    /// CLUSTER SLOTS and MOVED name the nodes' TLS ports). pool.connection's
    /// host, port and unix_socket are ignored (each node's address replaces them).
    PoolOptions pool;
    /// MOVED/ASK redirections one command may follow.
    int max_redirects = 5;
    /// Backoff between attempts of a command answered TRYAGAIN or CLUSTERDOWN
    /// (or whose slot no known node serves).
    std::chrono::milliseconds retry_initial{5};
    std::chrono::milliseconds retry_max{200};  ///< upper bound of that doubling backoff
    /// How long such a command keeps being retried; default: the connection's
    /// command_timeout.
    std::optional<std::chrono::milliseconds> retry_timeout;
    /// Minimum time between two reloads of the slot map (MOVED, failures).
    std::chrono::milliseconds refresh_interval{100};
    ReadFrom read_from = ReadFrom::primary;  ///< replica: read-only commands may return stale data

    /// `redis[s]://[[user]:password@]host:port[,host:port...][?option=value...]`
    /// (rediss://: TLS to every node; the query options of
    /// ConnectionOptions::from_url; no database).
    static ClusterOptions from_url(std::string_view url);

    /// Throws ConfigurationError naming what cannot work.
    void validate() const;
};

/// Counters since the client was created (or reset_stats()).
struct ClusterStats {
    std::uint64_t moved = 0;             ///< MOVED redirections followed
    std::uint64_t ask = 0;               ///< ASK redirections followed
    std::uint64_t tryagain = 0;          ///< TRYAGAIN replies retried
    std::uint64_t clusterdown = 0;       ///< CLUSTERDOWN replies retried
    std::uint64_t refreshes = 0;         ///< slot maps loaded
    std::uint64_t connect_failures = 0;  ///< connections a node refused or timed out
    std::uint64_t replica_reads = 0;     ///< commands answered by a replica
};

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "cluster_options-inl.hpp"
#endif
