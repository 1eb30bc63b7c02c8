#pragma once
// How an eviction policy (eviction.hpp) learns about read hits: this decides
// which lock of the shard a read takes.

#include <cstdint>

namespace dogpile::details {

enum class HitRecording : std::uint8_t {
    none,                  // hits are not recorded (an unbounded table never evicts)
    under_shared_lock,     // record_hit is thread-safe: readers keep the shared lock
    under_exclusive_lock,  // record_hit reorders: a read takes the exclusive lock
    // buffer_hit is thread-safe and only appends to a lossy buffer under the
    // shared lock; the policy replays it under the next exclusive lock.
    buffered,
};

}  // namespace dogpile::details
