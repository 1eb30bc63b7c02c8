#pragma once
// memoize(region, "name", fn[, options]): fn cached on its arguments,
// dogpile.cache's cache_on_arguments. The key generator turns the name (and
// the options' key_namespace) and the arguments into the key; by default
// ReprKeyGenerator: "users|42 'en'" (memoize_keys.hpp). Options per function:
// MemoizeOptions (memoize_options.hpp). Batches: memoize_multi.hpp.
//
// Thread safety: a Memoized may be called (every member) from any number of
// threads at once, as its region may; fn and the key generator are then called
// concurrently. Copies share the function and the region.

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "details/memoized_base.hpp"
#include "memoize_keys.hpp"
#include "memoize_options.hpp"
#include "region.hpp"

namespace dogpile {

namespace details {

// One argument as a regeneration that runs after the call needs it. C strings
// and string views, which are keyed as strings, keep their characters; a char
// buffer is copied whole instead of decaying to a pointer into the caller's
// frame. Other pointers and views are copied as they are: whatever they point
// to must outlive the regeneration.
template <class T>
class OwnedArgument {
public:
    explicit OwnedArgument(const T& value) : value_(value) {}
    const T& get() const noexcept { return value_; }

private:
    T value_;
};

template <class T, std::size_t N>
class OwnedArgument<T[N]> {
public:
    explicit OwnedArgument(const T (&value)[N]) { std::copy(std::begin(value), std::end(value), value_); }
    const T (&get() const noexcept)[N] { return value_; }

private:
    T value_[N];
};

template <class CharPointer>
class OwnedCString {
public:
    explicit OwnedCString(CharPointer text) {
        if (text != nullptr) text_ = text;
    }
    CharPointer get() const noexcept { return text_ ? text_->data() : nullptr; }

private:
    mutable std::optional<std::string> text_;  // mutable: a char* parameter gets a writable copy, as the caller's was
};

template <>
class OwnedArgument<const char*> : public OwnedCString<const char*> {
    using OwnedCString::OwnedCString;
};

template <>
class OwnedArgument<char*> : public OwnedCString<char*> {
    using OwnedCString::OwnedCString;
};

template <class Char, class Traits>
class OwnedArgument<std::basic_string_view<Char, Traits>> {
public:
    explicit OwnedArgument(std::basic_string_view<Char, Traits> value) : text_(value) {}
    std::basic_string_view<Char, Traits> get() const noexcept { return text_; }

private:
    std::basic_string<Char, Traits> text_;
};

// The creator memoize hands the region for one call. On the caller's thread it
// borrows the function and the arguments, so a hit or an inline creation copies
// nothing. The region copies a creator only to give the regeneration to its
// async_creation_runner, which may run it after the caller's arguments, and the
// Memoized itself, are gone: a copy owns copies of the arguments and a share of
// the function.
template <class Value, class Fn, class... Args>
class DetachableCall {
public:
    DetachableCall(const std::shared_ptr<const Fn>& fn, const Args&... args)
        : borrowed_fn_(&fn), borrowed_args_(std::in_place, args...) {}

    // No move constructor on purpose: a move copies, so no code path can move a
    // creator that borrows into a task that outlives the call.
    DetachableCall(const DetachableCall& other)
        : owned_fn_(other.owned_fn_ ? other.owned_fn_ : *other.borrowed_fn_),
          owned_args_(other.owned_args_ ? other.owned_args_ : std::apply(&copy_arguments, *other.borrowed_args_)) {}

    DetachableCall& operator=(const DetachableCall&) = delete;

    Value operator()() const {
        if (owned_args_) {
            return std::apply([this](const OwnedArgument<Args>&... args) { return Value((*owned_fn_)(args.get()...)); },
                              *owned_args_);
        }
        return std::apply([this](const Args&... args) { return Value((**borrowed_fn_)(args...)); }, *borrowed_args_);
    }

private:
    using OwnedArguments = std::tuple<OwnedArgument<Args>...>;

    static std::shared_ptr<const OwnedArguments> copy_arguments(const Args&... args) {
        return std::make_shared<OwnedArguments>(args...);
    }

    const std::shared_ptr<const Fn>* borrowed_fn_ = nullptr;
    std::optional<std::tuple<const Args&...>> borrowed_args_;
    // Shared between the copies a runner may make of its task.
    std::shared_ptr<const Fn> owned_fn_;
    std::shared_ptr<const OwnedArguments> owned_args_;
};

// For arguments that cannot be copied: a creator that cannot be copied either,
// which the region then runs on the caller's thread, never handing it off.
template <class Value, class Fn, class... Args>
class InlineCall {
public:
    InlineCall(const Fn& fn, const Args&... args) : fn_(fn), args_(args...) {}
    InlineCall(const InlineCall&) = delete;
    InlineCall& operator=(const InlineCall&) = delete;

