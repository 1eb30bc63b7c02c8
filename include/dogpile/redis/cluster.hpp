#pragma once
// ClusterClient: the Client (client.hpp) for a Redis Cluster. Backends take
// it where they take a SingleServerClient and run unchanged:
//
//   auto client = std::make_shared<dogpile::redis::ClusterClient>(
//       dogpile::redis::ClusterOptions::from_url("redis://:secret@10.0.0.1:7000,10.0.0.2:7000"));
//   auto backend = std::make_shared<dogpile::RedisHashBackend<Flags, FlagsCodec>>(
//       dogpile::RedisHashBackendOptions{client, std::chrono::hours(1)}, codec);
//
// Routing. The slot map (CLUSTER SLOTS) is learnt from any reachable seed.
// A command goes to the master serving the CRC16 slot of its routing key
// (slot.hpp, with the {hash tag} rule); every node has its own bounded
// ConnectionPool, and every node is reached with the same ConnectionOptions
// (AUTH / ACL user, timeouts, client name; the database must be 0).
//
// Redirections and retries, per command (also inside a batch):
// * MOVED: the slot is patched in the map at once, the whole map is reloaded
//   (at most every refresh_interval), and the command re-sent to the new
//   owner.
// * ASK (a slot being migrated): re-sent to the named node preceded by
//   ASKING, in the same round trip; the map is left alone.
// * At most max_redirects of these per command; then its last MOVED/ASK
//   reply is the result (command() throws it as ReplyError).
// * TRYAGAIN (a multi-key command during a migration) and CLUSTERDOWN: re-sent
//   after a backoff (retry_initial doubling up to retry_max) while the
//   retry_timeout (default: the command timeout) lasts; then the error is the
//   result.
// * A node that refuses the connection got nothing: the map is reloaded and
//   the command re-sent if the slot now has another owner (a failover that
//   completed), else the IoError propagates. An I/O error or timeout after
//   sending is never retried (a write may have happened): the map is
//   reloaded for the next call and the error propagates, as on one server.
//
// Scripts: EVALSHA goes to the node of the call's first key; NOSCRIPT is
// answered per node, by loading the script there and re-sending the calls
// that failed (one more round trip to that node only).
//
// batch() and eval_batch() group their commands by node and send one
// pipeline per node: N keys over k nodes cost k round trips (made one after
// the other), never N. MGET, DEL, UNLINK, EXISTS, TOUCH and MSET whose keys
// span several slots are split per slot (details/multi_key.hpp) and their
// replies merged, so RedisBackend's multi-key reads and deletes work; like
// any pipeline this is not atomic across slots.
//
// Reads from replicas (ReadFrom::replica) are off by default: with them on,
// read-only commands (GET, HGET, HMGET, MGET, ...) go round robin to the
// replicas of the slot's master, preceded by READONLY in the same pipeline;
// they may return data the master has already changed, and during a slot
// migration a miss for a key that has moved. Writes and scripts always go to
// the master.
//
// Thread-safe. The slot map is an immutable snapshot replaced under a mutex,
// so routing never waits for a reload.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../errors.hpp"
#include "address.hpp"
#include "client.hpp"
#include "command.hpp"
#include "connection.hpp"
#include "details/multi_key.hpp"
#include "errors.hpp"
#include "options.hpp"
#include "pool.hpp"
#include "reply.hpp"
#include "script.hpp"
#include "slot.hpp"

namespace dogpile::redis {

enum class ReadFrom {
    primary,  // every command goes to the slot's master (the default)
    replica,  // read-only commands go to the slot's replicas (stale reads possible)
};

struct ClusterOptions {
    // Nodes to learn the topology from; one reachable node is enough. Later
    // reloads ask the known nodes first and fall back to these.
    std::vector<NodeAddress> seeds;
    // Per node: at most pool.size connections, acquire_timeout, and the
    // connection settings all nodes share. pool.connection's host, port and
    // unix_socket are ignored (each node's address replaces them).
    PoolOptions pool;
    // MOVED/ASK redirections one command may follow.
    int max_redirects = 5;
    // Backoff between attempts of a command answered TRYAGAIN or CLUSTERDOWN
    // (or whose slot no known node serves).
    std::chrono::milliseconds retry_initial{5};
    std::chrono::milliseconds retry_max{200};
    // How long such a command keeps being retried; default: the connection's
    // command_timeout.
    std::optional<std::chrono::milliseconds> retry_timeout;
    // Minimum time between two reloads of the slot map (MOVED, failures).
    std::chrono::milliseconds refresh_interval{100};
    ReadFrom read_from = ReadFrom::primary;

