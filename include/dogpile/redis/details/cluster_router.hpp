#pragma once
// ClusterRouter: runs commands on a Redis Cluster, the engine under every
// ClusterClient operation (cluster.hpp states the policy users see). Per
// round: route each pending command by its slot (a multi-key command split
// per slot first), write one pipeline per node, all of them before reading
// any reply (so the nodes work at the same time), and sort the replies into
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
#include <utility>
#include <vector>

#include "../../details/linkage.hpp"
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

bool is_read_only_command(std::string_view name) noexcept;

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

    Target route(const SlotMap* map, const Job& job);

    void run_jobs(std::vector<Job>& jobs, const std::vector<const Script*>& scripts);

    // Runs the groups of one round and sorts their replies into `round`:
    // leases a connection per group, writes every group, then reads each
    // group's replies (docs/architecture.md, "Cluster batches"). A group
    // whose node refuses the connection is rerouted; an error after sending
    // (possibly executed: never retried) discards that group's connection
    // and propagates once every other group sent has been read, so no
    // connection goes back to its pool with replies unread.
    void run_groups(const std::vector<Group>& groups, std::vector<Job>& jobs, const std::vector<const Script*>& scripts,
                    Round& round);

    // The group's node refused the connection, so nothing was sent. A
    // replica falls back to its master; a master that went away may have
    // been replaced. False when no job has somewhere else to go.
    bool reroute_unsent(const Group& group, std::vector<Job>& jobs, Round& round);

    // The k-th reply of `group`: a result, or a redirection / retry to plan.
    void sort_reply(const Group& group, std::size_t k, std::vector<Job>& jobs, Reply reply, Round& round);

    // One pipeline to one node: [READONLY], SCRIPT LOAD of each of `loads`,
    // then the command of each job `which` (indices into group.jobs),
    // preceded by ASKING after an ASK.
    void queue_group(Pipeline& pipeline, const Group& group, const std::vector<Job>& jobs,
                     const std::vector<const Script*>& loads, const std::vector<std::size_t>& which) const;

    // The replies of a pipeline queue_group() built: the SCRIPT LOAD
    // replies, then one per job of `which` (READONLY and ASKING dropped).
    std::vector<Reply> unpack_group(std::vector<Reply> raw, const Group& group, const std::vector<Job>& jobs,
                                    std::size_t loads, const std::vector<std::size_t>& which) const;

    // Calls of `scripts` in `replies` (one per job of the group) that came
    // back NOSCRIPT are re-sent after loading their script on this node: one
    // more round trip, to this node only.
    void recover_group_noscript(Connection& connection, const Group& group, const std::vector<Job>& jobs,
                                const std::vector<const Script*>& scripts, std::vector<Reply>& replies) const;

    const ClusterOptions& options_;
    ClusterTopology& topology_;
    ClusterCounters& counters_;
    const Clock::duration retry_timeout_;
    std::atomic<std::size_t> next_replica_{0};
};

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "cluster_router-inl.hpp"
#endif
