#pragma once
// WakePipe: a wait on a socket that another thread can interrupt at once (a
// poll() on the socket and on this pipe). PushThread stops through it.

#include <chrono>

#include "../../details/linkage.hpp"
#include "../errors.hpp"

namespace dogpile::redis::details {

class WakePipe {
public:
    WakePipe();
    ~WakePipe();
    WakePipe(const WakePipe&) = delete;
    WakePipe& operator=(const WakePipe&) = delete;

    // Ends the wait in progress, or the next one.
    void wake() noexcept;

    // Waits up to `timeout` for `fd` (when >= 0) to be readable or hung up,
    // or for wake(). True when `fd` is ready; false on timeout or wake-up.
    // Throws IoError when poll() fails.
    bool wait(int fd, std::chrono::milliseconds timeout);

private:
    void drain() noexcept;

    int fds_[2] = {-1, -1};
};

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "wake_pipe-inl.hpp"
#endif