    // redis://[[user]:password@]host:port[,host:port...][?option=value...]
    // (the query options of ConnectionOptions::from_url; no database).
    static ClusterOptions from_url(std::string_view url);

    // Throws ConfigurationError naming what cannot work.
    void validate() const {
        if (seeds.empty()) throw ConfigurationError("redis cluster options: at least one seed node is needed");
        pool.validate();
        if (pool.connection.db != 0) {
            throw ConfigurationError("redis cluster options: a Redis Cluster has only database 0 (got db " +
                                     std::to_string(pool.connection.db) + ")");
        }
        for (const auto& seed : seeds) seed.apply_to(pool.connection).validate();
        if (max_redirects < 1) throw ConfigurationError("redis cluster options: max_redirects must be at least 1");
        if (retry_initial.count() <= 0) {
            throw ConfigurationError("redis cluster options: retry_initial must be positive");
        }
        if (retry_max < retry_initial) {
            throw ConfigurationError("redis cluster options: retry_max must not be below retry_initial");
        }
        if (retry_timeout && retry_timeout->count() < 0) {
            throw ConfigurationError("redis cluster options: retry_timeout must not be negative");
        }
        if (refresh_interval.count() < 0) {
            throw ConfigurationError("redis cluster options: refresh_interval must not be negative");
        }
    }
};

inline ClusterOptions ClusterOptions::from_url(std::string_view url) {
    const std::string shown = details::redact_url(url);
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos || url.substr(0, scheme_end) != "redis") {
        throw ConfigurationError("redis cluster URL '" + shown +
                                 "': expected redis://[[user]:password@]host:port[,host:port...][?options]");
    }
    std::string_view rest = url.substr(scheme_end + 3);
    std::string_view query;
    if (const auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q);
        rest = rest.substr(0, q);
    }
    std::string_view userinfo;
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
        userinfo = rest.substr(0, at + 1);
        rest = rest.substr(at + 1);
    }
    if (rest.find('/') != std::string_view::npos) {
        throw ConfigurationError("redis cluster URL '" + shown + "': a Redis Cluster has no databases; drop the /path");
    }
    ClusterOptions options;
    while (true) {
        const auto comma = rest.find(',');
        const std::string_view host = rest.substr(0, comma);
        if (host.empty()) throw ConfigurationError("redis cluster URL '" + shown + "': empty host in the node list");
        const ConnectionOptions node = ConnectionOptions::from_url("redis://" + std::string(userinfo) +
                                                                   std::string(host) + std::string(query));
        if (options.seeds.empty()) options.pool.connection = node;
        options.seeds.push_back(NodeAddress{node.host, node.port});
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
    }
    options.validate();
    return options;
}

// Counters since the client was created (or reset_stats()).
struct ClusterStats {
    std::uint64_t moved = 0;             // MOVED redirections followed
    std::uint64_t ask = 0;               // ASK redirections followed
    std::uint64_t tryagain = 0;          // TRYAGAIN replies retried
    std::uint64_t clusterdown = 0;       // CLUSTERDOWN replies retried
    std::uint64_t refreshes = 0;         // slot maps loaded
    std::uint64_t connect_failures = 0;  // connections a node refused or timed out
    std::uint64_t replica_reads = 0;     // commands answered by a replica
};

// One node's pool, for diagnostics and tests.
struct ClusterNodeStats {
    NodeAddress address;
    std::size_t open_connections = 0;
    std::size_t idle_connections = 0;
    std::uint64_t round_trips = 0;
};

// One master of the slot map and what it serves, for diagnostics and tests.
struct ClusterShard {
    NodeAddress master;
    std::vector<NodeAddress> replicas;
    std::vector<std::pair<int, int>> slot_ranges;  // inclusive
};

namespace details {

struct ClusterNode {
    ClusterNode(NodeAddress a, PoolOptions options) : address(std::move(a)), pool(std::move(options)) {}
    const NodeAddress address;
    ConnectionPool pool;
};

struct SlotMap {
    std::vector<std::shared_ptr<ClusterNode>> masters;
    std::vector<std::vector<std::shared_ptr<ClusterNode>>> replicas;  // per master
    std::array<std::int16_t, cluster_slots> owner;                      // index into masters, -1: unserved

