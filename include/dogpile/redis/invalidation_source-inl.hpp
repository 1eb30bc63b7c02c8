#pragma once
// Definitions of invalidation_source.hpp (details/linkage.hpp: inline when header-only).

#include "invalidation_source.hpp"

namespace dogpile::redis {

DOGPILE_INLINE bool InvalidationSource::wait_until_tracking(std::chrono::milliseconds timeout) const {
    return state_->wait(timeout, [](std::uint64_t s) { return s != 0; });
}

DOGPILE_INLINE bool InvalidationSource::wait_for_new_session(std::uint64_t previous,
                                                             std::chrono::milliseconds timeout) const {
    return state_->wait(timeout, [previous](std::uint64_t s) { return s != 0 && s != previous; });
}

DOGPILE_INLINE std::uint64_t InvalidationSource::begin_read() const noexcept {
    details::this_thread_read_proof() = details::ReadProof{};
    return state_->session();
}

DOGPILE_INLINE bool InvalidationSource::read_was_tracked(std::uint64_t session) const noexcept {
    if (session == 0 || state_->session() != session) return false;
    if (state_->options.mode == TrackingMode::broadcast) return true;
    const details::ReadProof& proof = details::this_thread_read_proof();
    return !proof.spoiled && proof.session == session;
}

DOGPILE_INLINE InvalidationSource::Subscription::Subscription(Subscription&& other) noexcept
    : state_(std::move(other.state_)), sink_(other.sink_) {
    other.sink_ = nullptr;
}

DOGPILE_INLINE InvalidationSource::Subscription& InvalidationSource::Subscription::operator=(
    Subscription&& other) noexcept {
    if (this != &other) {
        reset();
        state_ = std::move(other.state_);
        sink_ = other.sink_;
        other.sink_ = nullptr;
    }
    return *this;
}

DOGPILE_INLINE void InvalidationSource::Subscription::reset() noexcept {
    if (state_ && sink_ != nullptr) state_->remove_sink(sink_);
    state_.reset();
    sink_ = nullptr;
}

DOGPILE_INLINE InvalidationSource::Subscription InvalidationSource::subscribe(InvalidationSink& sink) {
    state_->add_sink(&sink);
    return Subscription(state_, &sink);
}

}  // namespace dogpile::redis
