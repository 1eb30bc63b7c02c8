#pragma once
// SwitchWatcher: the +switch-master listener of a SentinelClient. One thread
// stays SUBSCRIBEd on one sentinel (moving to the next when it fails) and
// reports what may have moved the master: an announced switch, or a
// reconnect (a switch may have been missed meanwhile).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "../../details/linkage.hpp"
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
    SwitchWatcher(const SentinelOptions& options, std::function<void(SwitchNotice)> notice);

    // Stops the thread at once.
    ~SwitchWatcher() = default;
    SwitchWatcher(const SwitchWatcher&) = delete;
    SwitchWatcher& operator=(const SwitchWatcher&) = delete;

private:
    // Sentinels are quiet between failovers; stopping interrupts the wait.
    static constexpr std::chrono::milliseconds quiet_wait{5000};

    void serve(PushThread& thread, bool& established);

    const SentinelOptions& options_;
    const std::function<void(SwitchNotice)> notice_;
    std::size_t next_sentinel_ = 0;   // the watcher thread's
    bool subscribed_before_ = false;  // the watcher thread's
    PushThread thread_;               // last: started once everything else exists, stopped first
};

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "switch_watcher-inl.hpp"
#endif
