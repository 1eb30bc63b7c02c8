#pragma once
// Definitions of push_connection.hpp (details/linkage.hpp: inline when header-only).

#include <hiredis/hiredis.h>

#include "push_connection.hpp"

namespace dogpile::redis {

DOGPILE_INLINE PushedMessage::Kind PushedMessage::kind_of(const Reply& r) {
    if (!r.is_array() || r.size() == 0 || !r.at(0).is_string()) return Kind::other;
    const std::string_view word = r.at(0).view();
    if (word == "pong") return Kind::pong;
    if (word == "message" && r.size() >= 3 && r.at(1).is_string()) return Kind::message;
    return Kind::other;
}

DOGPILE_INLINE Reply PushConnection::command(const Command& cmd) {
    if (subscribed_) {
        throw ConfigurationError("redis push connection: command() after subscribe() (its reply would arrive "
                                 "among the messages: use send())");
    }
    return connection_.command(cmd);
}

DOGPILE_INLINE void PushConnection::subscribe(std::string_view channel) {
    const Reply confirmed = command(Command{"SUBSCRIBE", channel});
    if (!confirmed.is_array() || confirmed.size() < 2 || !confirmed.at(0).is_string() ||
        confirmed.at(0).view() != "subscribe") {
        throw ProtocolError("redis SUBSCRIBE " + std::string(channel) + ": unexpected confirmation");
    }
    subscribed_ = true;
}

DOGPILE_INLINE std::optional<PushedMessage> PushConnection::next_buffered() {
    redisContext* ctx = usable_context();
    void* raw = nullptr;
    if (redisGetReplyFromReader(ctx, &raw) != REDIS_OK) {
        throw ProtocolError(where() + ": protocol error: " + ctx->errstr);
    }
    if (raw == nullptr) return std::nullopt;
    return PushedMessage(Reply::adopt(static_cast<redisReply*>(raw)));
}

DOGPILE_INLINE void PushConnection::receive(std::chrono::milliseconds timeout, details::WakePipe& wake) {
    redisContext* ctx = usable_context();
    if (!wake.wait(ctx->fd, timeout)) return;
    if (redisBufferRead(ctx) != REDIS_OK) throw IoError(where() + ": connection lost: " + ctx->errstr);
}

DOGPILE_INLINE std::string PushConnection::where() const {
    return "redis push connection " + connection_.options().describe();
}

DOGPILE_INLINE redisContext* PushConnection::usable_context() {
    if (connection_.broken()) throw IoError(where() + ": the connection was lost earlier");
    return connection_.native_handle();
}

}  // namespace dogpile::redis
