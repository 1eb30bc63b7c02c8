#pragma once
// Definitions of script.hpp (details/linkage.hpp: inline when header-only).

#include "script.hpp"

namespace dogpile::redis {

DOGPILE_INLINE void Script::check_loaded(const Reply& reply) const {
    reply.throw_if_error("redis SCRIPT LOAD");
    if (reply.view() != sha1_) {
        throw ProtocolError("redis SCRIPT LOAD returned " + reply.as_string() + ", expected " + sha1_);
    }
}

namespace details {

DOGPILE_INLINE bool is_noscript(const Reply& reply) {
    return reply.is_error() && ReplyError::code_of(reply.error_message()) == "NOSCRIPT";
}

}  // namespace details

DOGPILE_INLINE std::vector<Reply> pipeline_with_scripts(Connection& connection, const std::vector<Command>& commands,
                                                        const std::vector<const Script*>& scripts) {
    return details::pipeline_with_script_recovery(
        connection, commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i]; }, scripts);
}

DOGPILE_INLINE std::vector<Command> Script::evalsha_commands(const std::vector<ScriptCall>& calls) const {
    std::vector<Command> commands;
    commands.reserve(calls.size());
    for (const ScriptCall& call : calls) commands.push_back(evalsha_command(call));
    return commands;
}

DOGPILE_INLINE std::vector<Reply> Script::eval_pipelined(Connection& connection,
                                                         const std::vector<ScriptCall>& calls) const {
    return pipeline_with_scripts(connection, evalsha_commands(calls), {this});
}

// The common case is one plain command; only a NOSCRIPT reply pays for the
// recovery (SCRIPT LOAD and the call again, pipelined: one more round trip).
DOGPILE_INLINE Reply Script::eval_command(Connection& connection, const Command& cmd) const {
    try {
        return connection.command(cmd);
    } catch (const ReplyError& e) {
        if (!e.is_noscript()) throw ReplyError(e.message(), "redis EVALSHA " + sha1_.substr(0, 12));
    }
    std::vector<Reply> replies;
    {
        Pipeline p(connection);
        p.add(load_command());
        p.add(cmd);
        replies = p.execute();
    }
    // A script that does not compile: its load error says more than the call's NOSCRIPT.
    if (!replies[0].is_error()) check_loaded(replies[0]);
    Reply& result = replies[0].is_error() ? replies[0] : replies[1];
    result.throw_if_error("redis EVALSHA " + sha1_.substr(0, 12));
    return std::move(result);
}

}  // namespace dogpile::redis
