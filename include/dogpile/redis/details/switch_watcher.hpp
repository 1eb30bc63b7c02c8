#pragma once
// SwitchWatcher: the +switch-master listener of a SentinelClient. One thread
// stays SUBSCRIBEd on one sentinel (moving to the next when it fails) and
// reports what may have moved the master: an announced switch, or a
// reconnect (a switch may have been missed meanwhile).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "../push_connection.hpp"
#include "../sentinel_options.hpp"
#include "push_thread.hpp"

namespace dogpile::redis::details {

enum class SwitchNotice : std::uint8_t {
    announced,     // +switch-master named this master
    resubscribed,  // listening again after a lost connection
};

class SwitchWatcher {
public:
    // Starts the thread; `notice` runs on it. `options` outlives the watcher.
    SwitchWatcher(const SentinelOptions& options, std::function<void(SwitchNotice)> notice)
        : options_(options),
          notice_(std::move(notice)),
          thread_(PushThread::Backoff{std::chrono::milliseconds(50), std::chrono::milliseconds(1000)},
                  [this](PushThread& thread, bool& established) { serve(thread, established); },
                  // Configuration or auth problems also show up on the
                  // command path; the watcher only keeps trying.
                  PushThread::Ended{}) {}

    // Stops the thread at once.
    ~SwitchWatcher() = default;
    SwitchWatcher(const SwitchWatcher&) = delete;
    SwitchWatcher& operator=(const SwitchWatcher&) = delete;

private:
    // Sentinels are quiet between failovers; stopping interrupts the wait.
    static constexpr std::chrono::milliseconds quiet_wait{5000};

    void serve(PushThread& thread, bool& established) {
        const NodeAddress& sentinel = options_.sentinels[next_sentinel_++ % options_.sentinels.size()];
        PushConnection push(options_.sentinel_connection_to(sentinel));
        push.subscribe("+switch-master");
        established = true;
        if (subscribed_before_) notice_(SwitchNotice::resubscribed);
        subscribed_before_ = true;
        // Payload: "<name> <old ip> <old port> <new ip> <new port>".
        const std::string prefix = options_.master_name + " ";
        while (!thread.stopping()) {
            while (const std::optional<PushedMessage> pushed = push.next_buffered()) {
                if (pushed->kind() != PushedMessage::Kind::message) continue;
                const Reply payload = pushed->payload();
                if (payload.is_string() && payload.view().substr(0, prefix.size()) == prefix) {
                    notice_(SwitchNotice::announced);
                }
            }
            thread.receive(push, quiet_wait);
        }
    }

    const SentinelOptions& options_;
    const std::function<void(SwitchNotice)> notice_;
    std::size_t next_sentinel_ = 0;   // the watcher thread's
    bool subscribed_before_ = false;  // the watcher thread's
    PushThread thread_;               // last: started once everything else exists, stopped first
};

}  // namespace dogpile::redis::details
