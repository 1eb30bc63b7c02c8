#pragma once
// Definitions of wake_pipe.hpp (details/linkage.hpp: inline when header-only).

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "wake_pipe.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE WakePipe::WakePipe() {
    if (::pipe(fds_) != 0) throw RedisError(std::string("redis: pipe() failed: ") + std::strerror(errno));
    for (int fd : fds_) {
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
}

DOGPILE_INLINE WakePipe::~WakePipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
}

DOGPILE_INLINE void WakePipe::wake() noexcept {
    const char byte = 1;
    while (::write(fds_[1], &byte, 1) < 0 && errno == EINTR) {
    }
}

DOGPILE_INLINE bool WakePipe::wait(int fd, std::chrono::milliseconds timeout) {
    pollfd fds[2];
    fds[0] = pollfd{fds_[0], POLLIN, 0};
    fds[1] = pollfd{fd, POLLIN, 0};
    const nfds_t n = fd >= 0 ? 2 : 1;
    const int ms = static_cast<int>(std::max<long long>(0, std::min<long long>(timeout.count(), 1 << 30)));
    int r = 0;
    do {
        r = ::poll(fds, n, ms);
    } while (r < 0 && errno == EINTR);
    if (r < 0) throw IoError(std::string("redis: poll() failed: ") + std::strerror(errno));
    if (fds[0].revents != 0) drain();
    return n == 2 && fds[1].revents != 0;
}

DOGPILE_INLINE void WakePipe::drain() noexcept {
    char buffer[64];
    while (::read(fds_[0], buffer, sizeof buffer) > 0) {
    }
}

}  // namespace dogpile::redis::details
