#pragma once
// Definitions of sentinel.hpp (details/linkage.hpp: inline when header-only).

#include "sentinel.hpp"

namespace dogpile::redis {

DOGPILE_INLINE SentinelClient::SentinelClient(SentinelOptions options)
    : options_(validated(std::move(options))), discovery_(options_, counters_) {
    discover(Discover::now);
    if (options_.watch == MasterWatch::subscribe) {
        watcher_ = std::make_unique<details::SwitchWatcher>(options_, [this](details::SwitchNotice notice) {
            if (notice == details::SwitchNotice::announced) counters_.add(&SentinelStats::switch_notices);
            discover(Discover::now);
        });
    }
}

DOGPILE_INLINE SentinelClient::~SentinelClient() { watcher_.reset(); }

DOGPILE_INLINE Reply SentinelClient::command(std::string_view /*routing_key*/, const Command& cmd) {
    return run([&cmd](Connection& c) { return c.command(cmd); });
}

DOGPILE_INLINE std::vector<Reply> SentinelClient::pipeline(std::string_view /*routing_key*/,
                                                           const std::vector<Command>& commands) {
    if (commands.empty()) return {};
    return run_batch(commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i]; }, {});
}

DOGPILE_INLINE std::vector<Reply> SentinelClient::batch(const std::vector<KeyedCommand>& commands,
                                                        const std::vector<const Script*>& scripts) {
    if (commands.empty()) return {};
    return run_batch(
        commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i].command; }, scripts);
}

DOGPILE_INLINE Reply SentinelClient::eval(const Script& script, const ScriptCall& call) {
    return run([&](Connection& c) { return script.eval(c, call); });
}

DOGPILE_INLINE std::vector<Reply> SentinelClient::eval_batch(const Script& script,
                                                             const std::vector<ScriptCall>& calls) {
    if (calls.empty()) return {};
    const std::vector<Command> commands = script.evalsha_commands(calls);
    return run_batch(commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i]; }, {&script});
}

DOGPILE_INLINE void SentinelClient::with_connection(std::string_view /*routing_key*/,
                                                    const std::function<void(Connection&)>& fn) {
    run([&fn](Connection& c) {
        fn(c);
        return 0;
    });
}

DOGPILE_INLINE ConnectionOptions SentinelClient::connection_options(std::string_view /*routing_key*/) const {
    const auto master = current();
    if (!master) throw IoError(no_master_message());
    return master->pool->options().connection;
}

DOGPILE_INLINE std::uint64_t SentinelClient::round_trips() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::uint64_t total = 0;
    for (const auto& pool : pools_) total += pool->round_trips();
    return total;
}

DOGPILE_INLINE BreakerStats SentinelClient::breaker_stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    BreakerStats total;
    for (const auto& pool : pools_) accumulate(total, pool->breaker_stats());
    // Former masters' pools are no longer used: the state is the current one's.
    total.state = master_ ? master_->pool->breaker_stats().state : BreakerState::closed;
    return total;
}

DOGPILE_INLINE std::optional<NodeAddress> SentinelClient::master() const {
    const auto m = current();
    if (!m) return std::nullopt;
    return m->address;
}

DOGPILE_INLINE SentinelOptions SentinelClient::validated(SentinelOptions options) {
    options.validate();
    return options;
}

DOGPILE_INLINE std::shared_ptr<const SentinelClient::Master> SentinelClient::current() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return master_;
}

DOGPILE_INLINE std::shared_ptr<const SentinelClient::Master> SentinelClient::current_or_discover() {
    if (auto m = current()) return m;
    discover(Discover::if_due);
    if (auto m = current()) return m;
    throw IoError(no_master_message());
}

DOGPILE_INLINE std::string SentinelClient::no_master_message() const {
    const std::string error = discovery_.last_error();
    return "redis sentinel: no master known for '" + options_.master_name + "'" +
           (error.empty() ? std::string() : " (" + error + ")");
}

DOGPILE_INLINE bool SentinelClient::discover(Discover how) {
    return discovery_.discover(how, [this](const NodeAddress& master) { install(master); });
}

DOGPILE_INLINE void SentinelClient::install(const NodeAddress& address) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (master_ && master_->address == address) return;
    if (master_) counters_.add(&SentinelStats::master_changes);
    PoolOptions pool = options_.pool;
    pool.connection = address.apply_to(pool.connection);
    auto next = std::make_shared<Master>();
    next->address = address;
    next->pool = std::make_shared<ConnectionPool>(std::move(pool));
    pools_.push_back(next->pool);
    master_ = std::move(next);
}

DOGPILE_INLINE ConnectionPool::Lease SentinelClient::acquire(const Master& master) {
    ConnectionPool::Lease lease = master.pool->acquire();
    const std::uint64_t created = master.pool->connections_created();
    if (created != master.checked_created.load(std::memory_order_relaxed)) {
        if (!details::is_master(*lease)) {
            lease.discard();
            counters_.add(&SentinelStats::role_mismatches);
            throw NotMaster(master.address.to_string() + " is no longer a master");
        }
        master.checked_created.store(created, std::memory_order_relaxed);
    }
    return lease;
}

DOGPILE_INLINE bool SentinelClient::moved_from(const std::shared_ptr<const Master>& from, Discover how) {
    auto now = current();
    if (now && now != from) return true;
    discover(how);
    now = current();
    return now && now != from;
}

}  // namespace dogpile::redis
