#pragma once
// The plain transport of a Connection: connect_socket() opens a TCP
// connection (every address the name resolves to is tried in turn, each
// non-blocking and bounded by the deadline; TCP_NODELAY; keepalive per
// ConnectionOptions::tcp_keepalive) or a unix socket connection, and returns
// the connected descriptor; PlainStream reads and writes it. A TLS stream is
// put on top of the same descriptor instead (Connection::wrap_stream).
//
// wait_for_socket() is the one poll() every stream waits with. Errors name
// what failed, not where: the Connection adds the server and the command.
// A PlainStream is used by one thread at a time.

#include <netdb.h>
#include <poll.h>

#include <cstddef>
#include <string_view>

#include "../../details/linkage.hpp"
#include "../errors.hpp"
#include "../options.hpp"
#include "stream.hpp"

namespace dogpile::redis::details {

// Waits until `fd` is ready for `events` (POLLIN / POLLOUT) or `deadline`
// passes. Throws TimeoutError at the deadline; a hang-up or error counts as
// ready (the following read or write reports it). EINTR is retried.
void wait_for_socket(int fd, short events, Deadline deadline, std::string_view doing);

// A connected, non-blocking, close-on-exec socket, owned by the caller.
// Throws TimeoutError when the deadline passes first, IoError when no
// address accepts (naming the last address's error).
int connect_socket(const ConnectionOptions& options, Deadline deadline);

// The first of `addresses` (a getaddrinfo() list) that accepts before the
// deadline, tried in order: a connected non-blocking socket. Throws like
// connect_socket(), naming every address that failed.
int connect_any_address(const addrinfo* addresses, Deadline deadline);

class PlainStream final : public Stream {
public:
    // Takes ownership of a connected socket from connect_socket().
    explicit PlainStream(int fd) noexcept : fd_(fd) {}
    DOGPILE_INLINE ~PlainStream() override;

    DOGPILE_INLINE void write_all(std::string_view bytes, Deadline deadline) override;
    DOGPILE_INLINE std::size_t read_some(char* buffer, std::size_t capacity, Deadline deadline) override;
    bool has_buffered_input() const noexcept override { return false; }
    DOGPILE_INLINE bool usable_after_idle() noexcept override;
    int fd() const noexcept override { return fd_; }

private:
    int fd_;
};

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "socket_stream-inl.hpp"
#endif
