#pragma once
// Definitions of cluster_router.hpp (details/linkage.hpp: inline when header-only).

#include <algorithm>
#include <thread>

#include "../errors.hpp"
#include "ascii.hpp"
#include "cluster_router.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE bool is_read_only_command(std::string_view name) noexcept {
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

DOGPILE_INLINE void ClusterRouter::send_group(const Group& group, std::vector<Job>& jobs,
                                              const std::vector<const Script*>& scripts,
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
    if (group.target.replica) counters_.add<&ClusterStats::replica_reads>(group.jobs.size());
    for (std::size_t k = 0; k < group.jobs.size(); ++k) sort_reply(group, k, jobs, std::move(replies[k]), round);
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

DOGPILE_INLINE std::vector<Reply> ClusterRouter::run_group(Connection& connection, const Group& group,
                                                           const std::vector<Job>& jobs,
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

}  // namespace dogpile::redis::details
