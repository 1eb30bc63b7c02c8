#pragma once
/// \file
/// Script: a Lua script run with EVALSHA. Its SHA-1 is computed locally, so the
/// normal path is one EVALSHA round trip and the source is sent only when the
/// server answers NOSCRIPT (after a restart, a failover or SCRIPT FLUSH): the
/// script is then loaded and the call retried once, in one more round trip.
///
/// The same recovery works for pipelines: pipeline_with_scripts() sends a batch
/// in one round trip and, if some EVALSHA calls came back NOSCRIPT, loads those
/// scripts and re-runs exactly those calls in one more round trip. The re-run
/// calls execute after the rest of the batch, which is fine for a batch of
/// independent calls (a pipeline is not atomic anyway).

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../details/sha1.hpp"
#include "../details/linkage.hpp"
#include "command.hpp"
#include "connection.hpp"
#include "details/ascii.hpp"
#include "errors.hpp"
#include "reply.hpp"

namespace dogpile::redis {

/// One call of a script: its KEYS and ARGV.
struct ScriptCall {
    std::vector<std::string> keys;  ///< KEYS: with several keys, keep them in one slot (hash tag)
    std::vector<std::string> args;  ///< ARGV
};

/// A Lua script run with EVALSHA; its SHA-1 is computed locally, and the source is sent (SCRIPT
/// LOAD) only when the server answers NOSCRIPT. Immutable, so thread-safe.
class Script {
public:
    /// Computes the SHA-1 of `source`; talks to no server.
    explicit Script(std::string source) : source_(std::move(source)), sha1_(dogpile::details::sha1_hex(source_)) {}

    /// The Lua source.
    const std::string& source() const noexcept { return source_; }
    /// Lower-case hex, as SCRIPT LOAD returns it.
    const std::string& sha1() const noexcept { return sha1_; }

    /// `EVALSHA <sha1> <numkeys> keys... args...`; for queueing into a pipeline.
    /// Keys and args are any ranges of string-likes; braced lists work too:
    /// script.evalsha_command({key}, {field, payload}).
    template <class Keys = std::initializer_list<std::string_view>,
              class Args = std::initializer_list<std::string_view>>
    Command evalsha_command(const Keys& keys, const Args& args) const {
        Command c{"EVALSHA", sha1_};
        c.arg(static_cast<unsigned long long>(std::size(keys)));
        c.args(keys);
        c.args(args);
        return c;
    }
    /// evalsha_command() for a ScriptCall.
    Command evalsha_command(const ScriptCall& call) const { return evalsha_command(call.keys, call.args); }
    /// One EVALSHA per call, in order: what every client's eval_batch sends.
    std::vector<Command> evalsha_commands(const std::vector<ScriptCall>& calls) const;

    /// `SCRIPT LOAD source`, for queueing into a pipeline.
    Command load_command() const { return Command{"SCRIPT", "LOAD", source_}; }

    /// True when `cmd` is an EVALSHA (or EVALSHA_RO) of this script.
    bool is_call(const Command& cmd) const noexcept {
        if (cmd.size() < 2 || cmd[1] != sha1_) return false;
        return details::iequals_ascii(cmd[0], "EVALSHA") || details::iequals_ascii(cmd[0], "EVALSHA_RO");
    }

    /// SCRIPT LOAD, checking that the server names it by the same SHA-1.
    void load(Connection& connection) const { check_loaded(connection.command(load_command())); }

    /// Runs the script; loads it and retries once on NOSCRIPT. An error reply
    /// (a runtime error in the script, WRONGTYPE, ...) throws ReplyError.
    template <class Keys = std::initializer_list<std::string_view>,
              class Args = std::initializer_list<std::string_view>>
    Reply eval(Connection& connection, const Keys& keys, const Args& args) const {
        return eval_command(connection, evalsha_command(keys, args));
    }
    /// eval() for a ScriptCall.
    Reply eval(Connection& connection, const ScriptCall& call) const {
        return eval_command(connection, evalsha_command(call));
    }

