#pragma once
// PushThread: the background thread that keeps a push connection's session
// alive (the invalidation listener's, the sentinel watcher's). It runs one
// session after another until stopped, pausing between attempts: doubling
// from Backoff::min to max, back to min after a session that was
// established. Stopping interrupts any wait at once; a connect or handshake
// in progress finishes within its timeouts.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

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
    PushThread(Backoff backoff, Serve serve, Ended ended)
        : backoff_(backoff), serve_(std::move(serve)), ended_(std::move(ended)) {
        thread_ = std::thread([this] { run(); });
    }
    ~PushThread() { stop(); }
    PushThread(const PushThread&) = delete;
    PushThread& operator=(const PushThread&) = delete;

    // Returns once the thread has ended.
    void stop() noexcept {
        stop_.store(true, std::memory_order_release);
        wake_.wake();
        if (thread_.joinable()) thread_.join();
    }

    bool stopping() const noexcept { return stop_.load(std::memory_order_acquire); }

    // Waits up to `timeout` for `push` to receive something, or for stop().
    void receive(PushConnection& push, std::chrono::milliseconds timeout) { push.receive(timeout, wake_); }

private:
    void run() noexcept {
        auto pause = backoff_.min;
        while (!stopping()) {
            bool established = false;
            try {
                serve_(*this, established);
                ended(established, std::nullopt);
            } catch (const std::exception& e) {
                ended(established, e.what());
            } catch (...) {
                ended(established, "unknown error");
            }
            if (established) pause = backoff_.min;
            if (stopping()) break;
            try {
                wake_.wait(-1, pause);
            } catch (...) {
                // poll() on our own pipe does not fail in practice; the pause
                // is only a courtesy to the server, so carry on.
            }
            pause = std::min(pause * 2, backoff_.max);
        }
    }

    void ended(bool established, std::optional<std::string_view> failure) noexcept {
        try {
            if (ended_) ended_(established, failure);
        } catch (...) {
        }
    }

    const Backoff backoff_;
    const Serve serve_;
    const Ended ended_;
    std::atomic<bool> stop_{false};
    WakePipe wake_;
    std::thread thread_;  // last: started once everything else exists
};

}  // namespace dogpile::redis::details