    SlotMap() { owner.fill(-1); }

    std::size_t master_index(const std::shared_ptr<ClusterNode>& node) {
        for (std::size_t i = 0; i < masters.size(); ++i) {
            if (masters[i] == node) return i;
        }
        masters.push_back(node);
        replicas.emplace_back();
        return masters.size() - 1;
    }
};

inline bool is_read_only_command(std::string_view name) noexcept {
    // Commands a replica serves after READONLY; anything else goes to the master.
    static constexpr std::string_view reads[] = {"GET",     "MGET",    "STRLEN",   "GETRANGE",  "EXISTS", "TTL",
                                                 "PTTL",    "TYPE",    "HGET",     "HMGET",     "HGETALL", "HKEYS",
                                                 "HVALS",   "HLEN",    "HEXISTS",  "HSTRLEN",   "HSCAN",  "LRANGE",
                                                 "LLEN",    "LINDEX",  "SMEMBERS", "SISMEMBER", "SCARD",  "ZRANGE",
                                                 "ZSCORE",  "ZCARD",   "DUMP"};
    for (std::string_view r : reads) {
        if (iequals_ascii(name, r)) return true;
    }
    return false;
}

}  // namespace details

class ClusterClient final : public Client {
public:
    // Loads the slot map from the seeds. A cluster that cannot be reached yet
    // is not an error here (commands throw IoError until it can); a seed that
    // answers but is not in cluster mode is (ConfigurationError), as are
    // invalid options.
    explicit ClusterClient(ClusterOptions options)
        : options_(validated(std::move(options))),
          retry_timeout_(options_.retry_timeout.value_or(options_.pool.connection.command_timeout)) {
        refresh(Refresh::now);
    }

    using Client::batch;
    using Client::command;
    using Client::eval;

    Reply command(std::string_view routing_key, const Command& cmd) override {
        std::vector<Reply> replies = execute(
            1, [&cmd](std::size_t) -> const Command& { return cmd; }, [routing_key](std::size_t) { return routing_key; },
            {});
        if (replies.front().is_error()) {
            throw ReplyError(std::string(replies.front().error_message()), "redis " + std::string(cmd.name()));
        }
        return std::move(replies.front());
    }

