#pragma once
// PushThread: the background thread that keeps a push connection's session
// alive (the invalidation listener's, the sentinel watcher's). It runs one
// session after another until stopped, pausing between attempts: doubling
// from Backoff::min to max, back to min after a session that was
// established. Stopping interrupts any wait at once; a connect or handshake
// in progress finishes within its timeouts.

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string_view>
#include <thread>

#include "../../details/linkage.hpp"
#include "../push_connection.hpp"
#include "wake_pipe.hpp"

namespace dogpile::redis::details {

class PushThread {
public:
    struct Backoff {
        std::chrono::milliseconds min;
        std::chrono::milliseconds max;
    };
    // One session: connect, subscribe, set `established`, then handle
    // messages until stopping() (return) or the connection is lost (throw).
    using Serve = std::function<void(PushThread&, bool& established)>;
    // After every session, on the thread: whether it was established and,
    // when it threw, why. Must not throw.
    using Ended = std::function<void(bool established, std::optional<std::string_view> failure)>;

    // Starts the thread.
    PushThread(Backoff backoff, Serve serve, Ended ended);
    ~PushThread() { stop(); }
    PushThread(const PushThread&) = delete;
    PushThread& operator=(const PushThread&) = delete;

    // Returns once the thread has ended.
    void stop() noexcept;

    bool stopping() const noexcept { return stop_.load(std::memory_order_acquire); }

    // Waits up to `timeout` for `push` to receive something, or for stop().
    void receive(PushConnection& push, std::chrono::milliseconds timeout) { push.receive(timeout, wake_); }

    // Waits up to `timeout` for nudge() or stop(): a session that connects
    // only on demand (the lock wake-ups) waits here for the demand.
    void idle(std::chrono::milliseconds timeout) { wake_.wait(-1, timeout); }

    // Ends the current (or the next) wait early, without stopping.
    void nudge() noexcept { wake_.wake(); }

private:
    void run() noexcept;

    void ended(bool established, std::optional<std::string_view> failure) noexcept;

    const Backoff backoff_;
    const Serve serve_;
    const Ended ended_;
    std::atomic<bool> stop_{false};
    WakePipe wake_;
    std::thread thread_;  // last: started once everything else exists
};

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "push_thread-inl.hpp"
#endif
