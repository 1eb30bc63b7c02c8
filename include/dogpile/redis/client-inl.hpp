#pragma once
// Definitions of client.hpp (details/linkage.hpp: inline when header-only).

#include "client.hpp"

namespace dogpile::redis {

DOGPILE_INLINE Client::~Client() = default;

DOGPILE_INLINE SingleServerClient::SingleServerClient(std::shared_ptr<ConnectionPool> pool) : pool_(std::move(pool)) {
    if (!pool_) throw ConfigurationError("redis SingleServerClient: the pool is null");
}

DOGPILE_INLINE Reply SingleServerClient::command(std::string_view /*routing_key*/, const Command& cmd) {
    auto lease = pool_->acquire();
    return lease->command(cmd);
}

DOGPILE_INLINE std::vector<Reply> SingleServerClient::pipeline(std::string_view /*routing_key*/,
                                                               const std::vector<Command>& commands) {
    if (commands.empty()) return {};
    auto lease = pool_->acquire();
    return lease->pipeline(commands);
}

DOGPILE_INLINE std::vector<Reply> SingleServerClient::batch(const std::vector<KeyedCommand>& commands,
                                                            const std::vector<const Script*>& scripts) {
    if (commands.empty()) return {};
    auto lease = pool_->acquire();
    return details::pipeline_with_script_recovery(
        *lease, commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i].command; }, scripts);
}

DOGPILE_INLINE Reply SingleServerClient::eval(const Script& script, const ScriptCall& call) {
    auto lease = pool_->acquire();
    return script.eval(*lease, call);
}

DOGPILE_INLINE std::vector<Reply> SingleServerClient::eval_batch(const Script& script,
                                                                 const std::vector<ScriptCall>& calls) {
    if (calls.empty()) return {};
    auto lease = pool_->acquire();
    return script.eval_pipelined(*lease, calls);
}

DOGPILE_INLINE void SingleServerClient::with_connection(std::string_view /*routing_key*/,
                                                        const std::function<void(Connection&)>& fn) {
    auto lease = pool_->acquire();
    fn(*lease);
}

DOGPILE_INLINE ConnectionOptions SingleServerClient::connection_options(std::string_view /*routing_key*/) const {
    return pool_->options().connection;
}

DOGPILE_INLINE std::uint64_t SingleServerClient::round_trips() const { return pool_->round_trips(); }

DOGPILE_INLINE std::shared_ptr<Client> make_client(PoolOptions options) {
    return std::make_shared<SingleServerClient>(std::move(options));
}

DOGPILE_INLINE std::shared_ptr<Client> make_client(std::string_view url, PoolOptions pool) {
    pool.connection = ConnectionOptions::from_url(url, std::move(pool.connection));
    return make_client(std::move(pool));
}

}  // namespace dogpile::redis
