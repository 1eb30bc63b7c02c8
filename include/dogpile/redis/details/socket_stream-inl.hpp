#pragma once
// Definitions of socket_stream.hpp (details/linkage.hpp: inline when header-only).

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "no_sigpipe.hpp"
#include "socket_stream.hpp"

namespace dogpile::redis::details {

// Closes the descriptor unless released: a failed connect leaks nothing.
class SocketGuard {
public:
    explicit SocketGuard(int fd) noexcept : fd_(fd) {}
    ~SocketGuard() {
        if (fd_ >= 0) ::close(fd_);
    }
    SocketGuard(const SocketGuard&) = delete;
    SocketGuard& operator=(const SocketGuard&) = delete;
    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_;
};

DOGPILE_INLINE void wait_for_socket(int fd, short events, Deadline deadline, std::string_view doing) {
    for (;;) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        const int ms = static_cast<int>(std::clamp<long long>(left.count(), 0, 1 << 30));
        pollfd p{fd, events, 0};
        const int r = ::poll(&p, 1, ms);
        if (r > 0) return;  // ready, hung up or failed: the next call says which
        if (r < 0 && errno != EINTR) {
            throw IoError(std::string(doing) + ": poll() failed: " + std::strerror(errno));
        }
        if (r == 0 && ms == 0) throw TimeoutError(std::string(doing) + " timed out");
    }
}

// A new non-blocking, close-on-exec stream socket that never raises SIGPIPE
// (no_sigpipe.hpp), or -1 with errno set. SOCK_NONBLOCK and SOCK_CLOEXEC set
// both atomically where they exist (Linux, the BSDs); macOS has neither, so
// there fcntl() sets them right after (a fork() in between could leak the
// descriptor into the child: the cost of that platform).
DOGPILE_INLINE int new_stream_socket(int family, int protocol) {
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
    const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0) return -1;
    bool ok = true;
#else
    const int fd = ::socket(family, SOCK_STREAM, protocol);
    if (fd < 0) return -1;
    const int status_flags = ::fcntl(fd, F_GETFL);
    bool ok = status_flags >= 0 && ::fcntl(fd, F_SETFL, status_flags | O_NONBLOCK) == 0 &&
              ::fcntl(fd, F_SETFD, FD_CLOEXEC) == 0;
#endif
#if !defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)
    const int on = 1;
    ok = ok && ::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof on) == 0;
#endif
    if (!ok) {
        const int error = errno;  // the caller reports the failed call's errno, not close()'s
        ::close(fd);
        errno = error;
        return -1;
    }
    return fd;
}

// Connects a new non-blocking socket to `address` before `deadline`: the
// socket, or -1 with `error` set (ETIMEDOUT when the deadline passed first).
DOGPILE_INLINE int connect_address(const sockaddr* address, socklen_t length, int family, int protocol,
                                   Deadline deadline, int& error) {
    SocketGuard fd(new_stream_socket(family, protocol));
    if (fd.get() < 0) {
        error = errno;
        return -1;
    }
    int r = ::connect(fd.get(), address, length);
    if (r < 0 && errno == EINTR) errno = EINPROGRESS;  // the connect goes on in the background
    if (r < 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            error = errno;
            return -1;
        }
        try {
            wait_for_socket(fd.get(), POLLOUT, deadline, "connect");
        } catch (const TimeoutError&) {
            error = ETIMEDOUT;
            return -1;
        }
        int so_error = 0;
        socklen_t size = sizeof so_error;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &size) != 0) so_error = errno;
        if (so_error != 0) {
            error = so_error;
            return -1;
        }
    }
    return fd.release();
}