    /// Many calls in one round trip (two if the script had to be loaded).
    /// Replies in order; error replies are returned, not thrown.
    std::vector<Reply> eval_pipelined(Connection& connection, const std::vector<ScriptCall>& calls) const;

    /// Throws ProtocolError unless `reply` is the SHA-1 of this script (the
    /// reply to SCRIPT LOAD); an error reply throws ReplyError.
    void check_loaded(const Reply& reply) const;

private:
    Reply eval_command(Connection& connection, const Command& cmd) const;

    std::string source_;
    std::string sha1_;
};

namespace details {

bool is_noscript(const Reply& reply);

// The NOSCRIPT recovery of every client (docs/architecture.md, "Where each
// mechanism lives"). `replies` answer get(0..n-1), sent once. The calls of
// `scripts` among them that came back NOSCRIPT are sent again by
// resend(loads, calls): one round trip with SCRIPT LOAD of each script in
// `loads`, then get(i) for each i in `calls`, returning those replies in that
// order. The retried calls' replies replace the NOSCRIPTs in `replies`.
template <class GetCommand, class Resend>
void recover_noscript(std::vector<Reply>& replies, GetCommand&& get, const std::vector<const Script*>& scripts,
                      Resend&& resend) {
    std::vector<std::size_t> calls;
    std::vector<const Script*> script_of_call;
    std::vector<const Script*> loads;
    for (std::size_t i = 0; i < replies.size(); ++i) {
        if (!is_noscript(replies[i])) continue;
        const Command& cmd = get(i);
        const auto it = std::find_if(scripts.begin(), scripts.end(),
                                     [&cmd](const Script* s) { return s != nullptr && s->is_call(cmd); });
        if (it == scripts.end()) continue;
        calls.push_back(i);
        script_of_call.push_back(*it);
        if (std::find(loads.begin(), loads.end(), *it) == loads.end()) loads.push_back(*it);
    }
    if (calls.empty()) return;

    std::vector<Reply> retried = resend(std::as_const(loads), std::as_const(calls));
    for (std::size_t k = 0; k < loads.size(); ++k) {
        // A script that does not compile: its calls get the compile error,
        // which says more than the NOSCRIPT that follows from it.
        if (!retried[k].is_error()) loads[k]->check_loaded(retried[k]);
    }
    for (std::size_t j = 0; j < calls.size(); ++j) {
        const std::size_t k =
            static_cast<std::size_t>(std::find(loads.begin(), loads.end(), script_of_call[j]) - loads.begin());
        replies[calls[j]] = retried[k].is_error() ? retried[k] : std::move(retried[loads.size() + j]);
    }
}

// Commands given by index, so that callers holding them in other structures
// need not copy them: one round trip, and one more when NOSCRIPT is recovered.
template <class GetCommand>
std::vector<Reply> pipeline_with_script_recovery(Connection& connection, std::size_t count, GetCommand&& get,
                                                 const std::vector<const Script*>& scripts) {
    std::vector<Reply> replies;
    {
        Pipeline p(connection);
        for (std::size_t i = 0; i < count; ++i) p.add(static_cast<const Command&>(get(i)));
        replies = p.execute();
    }
    recover_noscript(replies, get, scripts,
                     [&](const std::vector<const Script*>& loads, const std::vector<std::size_t>& calls) {
                         Pipeline p(connection);
                         for (const Script* s : loads) p.add(s->load_command());
                         for (std::size_t i : calls) p.add(static_cast<const Command&>(get(i)));
                         return p.execute();
                     });
    return replies;
}

}  // namespace details

/// Runs `commands` in one round trip; EVALSHA calls of any of `scripts` that
/// come back NOSCRIPT are retried after loading their script (one more round
/// trip). Replies in order; error replies are returned, not thrown.
std::vector<Reply> pipeline_with_scripts(Connection& connection, const std::vector<Command>& commands,
                                         const std::vector<const Script*>& scripts);

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "script-inl.hpp"
#endif
