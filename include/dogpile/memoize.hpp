#pragma once
// memoize(region, "namespace", fn): fn cached on its arguments, dogpile.cache's
// cache_on_arguments. A key generator (dogpile.cache's function_key_generator)
// turns the namespace and the arguments into the key; by default
// ReprKeyGenerator: "users|42 'en'".

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

#include "details/key_repr.hpp"
#include "region.hpp"

namespace dogpile {

namespace details {

// "<ns>|" then each argument, as `append` writes it, separated by spaces.
template <class Append, class... Args>
std::string space_joined(std::string_view ns, [[maybe_unused]] Append append, const Args&... args) {
    std::string key(ns);
    key += '|';
    [[maybe_unused]] std::size_t position = 0;
    ((key += (position++ == 0 ? "" : " "), append(key, args)), ...);
    return key;
}

}  // namespace details

// The default key: the namespace, '|', then every argument's repr-like text
// (see details/key_repr.hpp) joined by spaces: "users|42 'en'",
// "users|'x y' 1.5 None (1, 2) ['a', 'b']". Two different argument lists of the
// same types never share a key, whatever their strings hold, but for a type
// keyed through its operator<< that prints two values alike, and for
// std::optional<std::optional<T>>, whose two kinds of empty both read None.
// Equal values of different types may share one: 7 and std::optional<int>(7),
// 0.1f and 0.1, std::int8_t(97) and 97.
struct ReprKeyGenerator {
    template <class... Args>
    std::string operator()(std::string_view ns, const Args&... args) const {
        return details::space_joined(ns, [](std::string& out, const auto& arg) { details::append_repr(out, arg); },
                                     args...);
    }
};

// The keys memoize made before ReprKeyGenerator, byte for byte: arguments as
// raw text (numbers through std::to_string, bool as True/False) joined by
// spaces, "users|42 en". Ambiguous: f("a b", "c") and f("a", "b c") share a
// key, as do 0.1 and 0.1000001, and 'a' and 97. Only for caches that already
// hold keys in this format.
struct SpaceJoinedKeyGenerator {
    template <class... Args>
    std::string operator()(std::string_view ns, const Args&... args) const {
        return details::space_joined(ns, [](std::string& out, const auto& arg) { append_part(out, arg); }, args...);
    }

private:
    template <class T>
    static void append_part(std::string& out, const T& arg) {
        if constexpr (std::is_same_v<T, bool>) {
            out += arg ? "True" : "False";
        } else if constexpr (std::is_arithmetic_v<T>) {
            out += std::to_string(arg);
        } else if constexpr (std::is_array_v<T> && std::is_same_v<std::remove_cv_t<std::remove_extent_t<T>>, char>) {
            out += details::c_string_in(arg);  // as before, but never read past a buffer without a NUL
        } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
            out += std::string_view(arg);
        } else {
            std::ostringstream text;
            text << arg;
            out += text.str();
        }
    }
};

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

template <class Value, class Fn, class KeyGenerator = ReprKeyGenerator>
class Memoized {
public:
    // The undecorated function (dogpile.cache's .original), callable as fn was.
    // Copies of the Memoized, and regenerations it handed to an async runner,
    // share this one function object; it lives as long as the last of them.
    class Original {
    public:
        explicit Original(Fn fn) : fn_(std::make_shared<const Fn>(std::move(fn))) {}

        template <class... Args>
        decltype(auto) operator()(Args&&... args) const {
            return (*fn_)(std::forward<Args>(args)...);
        }

        const Fn& get() const noexcept { return *fn_; }

    private:
        friend class Memoized;
        std::shared_ptr<const Fn> fn_;
    };

    Memoized(Region<Value>& region, std::string ns, Fn fn, KeyGenerator key_generator = KeyGenerator{})
        : region_(&region),
          namespace_(std::move(ns)),
          key_generator_(std::move(key_generator)),
          original(std::move(fn)) {}

    template <class... Args>
    Value operator()(const Args&... args) const {
        // Arguments that cannot be copied cannot go to another thread: such a
        // call regenerates on the caller's thread even with an async runner.
        if constexpr ((std::is_copy_constructible_v<details::OwnedArgument<Args>> && ...)) {
            return region_->get_or_create(key(args...),
                                          details::DetachableCall<Value, Fn, Args...>(original.fn_, args...));
        } else {
            return region_->get_or_create(key(args...),
                                          details::InlineCall<Value, Fn, Args...>(*original.fn_, args...));
        }
    }

    // The cached value, if present and fresh; never calls the function.
    template <class... Args>
    std::optional<Value> get(const Args&... args) const {
        return region_->get(key(args...));
    }

    template <class... Args>
    void invalidate(const Args&... args) const {
        region_->erase(key(args...));
    }

    // Calls the function now, stores and returns its value.
    template <class... Args>
    Value refresh(const Args&... args) const {
        Value value = original(args...);
        region_->set(key(args...), value);
        return value;
    }

    template <class... Args>
    void set(const Value& value, const Args&... args) const {
        region_->set(key(args...), value);
    }

    template <class... Args>
    std::string key(const Args&... args) const {
        return key_generator_(std::string_view(namespace_), args...);
    }

private:
    Region<Value>* region_;
    std::string namespace_;
    KeyGenerator key_generator_;

public:
    Original original;
};

// The region must outlive the returned object. key_generator, when given, is
// called as key_generator(std::string_view ns, const Args&... args) and returns
// the key as a std::string; a generic lambda will do.
template <class Value, class Fn, class KeyGenerator = ReprKeyGenerator>
Memoized<Value, std::decay_t<Fn>, KeyGenerator> memoize(Region<Value>& region, std::string ns, Fn&& fn,
                                                        KeyGenerator key_generator = KeyGenerator{}) {
    return Memoized<Value, std::decay_t<Fn>, KeyGenerator>(region, std::move(ns), std::forward<Fn>(fn),
                                                           std::move(key_generator));
}

}  // namespace dogpile
