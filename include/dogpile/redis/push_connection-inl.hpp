#pragma once
// Definitions of push_connection.hpp (details/linkage.hpp: inline when header-only).

#include <utility>

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
    require_usable();
    std::optional<Reply> reply = connection_.next_buffered_reply();
    if (!reply) return std::nullopt;
    return PushedMessage(std::move(*reply));
}

DOGPILE_INLINE void PushConnection::receive(std::chrono::milliseconds timeout, details::WakePipe& wake) {
    require_usable();
    // Input the stream already holds (TLS) would not wake poll() on the socket.
    if (!connection_.has_buffered_input() && !wake.wait(connection_.fd(), timeout)) return;
    try {
        connection_.read_available();
    } catch (const TimeoutError&) {
        throw;
    } catch (const IoError& e) {
        throw IoError(where() + ": connection lost: " + e.what());
    }
}

DOGPILE_INLINE std::string PushConnection::where() const {
    return "redis push connection " + connection_.options().describe();
}

DOGPILE_INLINE void PushConnection::require_usable() const {
    if (connection_.broken()) throw IoError(where() + ": the connection was lost earlier");
}

}  // namespace dogpile::redis
