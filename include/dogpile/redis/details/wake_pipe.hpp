#pragma once
// WakePipe: a wait on a socket that another thread can interrupt at once (a
// poll() on the socket and on this pipe). PushThread stops through it.

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "../errors.hpp"

namespace dogpile::redis::details {

class WakePipe {
public:
    WakePipe() {
        if (::pipe(fds_) != 0) throw RedisError(std::string("redis: pipe() failed: ") + std::strerror(errno));
        for (int fd : fds_) {
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        }
    }
    ~WakePipe() {
        ::close(fds_[0]);
        ::close(fds_[1]);
    }
    WakePipe(const WakePipe&) = delete;
    WakePipe& operator=(const WakePipe&) = delete;

    // Ends the wait in progress, or the next one.
    void wake() noexcept {
        const char byte = 1;
        while (::write(fds_[1], &byte, 1) < 0 && errno == EINTR) {
        }
    }

    // Waits up to `timeout` for `fd` (when >= 0) to be readable or hung up,
    // or for wake(). True when `fd` is ready; false on timeout or wake-up.
    // Throws IoError when poll() fails.
    bool wait(int fd, std::chrono::milliseconds timeout) {
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

private:
    void drain() noexcept {
        char buffer[64];
        while (::read(fds_[0], buffer, sizeof buffer) > 0) {
        }
    }

    int fds_[2] = {-1, -1};
};

}  // namespace dogpile::redis::details