    std::vector<Reply> pipeline(std::string_view routing_key, const std::vector<Command>& commands) override {
        return execute(
            commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i]; },
            [routing_key](std::size_t) { return routing_key; }, {});
    }

    std::vector<Reply> batch(const std::vector<KeyedCommand>& commands,
                             const std::vector<const Script*>& scripts) override {
        return execute(
            commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i].command; },
            [&commands](std::size_t i) { return std::string_view(commands[i].key); }, scripts);
    }

    Reply eval(const Script& script, const ScriptCall& call) override {
        const Command cmd = script.evalsha_command(call);
        std::vector<Reply> replies = execute(
            1, [&cmd](std::size_t) -> const Command& { return cmd; },
            [&call](std::size_t) { return routing_key_of(call); }, {&script});
        if (replies.front().is_error()) {
            throw ReplyError(std::string(replies.front().error_message()), "redis EVALSHA " + script.sha1().substr(0, 12));
        }
        return std::move(replies.front());
    }

    std::vector<Reply> eval_batch(const Script& script, const std::vector<ScriptCall>& calls) override {
        std::vector<Command> commands;
        commands.reserve(calls.size());
        for (const auto& call : calls) commands.push_back(script.evalsha_command(call));
        return execute(
            commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i]; },
            [&calls](std::size_t i) { return routing_key_of(calls[i]); }, {&script});
    }

    // A connection of the master that serves the key's slot now. Redirections
    // are not followed inside `fn`; a MOVED it lets escape (as ReplyError)
    // updates the slot map before propagating.
    void with_connection(std::string_view routing_key, const std::function<void(Connection&)>& fn) override {
        const auto node = master_for(key_slot(routing_key));
        auto lease = acquire(*node);
        try {
            fn(*lease);
        } catch (const ReplyError& e) {
            if (auto r = e.redirection(); r && r->kind == Redirection::Kind::Moved) {
                counters_.moved.fetch_add(1, std::memory_order_relaxed);
                patch(r->slot, node_at(NodeAddress{r->host, r->port}));
                refresh(Refresh::if_due);
            }
            throw;
        }
    }

    // Throws IoError when the current slot map names no master for the key.
    ConnectionOptions connection_options(std::string_view routing_key) const override {
        const auto master = master_of(routing_key);
        if (!master) throw IoError(no_owner_message(key_slot(routing_key)));
        return master->apply_to(options_.pool.connection);
    }

    // Over all nodes ever used.
    std::uint64_t round_trips() const override {
        std::lock_guard<std::mutex> lock(nodes_mutex_);
        std::uint64_t total = 0;
        for (const auto& entry : nodes_) total += entry.second->pool.round_trips();
        return total;
    }

    // Every node the client has heard of, in no particular order.
    std::vector<ClusterNodeStats> node_stats() const {
        std::lock_guard<std::mutex> lock(nodes_mutex_);
        std::vector<ClusterNodeStats> out;
        for (const auto& entry : nodes_) {
            const auto& pool = entry.second->pool;
            out.push_back(ClusterNodeStats{entry.first, pool.open_connections(), pool.idle_connections(),
                                           pool.round_trips()});
        }
        return out;
    }

    // The master serving `key` in the current slot map, if any.
    std::optional<NodeAddress> master_of(std::string_view key) const {
        const auto map = snapshot();
        if (!map) return std::nullopt;
        const int owner = map->owner[static_cast<std::size_t>(key_slot(key))];
        if (owner < 0) return std::nullopt;
        return map->masters[static_cast<std::size_t>(owner)]->address;
    }

    // The current slot map, by master.
    std::vector<ClusterShard> topology() const {
        std::vector<ClusterShard> out;
        const auto map = snapshot();
        if (!map) return out;
        for (std::size_t m = 0; m < map->masters.size(); ++m) {
            ClusterShard shard;
            shard.master = map->masters[m]->address;
            for (const auto& r : map->replicas[m]) shard.replicas.push_back(r->address);
            out.push_back(std::move(shard));
        }
        for (int slot = 0; slot < cluster_slots; ++slot) {
            const int owner = map->owner[static_cast<std::size_t>(slot)];
            if (owner < 0) continue;
            auto& ranges = out[static_cast<std::size_t>(owner)].slot_ranges;
            if (!ranges.empty() && ranges.back().second == slot - 1) {
                ranges.back().second = slot;
            } else {
                ranges.emplace_back(slot, slot);
            }
        }
        out.erase(std::remove_if(out.begin(), out.end(), [](const ClusterShard& s) { return s.slot_ranges.empty(); }),
                  out.end());
        return out;
    }

    // Reloads the slot map now (ignoring refresh_interval). Returns false when
    // no node could be asked.
    bool refresh_topology() { return refresh(Refresh::now); }

    ClusterStats stats() const noexcept {
        ClusterStats s;
        s.moved = counters_.moved.load(std::memory_order_relaxed);
        s.ask = counters_.ask.load(std::memory_order_relaxed);
        s.tryagain = counters_.tryagain.load(std::memory_order_relaxed);
        s.clusterdown = counters_.clusterdown.load(std::memory_order_relaxed);
        s.refreshes = counters_.refreshes.load(std::memory_order_relaxed);
        s.connect_failures = counters_.connect_failures.load(std::memory_order_relaxed);
        s.replica_reads = counters_.replica_reads.load(std::memory_order_relaxed);
        return s;
    }
    void reset_stats() noexcept {
        for (auto* c : {&counters_.moved, &counters_.ask, &counters_.tryagain, &counters_.clusterdown,
                        &counters_.refreshes, &counters_.connect_failures, &counters_.replica_reads}) {
            c->store(0, std::memory_order_relaxed);
        }
    }

    const ClusterOptions& options() const noexcept { return options_; }

