#pragma once
// A write to a peer that has gone must be an EPIPE error, never SIGPIPE: the
// library may not kill, or change the signal dispositions of, the program it
// runs in. Linux and the BSDs have send(MSG_NOSIGNAL); macOS has no
// MSG_NOSIGNAL but the socket option SO_NOSIGPIPE, which new_stream_socket()
// (socket_stream-inl.hpp) sets on every socket where MSG_NOSIGNAL is missing.
// Every send() on a dogpile socket (the plain stream, the TLS stream's BIO)
// passes send_flags.

#include <sys/socket.h>

#if !defined(MSG_NOSIGNAL) && !defined(SO_NOSIGPIPE)
#error "dogpile's Redis client needs send(MSG_NOSIGNAL) or the socket option SO_NOSIGPIPE (README: Platforms)"
#endif

namespace dogpile::redis::details {

#ifdef MSG_NOSIGNAL
inline constexpr int send_flags = MSG_NOSIGNAL;
#else
inline constexpr int send_flags = 0;  // the socket has SO_NOSIGPIPE instead
#endif

}  // namespace dogpile::redis::details
