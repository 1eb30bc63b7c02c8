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

DOGPILE_INLINE std::vector<Reply> Script::eval_pipelined(Connection& connection, const std::vector<ScriptCall>& calls) const {
    std::vector<Command> commands;
    commands.reserve(calls.size());
    for (const ScriptCall& call : calls) commands.push_back(evalsha_command(call));
    return pipeline_with_scripts(connection, commands, {this});
}

DOGPILE_INLINE Reply Script::eval_command(Connection& connection, const Command& cmd) const {
    std::vector<Reply> replies = details::pipeline_with_script_recovery(
        connection, 1, [&cmd](std::size_t) -> const Command& { return cmd; }, {this});
    replies.front().throw_if_error("redis EVALSHA " + sha1_.substr(0, 12));
    return std::move(replies.front());
}

}  // namespace dogpile::redis