private:
    using Clock = std::chrono::steady_clock;
    using NodePtr = std::shared_ptr<details::ClusterNode>;
    enum class Refresh { now, if_due };

    struct Counters {
        std::atomic<std::uint64_t> moved{0}, ask{0}, tryagain{0}, clusterdown{0}, refreshes{0}, connect_failures{0},
            replica_reads{0};
    };

    // One command on its way through the cluster.
    struct Job {
        const Command* command = nullptr;
        int slot = 0;
        bool replica_ok = false;  // may be served by a replica
        NodePtr ask;              // set after ASK: the next attempt goes there, with ASKING
        int redirects = 0;
        std::optional<Reply> reply;
    };

    struct Group {
        NodePtr node;
        bool replica = false;
        std::vector<std::size_t> jobs;
    };

    // Where an input command went: one job, or several parts to merge.
    struct Input {
        std::size_t first_job = 0;
        std::optional<std::vector<details::SplitPart>> parts;
    };

    static ClusterOptions validated(ClusterOptions options) {
        options.validate();
        return options;
    }

    std::shared_ptr<const details::SlotMap> snapshot() const {
        std::lock_guard<std::mutex> lock(map_mutex_);
        return map_;
    }

    NodePtr node_at(const NodeAddress& address) {
        std::lock_guard<std::mutex> lock(nodes_mutex_);
        auto it = nodes_.find(address);
        if (it != nodes_.end()) return it->second;
        PoolOptions pool = options_.pool;
        pool.connection = address.apply_to(pool.connection);
        auto node = std::make_shared<details::ClusterNode>(address, std::move(pool));
        nodes_.emplace(address, node);
        return node;
    }

    ConnectionPool::Lease acquire(details::ClusterNode& node) {
        try {
            return node.pool.acquire();
        } catch (const PoolTimeout&) {
            throw;
        } catch (const IoError&) {
            counters_.connect_failures.fetch_add(1, std::memory_order_relaxed);
            throw;
        }
    }

    // The master of `slot`, reloading the map when it has none. Throws IoError.
    NodePtr master_for(int slot) {
        for (int attempt = 0; attempt < 2; ++attempt) {
            const auto map = snapshot();
            if (map) {
                const int owner = map->owner[static_cast<std::size_t>(slot)];
                if (owner >= 0) return map->masters[static_cast<std::size_t>(owner)];
            }
            if (attempt == 0) refresh(Refresh::if_due);
        }
        throw IoError(no_owner_message(slot));
    }

    std::string no_owner_message(int slot) const {
        std::lock_guard<std::mutex> lock(error_mutex_);
        std::string message = "redis cluster: no known node serves slot " + std::to_string(slot);
        if (!last_refresh_error_.empty()) message += " (last slot map reload: " + last_refresh_error_ + ")";
        return message;
    }

    // Reloads the slot map from the known masters, then replicas, then seeds
    // (each over a dedicated connection, so pools and round-trip counts are
    // untouched). Unless `how` is now, it is rate-limited and skipped while
    // another thread reloads (callers go on with the map they have rather
    // than queue behind a slow node). False if nobody answered.
    bool refresh(Refresh how) {
        std::unique_lock<std::mutex> lock(refresh_mutex_, std::defer_lock);
        if (how == Refresh::now) {
            lock.lock();
        } else if (!lock.try_lock()) {
            return true;
        }
        const auto now = Clock::now();
        if (how == Refresh::if_due && last_refresh_ && now - *last_refresh_ < options_.refresh_interval) return true;
        last_refresh_ = now;

        std::vector<NodeAddress> candidates;
        auto add = [&candidates](const NodeAddress& a) {
            if (std::find(candidates.begin(), candidates.end(), a) == candidates.end()) candidates.push_back(a);
        };
        if (const auto map = snapshot()) {
            const std::size_t n = map->masters.size();
            const std::size_t start = n == 0 ? 0 : static_cast<std::size_t>(counters_.refreshes.load()) % n;
            for (std::size_t i = 0; i < n; ++i) add(map->masters[(start + i) % n]->address);
            for (const auto& rs : map->replicas) {
                for (const auto& r : rs) add(r->address);
            }
        }
        for (const auto& seed : options_.seeds) add(seed);

        std::string errors;
        for (const auto& address : candidates) {
            try {
                Connection connection(address.apply_to(options_.pool.connection));
                const Reply reply = connection.command({"CLUSTER", "SLOTS"});
                auto map = parse_slots(reply, address);
                if (map == nullptr) {
                    errors += address.to_string() + ": serves no slots yet; ";
                    continue;
                }
                {
                    std::lock_guard<std::mutex> map_lock(map_mutex_);
                    map_ = std::move(map);
                }
                counters_.refreshes.fetch_add(1, std::memory_order_relaxed);
                std::lock_guard<std::mutex> error_lock(error_mutex_);
                last_refresh_error_.clear();
                return true;
            } catch (const AuthError&) {
                throw;
            } catch (const ReplyError& e) {
                if (e.message().find("cluster support disabled") != std::string::npos) {
                    throw ConfigurationError("redis cluster: " + address.to_string() +
                                             " is not in cluster mode (cluster-enabled no); use SingleServerClient");
                }
                errors += address.to_string() + ": " + e.what() + "; ";
            } catch (const Error& e) {
                errors += address.to_string() + ": " + e.what() + "; ";
            }
        }
        std::lock_guard<std::mutex> error_lock(error_mutex_);
        last_refresh_error_ = errors.empty() ? std::string("no node to ask") : errors;
        return false;
    }

    // CLUSTER SLOTS: [[start, end, [host, port, id, ...] (master), [host, port, id, ...] (replicas)...]...].
    // An empty host means "the address you reached me at".
    std::shared_ptr<details::SlotMap> parse_slots(const Reply& reply, const NodeAddress& asked) {
        auto map = std::make_shared<details::SlotMap>();
        bool any = false;
        for (const Reply& range : reply.elements()) {
            if (range.size() < 3) throw ProtocolError("redis CLUSTER SLOTS: a range with no master");
            const long long start = range.at(0).as_integer();
            const long long end = range.at(1).as_integer();
            if (start < 0 || end >= cluster_slots || start > end) {
                throw ProtocolError("redis CLUSTER SLOTS: bad slot range " + std::to_string(start) + "-" +
                                    std::to_string(end));
            }
            auto address_of = [&asked](const Reply& node) {
                NodeAddress a{node.at(0).as_string(), static_cast<int>(node.at(1).as_integer())};
                if (a.host.empty() || a.host == "?") a.host = asked.host;
                return a;
            };
            const std::size_t m = map->master_index(node_at(address_of(range.at(2))));
            for (std::size_t r = 3; r < range.size(); ++r) {
                NodePtr replica = node_at(address_of(range.at(r)));
                auto& list = map->replicas[m];
                if (std::find(list.begin(), list.end(), replica) == list.end()) list.push_back(std::move(replica));
            }
            for (long long slot = start; slot <= end; ++slot) {
                map->owner[static_cast<std::size_t>(slot)] = static_cast<std::int16_t>(m);
            }
            any = true;
        }
        return any ? map : nullptr;
    }

    // Runs `count` commands (command_at(i), routed by key_at(i)) and returns
    // their replies in order: the engine under every public operation.
    template <class CommandAt, class KeyAt>
    std::vector<Reply> execute(std::size_t count, CommandAt&& command_at, KeyAt&& key_at,
                               const std::vector<const Script*>& scripts) {
        if (count == 0) return {};
        std::vector<Input> inputs(count);
        std::vector<Job> jobs;
        jobs.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
            const Command& cmd = command_at(i);
            inputs[i].first_job = jobs.size();
            inputs[i].parts = details::split_by_slot(cmd);
            const bool replica_ok =
                options_.read_from == ReadFrom::replica && details::is_read_only_command(cmd.name());
            if (inputs[i].parts) {
                for (const auto& part : *inputs[i].parts) {
                    Job job;
                    job.command = &part.command;
                    job.slot = part.slot;
                    job.replica_ok = replica_ok;
                    jobs.push_back(std::move(job));
                }
            } else {
                Job job;
                job.command = &cmd;
                // Multi-key commands route by their keys (all in one slot here).
                job.slot = details::multi_key_shape(cmd) && cmd.size() > 1 ? key_slot(cmd[1]) : key_slot(key_at(i));
                job.replica_ok = replica_ok;
                jobs.push_back(std::move(job));
            }
        }

        run_jobs(jobs, scripts);

        std::vector<Reply> out;
        out.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
            const Input& input = inputs[i];
            if (!input.parts) {
                out.push_back(std::move(*jobs[input.first_job].reply));
                continue;
            }
            std::vector<Reply> parts;
            for (std::size_t p = 0; p < input.parts->size(); ++p) parts.push_back(*jobs[input.first_job + p].reply);
            out.push_back(details::merge_split_replies(command_at(i), *input.parts, parts));
        }
        return out;
    }

    // Where a job goes in `map`: {node, is a replica}; no node when the slot is unserved.
    std::pair<NodePtr, bool> route(const details::SlotMap* map, const Job& job) {
        if (job.ask) return {job.ask, false};
        if (map == nullptr) return {nullptr, false};
        const int owner = map->owner[static_cast<std::size_t>(job.slot)];
        if (owner < 0) return {nullptr, false};
        const auto m = static_cast<std::size_t>(owner);
        if (job.replica_ok && !map->replicas[m].empty()) {
            const auto& list = map->replicas[m];
            return {list[next_replica_.fetch_add(1, std::memory_order_relaxed) % list.size()], true};
        }
        return {map->masters[m], false};
    }

    void run_jobs(std::vector<Job>& jobs, const std::vector<const Script*>& scripts) {
        const auto deadline = Clock::now() + retry_timeout_;
        auto backoff = std::chrono::duration_cast<Clock::duration>(options_.retry_initial);
        const auto backoff_max = std::chrono::duration_cast<Clock::duration>(options_.retry_max);

        std::vector<std::size_t> pending(jobs.size());
        for (std::size_t i = 0; i < jobs.size(); ++i) pending[i] = i;

        while (!pending.empty()) {
            auto map = snapshot();
            if (!map) {
                refresh(Refresh::if_due);
                map = snapshot();
            }
            std::vector<Group> groups;
            std::vector<std::size_t> next;
            std::vector<std::size_t> waiting;  // TRYAGAIN, CLUSTERDOWN, unserved slot
            std::optional<int> unserved;
            bool reload = false;

            for (std::size_t j : pending) {
                const std::pair<NodePtr, bool> target = route(map.get(), jobs[j]);
                const NodePtr& node = target.first;
                const bool replica = target.second;
                if (!node) {
                    unserved = jobs[j].slot;
                    waiting.push_back(j);
                    continue;
                }
                auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& x) {
                    return x.node == node && x.replica == replica;
                });
                if (g == groups.end()) {
                    groups.push_back(Group{node, replica, {}});
                    g = groups.end() - 1;
                }
                g->jobs.push_back(j);
            }

            for (Group& group : groups) {
                std::optional<ConnectionPool::Lease> lease;
                try {
                    lease.emplace(acquire(*group.node));
                } catch (const PoolTimeout&) {
                    throw;
                } catch (const IoError&) {
                    // Nothing was sent. A replica falls back to its master; a
                    // master that went away may have been replaced.
                    if (group.replica) {
                        for (std::size_t j : group.jobs) {
                            jobs[j].replica_ok = false;
                            next.push_back(j);
                        }
                        continue;
                    }
                    refresh(Refresh::if_due);
                    const auto fresh = snapshot();
                    bool moved_away = true;
                    for (std::size_t j : group.jobs) {
                        Job probe;
                        probe.slot = jobs[j].slot;
                        const NodePtr now_serving = route(fresh.get(), probe).first;
                        moved_away = moved_away && ++jobs[j].redirects <= options_.max_redirects &&
                                     now_serving != nullptr && now_serving != group.node;
                    }
                    if (!moved_away) throw;
                    for (std::size_t j : group.jobs) {
                        jobs[j].ask = nullptr;
                        next.push_back(j);
                    }
                    continue;
                }

                std::vector<Reply> replies;
                try {
                    replies = run_group(**lease, group, jobs, scripts);
                } catch (const IoError&) {
                    // Possibly executed: not retried. Reload the map for later calls.
                    lease->discard();
                    refresh(Refresh::if_due);
                    throw;
                }
                if (group.replica) counters_.replica_reads.fetch_add(group.jobs.size(), std::memory_order_relaxed);

                for (std::size_t k = 0; k < group.jobs.size(); ++k) {
                    Job& job = jobs[group.jobs[k]];
                    Reply& reply = replies[k];
                    if (!reply.is_error()) {
                        job.reply = std::move(reply);
                        continue;
                    }
                    const std::string_view code = ReplyError::code_of(reply.error_message());
                    if (code == "MOVED" || code == "ASK") {
                        const auto redirection = ReplyError::parse_redirection(reply.error_message());
                        if (!redirection || ++job.redirects > options_.max_redirects) {
                            job.reply = std::move(reply);
                            continue;
                        }
                        NodePtr target = node_at(NodeAddress{redirection->host, redirection->port});
                        if (redirection->kind == Redirection::Kind::Moved) {
                            counters_.moved.fetch_add(1, std::memory_order_relaxed);
                            patch(redirection->slot, target);
                            job.ask = nullptr;
                            reload = true;
                        } else {
                            counters_.ask.fetch_add(1, std::memory_order_relaxed);
                            job.ask = std::move(target);
                        }
                        next.push_back(group.jobs[k]);
                    } else if (code == "TRYAGAIN" || code == "CLUSTERDOWN") {
                        (code == "TRYAGAIN" ? counters_.tryagain : counters_.clusterdown)
                            .fetch_add(1, std::memory_order_relaxed);
                        if (code == "CLUSTERDOWN") reload = true;
                        job.ask = nullptr;
                        job.reply = std::move(reply);  // the result if time runs out
                        waiting.push_back(group.jobs[k]);
                    } else if (group.replica && (code == "LOADING" || code == "MASTERDOWN")) {
                        job.replica_ok = false;
                        next.push_back(group.jobs[k]);
                    } else {
                        job.reply = std::move(reply);
                    }
                }
            }

            if (reload) refresh(Refresh::if_due);
            if (!waiting.empty()) {
                if (Clock::now() + backoff > deadline) {
                    for (std::size_t j : waiting) {
                        if (!jobs[j].reply) throw IoError(no_owner_message(unserved.value_or(jobs[j].slot)));
                    }
                    waiting.clear();
                } else {
                    if (unserved) refresh(Refresh::if_due);
                    std::this_thread::sleep_for(backoff);
                    backoff = std::min(backoff * 2, backoff_max);
                    for (std::size_t j : waiting) {
                        jobs[j].reply.reset();
                        next.push_back(j);
                    }
                }
            }
            pending = std::move(next);
        }
    }

    // MOVED: record the slot's new owner without waiting for a reload.
    void patch(int slot, const NodePtr& node) {
        std::lock_guard<std::mutex> lock(map_mutex_);
        auto next = map_ ? std::make_shared<details::SlotMap>(*map_) : std::make_shared<details::SlotMap>();
        next->owner[static_cast<std::size_t>(slot)] = static_cast<std::int16_t>(next->master_index(node));
        map_ = std::move(next);
    }

    // One pipeline to one node: [READONLY] then each job's command, preceded
    // by ASKING after an ASK. Calls that come back NOSCRIPT are re-sent after
    // loading their script on this node (one more round trip). Returns one
    // reply per job of the group.
    std::vector<Reply> run_group(Connection& connection, const Group& group, const std::vector<Job>& jobs,
                                 const std::vector<const Script*>& scripts) {
        auto send = [&](const std::vector<std::size_t>& which, const std::vector<const Script*>& loads) {
            Pipeline p(connection);
            if (group.replica) p.add({"READONLY"});
            for (const Script* s : loads) p.add(s->load_command());
            for (std::size_t k : which) {
                const Job& job = jobs[group.jobs[k]];
                if (job.ask) p.add({"ASKING"});
                p.add(*job.command);
            }
            std::vector<Reply> raw = p.execute();
            std::size_t at = group.replica ? 1 : 0;
            for (std::size_t l = 0; l < loads.size(); ++l, ++at) {
                if (!raw[at].is_error()) loads[l]->check_loaded(raw[at]);
            }
            std::vector<Reply> out;
            out.reserve(which.size());
            for (std::size_t k : which) {
                if (jobs[group.jobs[k]].ask) ++at;
                out.push_back(std::move(raw[at++]));
            }
            return out;
        };

        std::vector<std::size_t> all(group.jobs.size());
        for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
        std::vector<Reply> replies = send(all, {});

        std::vector<std::size_t> failed;
        std::vector<const Script*> loads;
        for (std::size_t k = 0; k < replies.size(); ++k) {
            if (!details::is_noscript(replies[k])) continue;
            const Command& cmd = *jobs[group.jobs[k]].command;
            const auto it = std::find_if(scripts.begin(), scripts.end(),
                                         [&cmd](const Script* s) { return s != nullptr && s->is_call(cmd); });
            if (it == scripts.end()) continue;
            failed.push_back(k);
            if (std::find(loads.begin(), loads.end(), *it) == loads.end()) loads.push_back(*it);
        }
        if (failed.empty()) return replies;
        std::vector<Reply> retried = send(failed, loads);
        for (std::size_t f = 0; f < failed.size(); ++f) replies[failed[f]] = std::move(retried[f]);
        return replies;
    }

    const ClusterOptions options_;
    const Clock::duration retry_timeout_;

    mutable std::mutex map_mutex_;
    std::shared_ptr<const details::SlotMap> map_;

    mutable std::mutex nodes_mutex_;
    std::unordered_map<NodeAddress, NodePtr> nodes_;

    std::mutex refresh_mutex_;
    std::optional<Clock::time_point> last_refresh_;  // guarded by refresh_mutex_

    mutable std::mutex error_mutex_;
    std::string last_refresh_error_;

    std::atomic<std::size_t> next_replica_{0};
    Counters counters_;
};

}  // namespace dogpile::redis
