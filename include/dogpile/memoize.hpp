#pragma once
// memoize(region, "namespace", fn): fn cached on its arguments, dogpile.cache's
// cache_on_arguments. The key is the namespace, '|', then the arguments
// rendered to text and joined by spaces ("users|42 en"), as dogpile.cache's
// function_key_generator does.

#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "region.hpp"

namespace dogpile {

namespace details {

template <class T>
void append_key_part(std::string& out, const T& arg) {
    if constexpr (std::is_same_v<T, bool>) {
        out += arg ? "True" : "False";
    } else if constexpr (std::is_arithmetic_v<T>) {
        out += std::to_string(arg);
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
        out += std::string_view(arg);
    } else {
        std::ostringstream text;
        text << arg;
        out += text.str();
    }
}

}  // namespace details

template <class Value, class Fn>
class Memoized {
public:
    Memoized(Region<Value>& region, std::string ns, Fn fn)
        : region_(&region), namespace_(std::move(ns)), original(std::move(fn)) {}

    template <class... Args>
    Value operator()(const Args&... args) const {
        return region_->get_or_create(key(args...), [&] { return Value(original(args...)); });
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
        std::string out = namespace_;
        out += '|';
        bool first = true;
        auto append = [&](const auto& arg) {
            if (!first) out += ' ';
            first = false;
            details::append_key_part(out, arg);
        };
        (append(args), ...);
        return out;
    }

private:
    Region<Value>* region_;
    std::string namespace_;

public:
    Fn original;  // the undecorated function (dogpile.cache's .original)
};

// The region must outlive the returned object.
template <class Value, class Fn>
Memoized<Value, std::decay_t<Fn>> memoize(Region<Value>& region, std::string ns, Fn&& fn) {
    return Memoized<Value, std::decay_t<Fn>>(region, std::move(ns), std::forward<Fn>(fn));
}

}  // namespace dogpile
