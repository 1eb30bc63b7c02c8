#pragma once
// Definitions of cluster_router.hpp (details/linkage.hpp: inline when header-only).

#include <algorithm>
#include <exception>
#include <functional>
#include <numeric>
#include <thread>

#include "../../details/call_budget.hpp"
#include "../errors.hpp"
#include "ascii.hpp"
#include "cluster_router.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE bool is_read_only_command(std::string_view name) noexcept {
    // Commands a replica serves after READONLY; anything else goes to the master.
    static constexpr std::string_view reads[] = {
        "GET",   "MGET",    "STRLEN",   "GETRANGE",  "EXISTS", "TTL",     "PTTL",    "TYPE",  "HGET",
        "HMGET", "HGETALL", "HKEYS",    "HVALS",     "HLEN",   "HEXISTS", "HSTRLEN", "HSCAN", "LRANGE",
        "LLEN",  "LINDEX",  "SMEMBERS", "SISMEMBER", "SCARD",  "ZRANGE",  "ZSCORE",  "ZCARD", "DUMP"};
    for (std::string_view r : reads) {
        if (iequals_ascii(name, r)) return true;
    }
    return false;
}

DOGPILE_INLINE ClusterRouter::Target ClusterRouter::route(const SlotMap* map, const Job& job) {
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

DOGPILE_INLINE void ClusterRouter::run_jobs(std::vector<Job>& jobs, const std::vector<const Script*>& scripts) {
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
        std::vector<Group> groups;
        groups.reserve(by_target.size());
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
            groups.push_back(std::move(group));
        }
        // Every caller leases its nodes' connections in the same order, so
        // two batches each holding one node's last connection never wait
        // for each other.
        std::sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) {
            return std::less<const ClusterNode*>()(a.target.node.get(), b.target.node.get());
        });
        run_groups(groups, jobs, scripts, round);

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

DOGPILE_INLINE void ClusterRouter::run_groups(const std::vector<Group>& groups, std::vector<Job>& jobs,
                                              const std::vector<const Script*>& scripts, Round& round) {
    // One group on its way: its connection and its pipeline, written but not
    // yet read. A Pipeline destroyed unread breaks its connection, so an
    // exception escaping from here never pools a connection out of step.
    struct InFlight {
        const Group* group = nullptr;
        std::optional<ConnectionPool::Lease> lease;
        std::optional<Pipeline> pipeline;
    };
    std::vector<InFlight> flights(groups.size());
    std::vector<std::size_t> all;
    auto every_job = [&all](const Group& group) -> const std::vector<std::size_t>& {
        all.resize(group.jobs.size());
        std::iota(all.begin(), all.end(), std::size_t{0});
        return all;
    };

    // Every connection first: a node that refuses one got nothing, so its
    // jobs can be rerouted (or the call fail) before any node ran anything.
    for (std::size_t g = 0; g < groups.size(); ++g) {
        // A node in two groups (read as a replica by a stale map, and as the
        // master a MOVED named): one lease per node and round, or a pool of
        // one connection would wait for itself. The second group goes next
        // round (groups are sorted by node).
        if (g > 0 && groups[g].target.node == groups[g - 1].target.node) {
            round.next.insert(round.next.end(), groups[g].jobs.begin(), groups[g].jobs.end());
            continue;
        }
        try {
            flights[g].lease.emplace(topology_.acquire(*groups[g].target.node));
        } catch (const PoolTimeout&) {
            throw;
        } catch (const IoError&) {
            if (!reroute_unsent(groups[g], jobs, round)) throw;
            continue;
        }
        flights[g].group = &groups[g];
    }

    // Every write, then every read, all within one command_timeout (or the
    // region call's budget, when inside one), as a single pipeline's would
    // be: nodes that all stall cost the caller one timeout, not one each.
    dogpile::details::CallBudget::Scope batch_budget(
        std::chrono::nanoseconds(options_.pool.connection.command_timeout));
    std::exception_ptr failure;
    auto fail = [&](InFlight& flight) {
        if (!failure) failure = std::current_exception();
        flight.pipeline.reset();
        flight.lease->discard();
        flight.group = nullptr;
        try {
            throw;
        } catch (const IoError&) {
            topology_.refresh(Refresh::if_due);  // for later calls: the node may have gone
        } catch (...) {
        }
    };
    for (InFlight& flight : flights) {
        if (flight.group == nullptr) continue;
        if (failure) {
            flight.group = nullptr;  // not written: the call fails anyway
            continue;
        }
        try {
            flight.pipeline.emplace(**flight.lease);
            queue_group(*flight.pipeline, *flight.group, jobs, {}, every_job(*flight.group));
            flight.pipeline->send();
        } catch (...) {
            fail(flight);
        }
    }
    for (InFlight& flight : flights) {
        if (flight.group == nullptr) continue;
        const Group& group = *flight.group;
        std::vector<Reply> replies;
        try {
            replies = unpack_group(flight.pipeline->execute(), group, jobs, 0, every_job(group));
            flight.pipeline.reset();
            if (!failure) recover_group_noscript(**flight.lease, group, jobs, scripts, replies);
        } catch (...) {
            fail(flight);
            continue;
        }
        if (failure) continue;
        if (group.target.replica) counters_.add<&ClusterStats::replica_reads>(group.jobs.size());
        for (std::size_t k = 0; k < group.jobs.size(); ++k) sort_reply(group, k, jobs, std::move(replies[k]), round);
    }
    if (failure) std::rethrow_exception(failure);
}