    Value operator()() const {
        return std::apply([this](const Args&... args) { return Value(fn_(args...)); }, args_);
    }

private:
    const Fn& fn_;
    std::tuple<const Args&...> args_;
};

}  // namespace details

/// A function cached on its arguments (dogpile.cache's cache_on_arguments), made by memoize().
/// Every member may be called from any number of threads at once; fn and the key generator are then
/// called concurrently. Copies share the function and the region.
template <class Value, class Fn, class KeyGenerator = ReprKeyGenerator, class RegionType = Region<Value>>
class Memoized : public details::MemoizedBase<RegionType, KeyGenerator> {
    using Base = details::MemoizedBase<RegionType, KeyGenerator>;
    static_assert(std::is_same_v<Value, typename RegionType::value_type>,
                  "Memoized: Value must be the region's value type");

public:
    /// Holds the wrapped function, callable as `original(args...)`.
    using Original = details::SharedFunction<Fn>;
    using typename Base::options_type;
    using Base::key;
    using Base::region;

    /// As before MemoizeOptions: the region borrowed, the name as the key prefix.
    Memoized(RegionType& region, std::string name, Fn fn, KeyGenerator key_generator = KeyGenerator{})
        : Memoized(details::hold_region(region), std::move(name), std::move(fn),
                   details::as_memoize_options<Value>(std::move(key_generator))) {}

    /// Caches `fn` in `region` (shared) under the key prefix `name`.
    Memoized(std::shared_ptr<RegionType> region, std::string name, Fn fn, options_type options)
        : Base(details::hold_region(std::move(region)), std::move(name), std::move(options)), original(std::move(fn)) {}

    /// The cached result for `args`, computed by fn under the dogpile lock when missing or expired.
    template <class... Args>
    Value operator()(const Args&... args) const {
        return this->with_call_options([&](const GetOrCreateOptions<Value>& options) {
            // Arguments that cannot be copied cannot go to another thread: such a
            // call regenerates on the caller's thread even with an async runner.
            if constexpr ((std::is_copy_constructible_v<details::OwnedArgument<Args>> && ...)) {
                return region().get_or_create(
                    key(args...), details::DetachableCall<Value, Fn, Args...>(original.shared(), args...), options);
            } else {
                return region().get_or_create(
                    key(args...), details::InlineCall<Value, Fn, Args...>(original.get(), args...), options);
            }
        });
    }

    /// The cached value, if present and fresh (by this function's
    /// expiration_time); never calls the function.
    template <class... Args>
    std::optional<Value> get(const Args&... args) const {
        return region().get(key(args...), this->get_options());
    }

    /// Erases the cached result for `args`.
    template <class... Args>
    void invalidate(const Args&... args) const {
        region().erase(key(args...));
    }

    /// Calls the function now, without the dogpile lock, and returns its value;
    /// stores it unless should_cache refuses it.
    template <class... Args>
    Value refresh(const Args&... args) const {
        Value value = original(args...);
        if (this->should_cache(value)) region().set(key(args...), value);
        return value;
    }

    /// Stores `value` as the result for these arguments (should_cache is not asked).
    template <class... Args>
    void set(const Value& value, const Args&... args) const {
        region().set(key(args...), value);
    }

    /// The wrapped function, uncached (dogpile.cache's `original`).
    Original original;
};

/// memoize(region, name, fn[, options]): fn cached on its arguments.
/// \param region  `Region&` (borrowed: it must outlive the result), a Region rvalue
///                (held by value: pass a copy, e.g. `Region<V>(region)`; copies share
///                one state, so configure it first), or `std::shared_ptr<Region>`.
/// \param name    the key prefix (dogpile.cache's "module:fn").
/// \param fn      the function whose results are cached.
/// \param options `MemoizeOptions<Value, KeyGenerator>`, or just a key generator: a
///                callable `key_generator(std::string_view prefix, const Args&...)`
///                returning the region's key type; a generic lambda will do.
template <class RegionHandle, class Fn, class Options = details::default_memoize_options_t<RegionHandle>>
auto memoize(RegionHandle&& region, std::string name, Fn&& fn, Options options = Options{}) {
    using Value = typename details::held_region_t<RegionHandle>::value_type;
    return details::make_memoized<Memoized>(details::hold_region(std::forward<RegionHandle>(region)), std::move(name),
                                            std::forward<Fn>(fn),
                                            details::as_memoize_options<Value>(std::move(options)));
}

}  // namespace dogpile
