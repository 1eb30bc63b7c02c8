#pragma once
// ClusterRouter: runs commands on a Redis Cluster, the engine under every
// ClusterClient operation (cluster.hpp states the policy users see). Per
// round: route each pending command by its slot (a multi-key command split
// per slot first), send one pipeline per node, and sort the replies into
// results, redirections (MOVED, ASK), commands to retry after a backoff
// (TRYAGAIN, CLUSTERDOWN, unserved slot) and replica reads to send to the
// master instead; repeat with what is left.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "../cluster_options.hpp"
#include "../command.hpp"
#include "../connection.hpp"
#include "../errors.hpp"
#include "../pool.hpp"
#include "../reply.hpp"
#include "../script.hpp"
#include "../slot.hpp"
#include "ascii.hpp"
#include "cluster_slot_map.hpp"
#include "cluster_topology.hpp"
#include "group_positions.hpp"
#include "multi_key.hpp"

namespace dogpile::redis::details {

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

class ClusterRouter {
public:
    // `options` (validated), `topology` and `counters` must outlive the router.
    ClusterRouter(const ClusterOptions& options, ClusterTopology& topology, ClusterCounters& counters)
        : options_(options),
          topology_(topology),
          counters_(counters),
          retry_timeout_(options.retry_timeout.value_or(options.pool.connection.command_timeout)) {}

    // Runs `count` commands (command_at(i), routed by key_at(i)) and returns
    // their replies in order; error replies in place. EVALSHA calls of
    // `scripts` that come back NOSCRIPT are recovered per node.
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
            inputs[i].parts = split_by_slot(cmd);
            const bool replica_ok = options_.read_from == ReadFrom::replica && is_read_only_command(cmd.name());
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
                job.slot = multi_key_shape(cmd) && cmd.size() > 1 ? key_slot(cmd[1]) : key_slot(key_at(i));
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
            out.push_back(merge_split_replies(command_at(i), *input.parts, parts));
        }
        return out;
    }

