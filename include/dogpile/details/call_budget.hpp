#pragma once
// CallBudget: one time budget per region call, shared by every Redis round
// trip the call makes, so a frozen server costs one timeout per call rather
// than one per key or per step (docs/architecture.md, "Deadlines").
//
// A region call opens a CallBudget::Scope; the Redis transport asks
// remaining() before each wait (bounding it by the smaller of its own
// timeout and what is left) and charge()s the time it waited. A creator runs
// under CallBudget::Pause: its own time, and any cache calls it makes, are
// not the caller's. State is per thread; nothing here is shared.

#include <chrono>
#include <optional>

namespace dogpile::details {

class CallBudget {
public:
    using duration = std::chrono::nanoseconds;

private:
    struct State {
        bool active = false;
        std::optional<duration> remaining;
    };
    static State& state() noexcept {
        thread_local State s;
        return s;
    }

public:
    // Opens a budget on this thread, unless the thread is already inside one
    // (a region call made by another region call shares the outer budget).
    // Without an explicit budget the first round trip fixes it from its
    // connection's default (see remaining()).
    class Scope {
    public:
        explicit Scope(std::optional<duration> budget = std::nullopt) noexcept : opened_(!state().active) {
            if (opened_) state() = State{true, budget};
        }
        ~Scope() {
            if (opened_) state() = State{};
        }
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;

    private:
        bool opened_;
    };

    // Suspends the budget until destroyed (around a creator call).
    class Pause {
    public:
        Pause() noexcept : saved_(state()) { state() = State{}; }
        ~Pause() { state() = saved_; }
        Pause(const Pause&) = delete;
        Pause& operator=(const Pause&) = delete;

    private:
        State saved_;
    };

    // True inside a Scope (and not under a Pause).
    static bool active() noexcept { return state().active; }

    // What is left of the current call's budget; nullopt outside a call.
    // A scope opened without a budget takes `default_budget` here, on its
    // first round trip. Never negative.
    static std::optional<duration> remaining(duration default_budget) noexcept {
        State& s = state();
        if (!s.active) return std::nullopt;
        if (!s.remaining) s.remaining = default_budget;
        return *s.remaining;
    }

    // Charges time spent waiting on Redis to the current call (no-op outside one).
    static void charge(duration spent) noexcept {
        State& s = state();
        if (!s.active || !s.remaining) return;
        *s.remaining = spent >= *s.remaining ? duration::zero() : *s.remaining - spent;
    }
};

}  // namespace dogpile::details
