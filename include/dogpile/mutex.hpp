#pragma once
// The per-key mutex a backend may supply to coordinate creators across
// processes (dogpile.cache's backend.get_mutex(key)). The in-process lock is
// always taken first, so only one thread per process ever contends here.

#include <chrono>
#include <optional>

namespace dogpile {

class Mutex {
public:
    virtual ~Mutex() = default;

    // Non-blocking attempt. True when this object now holds the lock.
    virtual bool try_lock() = 0;

    // Waits at most `timeout` (std::nullopt: no limit). Implementations must not
    // busy-spin. True when this object now holds the lock.
    virtual bool lock(std::optional<std::chrono::milliseconds> timeout) = 0;

    // Releases a lock this object holds. Must be callable from any thread (the
    // async creation runner releases on its own thread) and must never release
    // a lock that has meanwhile been taken by somebody else.
    virtual void unlock() = 0;
};

}  // namespace dogpile
