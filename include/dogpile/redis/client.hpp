#pragma once
/// \file
/// Client: how backends reach Redis. Every operation names the key it is
/// about (the "routing key"), so that a cluster client (CRC16 slot -> node,
/// MOVED/ASK handling, one pool per node) can implement the same interface and
/// replace SingleServerClient without touching the backends.
///
/// Contract for all implementations:
/// * command() / eval() throw ReplyError for an error reply; the batch
///   operations (pipeline, batch, eval_batch) return error replies in place, so
///   one failing entry does not hide the others' results.
/// * pipeline(routing_key, ...) runs commands that all touch keys of the
///   routing key's slot (e.g. several commands on one hash) in one round trip.
/// * batch() and eval_batch() take commands with different routing keys. The
///   single-server client sends them all in one round trip; a cluster client
///   groups them per node (one round trip per node) and returns the replies in
///   input order.
/// * A script call touching several keys must keep them in one slot (use a
///   hash tag) to stay routable; the routing key of a ScriptCall is its first
///   key.
/// * I/O errors and timeouts throw (IoError / TimeoutError); nothing is retried
///   automatically, because a write that timed out may still have happened.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../details/linkage.hpp"
#include "command.hpp"
#include "connection.hpp"
#include "options.hpp"
#include "pool.hpp"
#include "reply.hpp"
#include "script.hpp"

namespace dogpile::redis {

/// A command with the key that decides where it runs.
struct KeyedCommand {
    std::string key;  ///< routing key: the key whose slot decides the node
    Command command;  ///< the command to run there
};

/// How backends reach Redis: one server, a cluster or a Sentinel-managed master behind one
/// interface. Every operation names the key it is about (the routing key); the contract all
/// implementations keep is in client.hpp. Implementations are thread-safe.
class Client {
public:
    DOGPILE_INLINE virtual ~Client();

    /// Runs `cmd` on the server that serves `routing_key`, one round trip. Throws ReplyError for an
    /// error reply, IoError or TimeoutError when the server cannot be reached or does not answer
    /// in time (a command that may have run is never retried).
    virtual Reply command(std::string_view routing_key, const Command& cmd) = 0;

    /// Runs `commands`, which all touch keys of `routing_key`'s slot, in one round trip. Replies
    /// come back in order, error replies in place (not thrown).
    virtual std::vector<Reply> pipeline(std::string_view routing_key, const std::vector<Command>& commands) = 0;

    /// EVALSHA calls of `scripts` among the commands that come back NOSCRIPT
    /// are retried after loading the script (see script.hpp).
    virtual std::vector<Reply> batch(const std::vector<KeyedCommand>& commands,
                                     const std::vector<const Script*>& scripts) = 0;

    /// Runs `script` with EVALSHA (loading it on NOSCRIPT) on the server of the call's first key.
    /// Throws ReplyError for an error reply.
    virtual Reply eval(const Script& script, const ScriptCall& call) = 0;

    /// Runs `script` once per call, pipelined per server; replies in input order, error replies in
    /// place.
    virtual std::vector<Reply> eval_batch(const Script& script, const std::vector<ScriptCall>& calls) = 0;

    /// Exclusive use of the connection that serves `routing_key`, for what the
    /// operations above do not cover (WATCH/MULTI, SCAN loops). Do not keep
    /// the reference after `fn` returns, and hand it back as found: same
    /// database, no open MULTI, no queued Pipeline (that one is discarded).
    virtual void with_connection(std::string_view routing_key, const std::function<void(Connection&)>& fn) = 0;

    /// How to reach the server that serves `routing_key`, for a dedicated
    /// connection outside the pool (a subscriber for invalidation messages, a
    /// blocking command that needs a longer command_timeout).
    virtual ConnectionOptions connection_options(std::string_view routing_key) const = 0;

    /// Round trips made on behalf of callers (connection handshakes excluded).
    virtual std::uint64_t round_trips() const = 0;

    /// The circuit breakers of its pools as one (circuit_breaker.hpp,
    /// accumulate()). A client without breakers reports a closed one.
    virtual BreakerStats breaker_stats() const { return {}; }

    // Conveniences over the virtual operations.
    /// command() with the arguments given in place: `client.command(key, {"GET", key})`.
    Reply command(std::string_view routing_key, std::initializer_list<std::string_view> argv) {
        return command(routing_key, Command(argv));
    }
    /// batch() without scripts to recover from NOSCRIPT.
    std::vector<Reply> batch(const std::vector<KeyedCommand>& commands) { return batch(commands, {}); }
    /// eval() with the keys and arguments given in place: `client.eval(script, {key}, {"10"})`.
    template <class Keys = std::initializer_list<std::string_view>,
              class Args = std::initializer_list<std::string_view>>
    Reply eval(const Script& script, const Keys& keys, const Args& args) {
        ScriptCall call;
        for (const auto& k : keys) call.keys.emplace_back(std::string_view(k));
        for (const auto& a : args) call.args.emplace_back(std::string_view(a));
        return eval(script, call);
    }

    /// The routing key of a script call: its first key, or empty when it has none.
    static std::string_view routing_key_of(const ScriptCall& call) noexcept {
        return call.keys.empty() ? std::string_view{} : std::string_view(call.keys.front());
    }
};

/// One Redis server behind a ConnectionPool. Thread-safe.
class SingleServerClient final : public Client {
public:
    /// Makes its own pool. Throws ConfigurationError for invalid options; connects lazily.
    explicit SingleServerClient(PoolOptions options) : pool_(std::make_shared<ConnectionPool>(std::move(options))) {}
    /// Shares `pool` with its other users. Throws ConfigurationError when it is null.
    explicit SingleServerClient(std::shared_ptr<ConnectionPool> pool);

    /// The conveniences of Client, hidden otherwise by the overrides below.
    using Client::batch;
    using Client::command;
    using Client::eval;

    DOGPILE_INLINE Reply command(std::string_view /*routing_key*/, const Command& cmd) override;

    DOGPILE_INLINE std::vector<Reply> pipeline(std::string_view /*routing_key*/,
                                               const std::vector<Command>& commands) override;

    DOGPILE_INLINE std::vector<Reply> batch(const std::vector<KeyedCommand>& commands,
                                            const std::vector<const Script*>& scripts) override;

    DOGPILE_INLINE Reply eval(const Script& script, const ScriptCall& call) override;

    DOGPILE_INLINE std::vector<Reply> eval_batch(const Script& script, const std::vector<ScriptCall>& calls) override;

    DOGPILE_INLINE void with_connection(std::string_view /*routing_key*/,
                                        const std::function<void(Connection&)>& fn) override;

    DOGPILE_INLINE ConnectionOptions connection_options(std::string_view /*routing_key*/) const override;

    DOGPILE_INLINE std::uint64_t round_trips() const override;

    BreakerStats breaker_stats() const override { return pool_->breaker_stats(); }

    /// The pool behind it, for statistics and hooks.
    ConnectionPool& pool() noexcept { return *pool_; }
    /// The pool behind it, for statistics.
    const ConnectionPool& pool() const noexcept { return *pool_; }

private:
    std::shared_ptr<ConnectionPool> pool_;
};

/// A SingleServerClient with its own pool of `options`. Throws ConfigurationError for invalid
/// options.
std::shared_ptr<Client> make_client(PoolOptions options);

/// `url` (see options.hpp) sets what it says in pool.connection: the address,
/// and the user, password, db and query options it contains; the caller's
/// other connection settings (timeouts, on_connect, ...) are kept.
std::shared_ptr<Client> make_client(std::string_view url, PoolOptions pool = {});

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "client-inl.hpp"
#endif
