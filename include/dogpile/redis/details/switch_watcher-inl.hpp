#pragma once
// Definitions of switch_watcher.hpp (details/linkage.hpp: inline when header-only).

#include <optional>
#include <string>
#include <utility>

#include "switch_watcher.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE SwitchWatcher::SwitchWatcher(const SentinelOptions& options, std::function<void(SwitchNotice)> notice)
    : options_(options),
      notice_(std::move(notice)),
      thread_(
          PushThread::Backoff{std::chrono::milliseconds(50), std::chrono::milliseconds(1000)},
          [this](PushThread& thread, bool& established) { serve(thread, established); },
          // Configuration or auth problems also show up on the
          // command path; the watcher only keeps trying.
          PushThread::Ended{}) {}

DOGPILE_INLINE void SwitchWatcher::serve(PushThread& thread, bool& established) {
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

}  // namespace dogpile::redis::details
