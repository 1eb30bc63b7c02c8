#pragma once
// Definitions of lock_wakeups.hpp (details/linkage.hpp: inline when header-only).

#include <map>
#include <utility>

#include "../push_connection.hpp"
#include "lock_wakeups.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE std::shared_ptr<LockWakeups> LockWakeups::of(const std::shared_ptr<Client>& client,
                                                            const std::string& channel) {
    // A live entry keeps its client alive, so its address cannot be reused by another client.
    static std::mutex registry_mutex;
    static std::map<std::pair<const Client*, std::string>, std::weak_ptr<LockWakeups>> registry;
    std::lock_guard<std::mutex> lk(registry_mutex);
    for (auto it = registry.begin(); it != registry.end();) {
        it = it->second.expired() ? registry.erase(it) : std::next(it);
    }
    std::weak_ptr<LockWakeups>& slot = registry[{client.get(), channel}];
    std::shared_ptr<LockWakeups> wakeups = slot.lock();
    if (!wakeups) {
        wakeups = std::make_shared<LockWakeups>(client, channel);
        slot = wakeups;
    }
    return wakeups;
}

DOGPILE_INLINE LockWakeups::LockWakeups(std::shared_ptr<Client> client, std::string channel)
    : client_(std::move(client)), channel_(std::move(channel)) {}

DOGPILE_INLINE LockWakeups::~LockWakeups() {
    std::unique_ptr<PushThread> thread;
    {
        std::lock_guard<std::mutex> lk(mutex_);
        thread = std::move(thread_);
    }
    thread.reset();  // joins: the session uses the members
}

DOGPILE_INLINE LockWakeups::Waiter::Waiter(LockWakeups& wakeups, const std::string& key)
    : wakeups_(wakeups), key_(key), seen_(wakeups.enter(key)) {}

DOGPILE_INLINE LockWakeups::Waiter::~Waiter() { wakeups_.leave(key_); }

DOGPILE_INLINE bool LockWakeups::Waiter::sleep(std::chrono::microseconds pause) {
    std::unique_lock<std::mutex> lk(wakeups_.mutex_);
    const Waiting& waiting = wakeups_.waiting_.at(key_);  // entered: present until leave()
    const bool woken = wakeups_.changed_.wait_for(lk, pause, [&] { return waiting.releases != seen_; });
    seen_ = waiting.releases;
    if (woken) ++wakeups_.stats_.woken;
    return woken;
}

DOGPILE_INLINE std::uint64_t LockWakeups::enter(const std::string& key) {
    std::lock_guard<std::mutex> lk(mutex_);
    Waiting& waiting = waiting_[key];
    ++waiting.waiters;
    if (waiters_++ == 0) route_ = key;
    if (!thread_) {
        thread_ = std::make_unique<PushThread>(
            PushThread::Backoff{std::chrono::milliseconds(50), std::chrono::milliseconds(5000)},
            [this](PushThread& thread, bool& established) { serve(thread, established); },
            [this](bool established, std::optional<std::string_view> failure) { session_ended(established, failure); });
    } else if (idle_) {
        thread_->nudge();  // only an idle session: a failing one keeps its backoff
    }
    return waiting.releases;
}

DOGPILE_INLINE void LockWakeups::leave(const std::string& key) noexcept {
    std::lock_guard<std::mutex> lk(mutex_);
    const auto it = waiting_.find(key);
    if (it != waiting_.end() && --it->second.waiters == 0) waiting_.erase(it);
    --waiters_;
}

DOGPILE_INLINE void LockWakeups::serve(PushThread& thread, bool& established) {
    using Clock = std::chrono::steady_clock;
    std::string route;
    {
        std::unique_lock<std::mutex> lk(mutex_);
        idle_ = true;
        while (waiters_ == 0) {
            if (thread.stopping()) return;
            lk.unlock();
            thread.idle(std::chrono::seconds(1));
            lk.lock();
        }
        idle_ = false;
        route = route_;
    }
    PushConnection push(client_->connection_options(route));
    push.subscribe(channel_);
    established = true;
    {
        std::lock_guard<std::mutex> lk(mutex_);
        subscribed_ = true;
        ++stats_.sessions;
    }
    Clock::time_point last_waiter = Clock::now();
    while (!thread.stopping()) {
        while (std::optional<PushedMessage> pushed = push.next_buffered()) {
            if (pushed->kind() != PushedMessage::Kind::message || pushed->channel() != channel_) continue;
            const Reply key = pushed->payload();
            if (key.is_string()) released(key.view());
        }
        {
            std::lock_guard<std::mutex> lk(mutex_);
            if (waiters_ > 0) {
                last_waiter = Clock::now();
            } else if (Clock::now() - last_waiter >= linger) {
                return;  // the connection closes; the next waiter opens another
            }
        }
        thread.receive(push, std::chrono::milliseconds(250));
    }
}

DOGPILE_INLINE void LockWakeups::session_ended(bool /*established*/, std::optional<std::string_view> failure) noexcept {
    try {
        std::lock_guard<std::mutex> lk(mutex_);
        subscribed_ = false;
        if (failure) {
            ++stats_.failures;
            last_error_ = std::string(*failure);
        }
    } catch (...) {
        // Out of memory for the message: the counter still tells.
    }
}

DOGPILE_INLINE void LockWakeups::released(std::string_view key) {
    std::lock_guard<std::mutex> lk(mutex_);
    ++stats_.messages;
    const auto it = waiting_.find(std::string(key));
    if (it == waiting_.end()) return;
    ++it->second.releases;
    changed_.notify_all();
}

DOGPILE_INLINE bool LockWakeups::subscribed() const {
    std::lock_guard<std::mutex> lk(mutex_);
    return subscribed_;
}

DOGPILE_INLINE std::size_t LockWakeups::waiters() const {
    std::lock_guard<std::mutex> lk(mutex_);
    return waiters_;
}

DOGPILE_INLINE LockWakeupStats LockWakeups::stats() const {
    std::lock_guard<std::mutex> lk(mutex_);
    return stats_;
}

DOGPILE_INLINE std::string LockWakeups::last_error() const {
    std::lock_guard<std::mutex> lk(mutex_);
    return last_error_;
}

}  // namespace dogpile::redis::details