private:
    using Clock = std::chrono::steady_clock;
    using Refresh = ClusterTopology::Refresh;

    // One command on its way through the cluster.
    struct Job {
        const Command* command = nullptr;
        int slot = 0;
        bool replica_ok = false;  // may be served by a replica
        ClusterNodePtr ask;       // set after ASK: the next attempt goes there, with ASKING
        int redirects = 0;
        std::optional<Reply> reply;
    };

    // Where an input command went: one job, or several parts to merge.
    struct Input {
        std::size_t first_job = 0;
        std::optional<std::vector<SplitPart>> parts;
    };

    // Where a job goes; no node when its slot is unserved.
    struct Target {
        ClusterNodePtr node;
        bool replica = false;
        friend bool operator==(const Target& a, const Target& b) noexcept {
            return a.node == b.node && a.replica == b.replica;
        }
    };

    // The jobs of one round sent to one target, in one pipeline.
    struct Group {
        Target target;
        std::vector<std::size_t> jobs;
    };

    // What one round leaves for the next.
    struct Round {
        std::vector<std::size_t> next;     // sent again at once (redirected, or to the master)
        std::vector<std::size_t> waiting;  // after a backoff: TRYAGAIN, CLUSTERDOWN, unserved slot
        std::optional<int> unserved;       // a slot no known node serves
        bool reload = false;               // the slot map is out of date
    };

    Target route(const SlotMap* map, const Job& job) {
        if (job.ask) return {job.ask, false};
        if (map == nullptr) return {};
        const auto m = map->owner_of(job.slot);
        if (!m) return {};
        if (job.replica_ok && !map->replicas[*m].empty()) {
            const auto& list = map->replicas[*m];
            return {list[next_replica_.fetch_add(1, std::memory_order_relaxed) % list.size()], true};
        }
        return {map->masters[*m], false};
    }

    void run_jobs(std::vector<Job>& jobs, const std::vector<const Script*>& scripts) {
        const auto deadline = Clock::now() + retry_timeout_;
        auto backoff = std::chrono::duration_cast<Clock::duration>(options_.retry_initial);
        const auto backoff_max = std::chrono::duration_cast<Clock::duration>(options_.retry_max);

        std::vector<std::size_t> pending(jobs.size());
        for (std::size_t i = 0; i < jobs.size(); ++i) pending[i] = i;

        while (!pending.empty()) {
            auto map = topology_.snapshot();
            if (!map) {
                topology_.refresh(Refresh::if_due);
                map = topology_.snapshot();
            }
            Round round;
            auto by_target =
                group_positions(pending.size(), [&](std::size_t p) { return route(map.get(), jobs[pending[p]]); });
            for (auto& targeted : by_target) {
                Group group{std::move(targeted.key), {}};
                for (std::size_t p : targeted.positions) group.jobs.push_back(pending[p]);
                if (!group.target.node) {
                    for (std::size_t j : group.jobs) {
                        round.unserved = jobs[j].slot;
                        round.waiting.push_back(j);
                    }
                    continue;
                }
                send_group(group, jobs, scripts, round);
            }

            if (round.reload) topology_.refresh(Refresh::if_due);
            if (!round.waiting.empty()) {
                if (Clock::now() + backoff > deadline) {
                    for (std::size_t j : round.waiting) {
                        if (!jobs[j].reply) {
                            throw IoError(topology_.no_owner_message(round.unserved.value_or(jobs[j].slot)));
                        }
                    }
                } else {
                    if (round.unserved) topology_.refresh(Refresh::if_due);
                    std::this_thread::sleep_for(backoff);
                    backoff = std::min(backoff * 2, backoff_max);
                    for (std::size_t j : round.waiting) {
                        jobs[j].reply.reset();
                        round.next.push_back(j);
                    }
                }
            }
            pending = std::move(round.next);
        }
    }

    // Sends one group and sorts its replies into `round`. An I/O error after
    // sending propagates: the commands may have run.
    void send_group(const Group& group, std::vector<Job>& jobs, const std::vector<const Script*>& scripts,
                    Round& round) {
        std::optional<ConnectionPool::Lease> lease;
        try {
            lease.emplace(topology_.acquire(*group.target.node));
        } catch (const PoolTimeout&) {
            throw;
        } catch (const IoError&) {
            if (!reroute_unsent(group, jobs, round)) throw;
            return;
        }

        std::vector<Reply> replies;
        try {
            replies = run_group(**lease, group, jobs, scripts);
        } catch (const IoError&) {
            // Possibly executed: not retried. Reload the map for later calls.
            lease->discard();
            topology_.refresh(Refresh::if_due);
            throw;
        }
        if (group.target.replica) counters_.replica_reads.fetch_add(group.jobs.size(), std::memory_order_relaxed);
        for (std::size_t k = 0; k < group.jobs.size(); ++k) sort_reply(group, k, jobs, std::move(replies[k]), round);
    }

    // The group's node refused the connection, so nothing was sent. A
    // replica falls back to its master; a master that went away may have
    // been replaced. False when no job has somewhere else to go.
    bool reroute_unsent(const Group& group, std::vector<Job>& jobs, Round& round) {
        if (group.target.replica) {
            for (std::size_t j : group.jobs) {
                jobs[j].replica_ok = false;
                round.next.push_back(j);
            }
            return true;
        }
        topology_.refresh(Refresh::if_due);
        const auto fresh = topology_.snapshot();
        bool moved_away = true;
        for (std::size_t j : group.jobs) {
            const ClusterNodePtr now_serving = fresh ? fresh->master_of(jobs[j].slot) : nullptr;
            moved_away = moved_away && ++jobs[j].redirects <= options_.max_redirects && now_serving != nullptr &&
                         now_serving != group.target.node;
        }
        if (!moved_away) return false;
        for (std::size_t j : group.jobs) {
            jobs[j].ask = nullptr;
            round.next.push_back(j);
        }
        return true;
    }

    // The k-th reply of `group`: a result, or a redirection / retry to plan.
    void sort_reply(const Group& group, std::size_t k, std::vector<Job>& jobs, Reply reply, Round& round) {
        const std::size_t j = group.jobs[k];
        Job& job = jobs[j];
        if (!reply.is_error()) {
            job.reply = std::move(reply);
            return;
        }
        const std::string_view code = ReplyError::code_of(reply.error_message());
        if (code == "MOVED" || code == "ASK") {
            const auto redirection = ReplyError::parse_redirection(reply.error_message());
            if (!redirection || ++job.redirects > options_.max_redirects) {
                job.reply = std::move(reply);
                return;
            }
            ClusterNodePtr target = topology_.node_at(NodeAddress{redirection->host, redirection->port});
            if (redirection->kind == Redirection::Kind::moved) {
                counters_.moved.fetch_add(1, std::memory_order_relaxed);
                topology_.patch(redirection->slot, target);
                job.ask = nullptr;
                round.reload = true;
            } else {
                counters_.ask.fetch_add(1, std::memory_order_relaxed);
                job.ask = std::move(target);
            }
            round.next.push_back(j);
        } else if (code == "TRYAGAIN" || code == "CLUSTERDOWN") {
            (code == "TRYAGAIN" ? counters_.tryagain : counters_.clusterdown).fetch_add(1, std::memory_order_relaxed);
            if (code == "CLUSTERDOWN") round.reload = true;
            job.ask = nullptr;
            job.reply = std::move(reply);  // the result if time runs out
            round.waiting.push_back(j);
        } else if (group.target.replica && (code == "LOADING" || code == "MASTERDOWN")) {
            job.replica_ok = false;
            round.next.push_back(j);
        } else {
            job.reply = std::move(reply);
        }
    }

    // One pipeline to one node: [READONLY] then each job's command, preceded
    // by ASKING after an ASK. Calls that come back NOSCRIPT are re-sent after
    // loading their script on this node (one more round trip). Returns one
    // reply per job of the group.
    std::vector<Reply> run_group(Connection& connection, const Group& group, const std::vector<Job>& jobs,
                                 const std::vector<const Script*>& scripts) {
        // SCRIPT LOAD replies of `loads`, then one reply per job of `which`.
        auto send = [&](const std::vector<const Script*>& loads, const std::vector<std::size_t>& which) {
            Pipeline p(connection);
            if (group.target.replica) p.add({"READONLY"});
            for (const Script* s : loads) p.add(s->load_command());
            for (std::size_t k : which) {
                const Job& job = jobs[group.jobs[k]];
                if (job.ask) p.add({"ASKING"});
                p.add(*job.command);
            }
            std::vector<Reply> raw = p.execute();
            std::vector<Reply> out;
            out.reserve(loads.size() + which.size());
            std::size_t at = group.target.replica ? 1 : 0;
            for (std::size_t l = 0; l < loads.size(); ++l) out.push_back(std::move(raw[at++]));
            for (std::size_t k : which) {
                if (jobs[group.jobs[k]].ask) ++at;
                out.push_back(std::move(raw[at++]));
            }
            return out;
        };

        std::vector<std::size_t> all(group.jobs.size());
        for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
        std::vector<Reply> replies = send({}, all);
        recover_noscript(
            replies, [&](std::size_t k) -> const Command& { return *jobs[group.jobs[k]].command; }, scripts, send);
        return replies;
    }

    const ClusterOptions& options_;
    ClusterTopology& topology_;
    ClusterCounters& counters_;
    const Clock::duration retry_timeout_;
    std::atomic<std::size_t> next_replica_{0};
};

}  // namespace dogpile::redis::details