DOGPILE_INLINE bool ClusterRouter::reroute_unsent(const Group& group, std::vector<Job>& jobs, Round& round) {
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

DOGPILE_INLINE void ClusterRouter::sort_reply(const Group& group, std::size_t k, std::vector<Job>& jobs, Reply reply,
                                              Round& round) {
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
            counters_.add<&ClusterStats::moved>();
            topology_.patch(redirection->slot, target);
            job.ask = nullptr;
            round.reload = true;
        } else {
            counters_.add<&ClusterStats::ask>();
            job.ask = std::move(target);
        }
        round.next.push_back(j);
    } else if (code == "TRYAGAIN" || code == "CLUSTERDOWN") {
        if (code == "TRYAGAIN") {
            counters_.add<&ClusterStats::tryagain>();
        } else {
            counters_.add<&ClusterStats::clusterdown>();
        }
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

DOGPILE_INLINE void ClusterRouter::queue_group(Pipeline& pipeline, const Group& group, const std::vector<Job>& jobs,
                                               const std::vector<const Script*>& loads,
                                               const std::vector<std::size_t>& which) const {
    if (group.target.replica) pipeline.add({"READONLY"});
    for (const Script* s : loads) pipeline.add(s->load_command());
    for (std::size_t k : which) {
        const Job& job = jobs[group.jobs[k]];
        if (job.ask) pipeline.add({"ASKING"});
        pipeline.add(*job.command);
    }
}

DOGPILE_INLINE std::vector<Reply> ClusterRouter::unpack_group(std::vector<Reply> raw, const Group& group,
                                                              const std::vector<Job>& jobs, std::size_t loads,
                                                              const std::vector<std::size_t>& which) const {
    std::vector<Reply> out;
    out.reserve(loads + which.size());
    std::size_t at = group.target.replica ? 1 : 0;
    for (std::size_t l = 0; l < loads; ++l) out.push_back(std::move(raw[at++]));
    for (std::size_t k : which) {
        if (jobs[group.jobs[k]].ask) ++at;
        out.push_back(std::move(raw[at++]));
    }
    return out;
}

DOGPILE_INLINE void ClusterRouter::recover_group_noscript(Connection& connection, const Group& group,
                                                          const std::vector<Job>& jobs,
                                                          const std::vector<const Script*>& scripts,
                                                          std::vector<Reply>& replies) const {
    recover_noscript(
        replies, [&](std::size_t k) -> const Command& { return *jobs[group.jobs[k]].command; }, scripts,
        [&](const std::vector<const Script*>& loads, const std::vector<std::size_t>& which) {
            Pipeline p(connection);
            queue_group(p, group, jobs, loads, which);
            return unpack_group(p.execute(), group, jobs, loads.size(), which);
        });
}

}  // namespace dogpile::redis::details