DOGPILE_INLINE std::string numeric_address(const sockaddr* address, socklen_t length) {
    char host[NI_MAXHOST] = {};
    char port[NI_MAXSERV] = {};
    if (::getnameinfo(address, length, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        return "?";
    }
    return address->sa_family == AF_INET6 ? "[" + std::string(host) + "]:" + port : std::string(host) + ":" + port;
}

DOGPILE_INLINE std::string connect_failure(int error) {
    return error == ETIMEDOUT ? std::string("timed out") : std::string(std::strerror(error));
}

DOGPILE_INLINE int connect_unix_socket(const std::string& path, Deadline deadline) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) {
        throw IoError("unix socket path '" + path + "' is longer than " + std::to_string(sizeof address.sun_path - 1) +
                      " bytes");
    }
    std::memcpy(address.sun_path, path.data(), path.size());
    int error = 0;
    const int fd =
        connect_address(reinterpret_cast<const sockaddr*>(&address), sizeof address, AF_UNIX, 0, deadline, error);
    if (fd >= 0) return fd;
    if (error == ETIMEDOUT) throw TimeoutError("connect to " + path + " timed out");
    throw IoError(path + ": " + std::strerror(error));
}

DOGPILE_INLINE void enable_tcp_options(int fd, bool keepalive) {
    const int on = 1;
    // Commands are written whole: Nagle's algorithm would only delay them.
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (!keepalive) return;
    if (::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) != 0) {
        throw IoError(std::string("enabling TCP keepalive failed: ") + std::strerror(errno));
    }
#ifdef TCP_KEEPIDLE
    // hiredis' values: probes after 15 s idle, every 5 s, 3 of them.
    const int idle = 15;
    const int interval = 5;
    const int count = 3;
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
#endif
}

DOGPILE_INLINE int connect_tcp_socket(const ConnectionOptions& options, Deadline deadline) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(options.port);
    const int status = ::getaddrinfo(options.host.c_str(), port.c_str(), &hints, &found);
    if (status != 0) {
        const std::string why = status == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(status);
        throw IoError("cannot resolve '" + options.host + "': " + why);
    }
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, ::freeaddrinfo);
    const int fd = connect_any_address(found, deadline);
    SocketGuard guard(fd);
    enable_tcp_options(fd, options.tcp_keepalive);
    return guard.release();
}

DOGPILE_INLINE int connect_any_address(const addrinfo* addresses, Deadline deadline) {
    // Every address is tried, the deadline shared: a name whose first
    // address refuses (localhost's ::1 with a server bound to 127.0.0.1)
    // still connects.
    std::string failures;
    bool timed_out = false;
    for (const addrinfo* a = addresses; a != nullptr; a = a->ai_next) {
        int error = 0;
        const int fd = connect_address(a->ai_addr, a->ai_addrlen, a->ai_family, a->ai_protocol, deadline, error);
        if (fd >= 0) return fd;
        timed_out = timed_out || error == ETIMEDOUT;
        if (!failures.empty()) failures += ", ";
        failures += numeric_address(a->ai_addr, a->ai_addrlen) + " " + connect_failure(error);
        if (std::chrono::steady_clock::now() >= deadline) break;
    }
    if (timed_out) throw TimeoutError("connect timed out (" + failures + ")");
    throw IoError(failures.empty() ? std::string("the name resolves to no address") : failures);
}

DOGPILE_INLINE int connect_socket(const ConnectionOptions& options, Deadline deadline) {
    if (!options.unix_socket.empty()) return connect_unix_socket(options.unix_socket, deadline);
    return connect_tcp_socket(options, deadline);
}

DOGPILE_INLINE PlainStream::~PlainStream() { ::close(fd_); }

DOGPILE_INLINE void PlainStream::write_all(std::string_view bytes, Deadline deadline) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), send_flags);
        if (n >= 0) {
            bytes.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) throw IoError(std::strerror(errno));
        wait_for_socket(fd_, POLLOUT, deadline, "write");
    }
}

DOGPILE_INLINE std::size_t PlainStream::read_some(char* buffer, std::size_t capacity, Deadline deadline) {
    for (;;) {
        const ssize_t n = ::recv(fd_, buffer, capacity, 0);
        if (n > 0) return static_cast<std::size_t>(n);
        if (n == 0) throw IoError("server closed the connection");
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) throw IoError(std::strerror(errno));
        wait_for_socket(fd_, POLLIN, deadline, "read");
    }
}

DOGPILE_INLINE bool PlainStream::usable_after_idle() noexcept {
    const int saved_errno = errno;
    char byte = 0;
    const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    const bool idle = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    errno = saved_errno;
    return idle;
}

}  // namespace dogpile::redis::details
