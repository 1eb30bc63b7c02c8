#pragma once
// Writing to a socket whose peer has gone (a restarted Redis) raises SIGPIPE,
// whose default action kills the process. A library must not change the
// process-wide disposition, so for the duration of one socket operation the
// calling thread blocks SIGPIPE, and a SIGPIPE that the operation itself
// raised is consumed before the mask is restored. The write then just fails
// with EPIPE, which hiredis reports as an I/O error.

#include <signal.h>
#include <pthread.h>

#include <cerrno>
#include <ctime>

namespace dogpile::redis::details {

class SigpipeGuard {
public:
    SigpipeGuard() noexcept {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
        // A SIGPIPE pending from before is somebody else's: leave it. One can
        // only be pending if the thread already had SIGPIPE blocked.
        if (blocked_ && sigismember(&old_, SIGPIPE) == 1) {
            sigset_t pending;
            sigemptyset(&pending);
            already_pending_ = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
        }
    }

    ~SigpipeGuard() {
        if (!blocked_) return;
        const int saved_errno = errno;
        if (!already_pending_) {
            const timespec zero{0, 0};
            while (sigtimedwait(&pipe_, nullptr, &zero) == -1 && errno == EINTR) {
            }
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
        errno = saved_errno;
    }

    SigpipeGuard(const SigpipeGuard&) = delete;
    SigpipeGuard& operator=(const SigpipeGuard&) = delete;

private:
    sigset_t pipe_;
    sigset_t old_;
    bool already_pending_ = false;
    bool blocked_ = false;
};

}  // namespace dogpile::redis::details
