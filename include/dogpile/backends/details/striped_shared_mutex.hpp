#pragma once
// StripedSharedMutex: a reader-writer lock whose readers write only to their
// own thread's cache line. std::shared_mutex counts readers in one word, so
// two cores reading the same shard pass that line back and forth on every
// hit, and a two-thread hit path scaled ~1.3x instead of ~1.9x. Here a reader
// bumps its stripe's counter and checks the writer flag; a writer raises the
// flag and waits for every stripe to drain. Readers never wait for each other;
// writers are serialized by a mutex, on which readers that met a writer also
// block (no spinning while a writer holds the lock). The price: one cache
// line per stripe (1 KiB per lock) and a writer that reads every stripe.
//
// Meets the SharedMutex requirements (std::shared_lock, std::unique_lock).
// A thread must unlock_shared() what it lock_shared(): the stripe is the
// calling thread's.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

#include "../../details/thread_stripe.hpp"

namespace dogpile::details {

class StripedSharedMutex {
public:
    StripedSharedMutex() = default;
    StripedSharedMutex(const StripedSharedMutex&) = delete;
    StripedSharedMutex& operator=(const StripedSharedMutex&) = delete;

    void lock_shared() {
        Stripe& stripe = own_stripe();
        for (;;) {
            // seq_cst on both sides (here and in lock()): of a reader's
            // increment and a writer's flag, at least one sees the other.
            stripe.readers.fetch_add(1, std::memory_order_seq_cst);
            if (!writer_.load(std::memory_order_seq_cst)) return;
            stripe.readers.fetch_sub(1, std::memory_order_release);
            // A writer holds or awaits the lock: wait on its mutex, then retry.
            std::lock_guard<std::mutex> wait_for_writer(writers_);
        }
    }

    bool try_lock_shared() {
        Stripe& stripe = own_stripe();
        stripe.readers.fetch_add(1, std::memory_order_seq_cst);
        if (!writer_.load(std::memory_order_seq_cst)) return true;
        stripe.readers.fetch_sub(1, std::memory_order_release);
        return false;
    }

    void unlock_shared() { own_stripe().readers.fetch_sub(1, std::memory_order_release); }

    void lock() {
        writers_.lock();
        writer_.store(true, std::memory_order_seq_cst);
        for (const Stripe& stripe : stripes_) {
            // Readers hold the lock for a lookup and a copy: yield, do not sleep.
            while (stripe.readers.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
        }
    }

    bool try_lock() {
        if (!writers_.try_lock()) return false;
        writer_.store(true, std::memory_order_seq_cst);
        for (const Stripe& stripe : stripes_) {
            if (stripe.readers.load(std::memory_order_seq_cst) != 0) {
                writer_.store(false, std::memory_order_release);
                writers_.unlock();
                return false;
            }
        }
        return true;
    }

    void unlock() {
        writer_.store(false, std::memory_order_release);
        writers_.unlock();
    }

private:
    static constexpr std::size_t stripe_count = 16;

    struct alignas(64) Stripe {
        std::atomic<std::uint32_t> readers{0};
    };

    Stripe& own_stripe() noexcept { return stripes_[this_thread_stripe() % stripe_count]; }

    std::array<Stripe, stripe_count> stripes_{};
    alignas(64) std::atomic<bool> writer_{false};
    std::mutex writers_;
};

}  // namespace dogpile::details
