#pragma once
// Definitions of push_thread.hpp (details/linkage.hpp: inline when header-only).

#include <algorithm>
#include <exception>
#include <utility>

#include "push_thread.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE PushThread::PushThread(Backoff backoff, Serve serve, Ended ended)
    : backoff_(backoff), serve_(std::move(serve)), ended_(std::move(ended)) {
    thread_ = std::thread([this] { run(); });
}

DOGPILE_INLINE void PushThread::stop() noexcept {
    stop_.store(true, std::memory_order_release);
    wake_.wake();
    if (thread_.joinable()) thread_.join();
}

DOGPILE_INLINE void PushThread::run() noexcept {
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

DOGPILE_INLINE void PushThread::ended(bool established, std::optional<std::string_view> failure) noexcept {
    try {
        if (ended_) ended_(established, failure);
    } catch (...) {
    }
}

}  // namespace dogpile::redis::details
