#pragma once
// What memoize() and memoize_multi() share: how the region is held, the key
// (prefix and key generator) and the per-call options.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../errors.hpp"
#include "../memoize_options.hpp"
#include "../region.hpp"
#include "../region_options.hpp"

namespace dogpile::details {

template <class T>
struct is_memoize_options : std::false_type {};
template <class Value, class KeyGenerator>
struct is_memoize_options<MemoizeOptions<Value, KeyGenerator>> : std::true_type {};

// memoize's last argument: MemoizeOptions, or (as before they existed) a bare key generator.
template <class Value, class OptionsOrKeyGenerator>
auto as_memoize_options(OptionsOrKeyGenerator given) {
    if constexpr (is_memoize_options<OptionsOrKeyGenerator>::value) {
        return given;
    } else {
        return MemoizeOptions<Value, OptionsOrKeyGenerator>{{}, {}, {}, std::move(given)};
    }
}

template <class Options>
struct key_generator_of;
template <class Value, class KeyGenerator>
struct key_generator_of<MemoizeOptions<Value, KeyGenerator>> {
    using type = KeyGenerator;
};

// Memoized or MemoizedMulti for this region, function and options.
template <template <class, class, class, class> class Memoized, class RegionType, class Fn, class Options>
auto make_memoized(std::shared_ptr<RegionType> region, std::string name, Fn&& fn, Options options) {
    using Made = Memoized<typename RegionType::value_type, std::decay_t<Fn>, typename key_generator_of<Options>::type,
                          RegionType>;
    return Made(std::move(region), std::move(name), std::forward<Fn>(fn), std::move(options));
}

// The three ways to hand memoize a region, as one shared_ptr:
//   Region&                 borrowed: it must outlive the memoized object, but
//                           may be configured after it was made (as
//                           dogpile.cache's decorators allow);
//   Region&&                held by value (copies share one state: configure
//                           it first);
//   std::shared_ptr<Region> shared.
template <class Value, class Key, class Hash>
std::shared_ptr<Region<Value, Key, Hash>> hold_region(Region<Value, Key, Hash>& region) {
    return std::shared_ptr<Region<Value, Key, Hash>>(std::shared_ptr<Region<Value, Key, Hash>>(), &region);
}

template <class Value, class Key, class Hash>
std::shared_ptr<Region<Value, Key, Hash>> hold_region(Region<Value, Key, Hash>&& region) {
    return std::make_shared<Region<Value, Key, Hash>>(std::move(region));
}

template <class Value, class Key, class Hash>
std::shared_ptr<Region<Value, Key, Hash>> hold_region(std::shared_ptr<Region<Value, Key, Hash>> region) {
    if (!region) throw ConfigurationError("memoize: the region handle must not be null");
    return region;
}

template <class RegionHandle>
using held_region_t = typename decltype(hold_region(std::declval<RegionHandle>()))::element_type;

template <class RegionHandle>
using default_memoize_options_t = MemoizeOptions<typename held_region_t<RegionHandle>::value_type>;

// The undecorated function (dogpile.cache's .original), callable as fn was.
// Copies of a memoized object, and regenerations it handed to an async runner,
// share this one function object; it lives as long as the last of them.
template <class Fn>
class SharedFunction {
public:
    explicit SharedFunction(Fn fn) : fn_(std::make_shared<const Fn>(std::move(fn))) {}

    template <class... Args>
    decltype(auto) operator()(Args&&... args) const {
        return (*fn_)(std::forward<Args>(args)...);
    }

    const Fn& get() const noexcept { return *fn_; }
    const std::shared_ptr<const Fn>& shared() const noexcept { return fn_; }

private:
    std::shared_ptr<const Fn> fn_;
};

template <class RegionType, class KeyGenerator>
class MemoizedBase {
public:
    using region_type = RegionType;
    using value_type = typename RegionType::value_type;
    using key_type = typename RegionType::key_type;
    using options_type = MemoizeOptions<value_type, KeyGenerator>;

    MemoizedBase(std::shared_ptr<RegionType> region, std::string name, options_type options)
        : region_(std::move(region)),
          prefix_(options.key_namespace.empty() ? std::move(name) : name + '|' + options.key_namespace),
          key_generator_(std::move(options.key_generator)),
          expiration_(std::move(options.expiration_time)) {
        call_options_.should_cache = std::move(options.should_cache);
        if (!expiration_.is_per_call()) call_options_.expiration_time = expiration_.resolve();
    }

    template <class... Args>
    key_type key(const Args&... args) const {
        using Generated = decltype(key_generator_(std::string_view(prefix_), args...));
        static_assert(std::is_convertible_v<Generated, key_type>,
                      "memoize: the key generator must return the region's key type (ReprKeyGenerator returns "
                      "std::string: a region with other keys needs its own key generator)");
        return key_generator_(std::string_view(prefix_), args...);
    }

    // "<name>" or "<name>|<key_namespace>": what the key generator gets first.
    const std::string& key_prefix() const noexcept { return prefix_; }

    RegionType& region() const noexcept { return *region_; }

protected:
    // Calls use(const GetOrCreateOptions<value_type>&) with this call's options:
    // a per-call expiration_time is evaluated here, once per call.
    template <class Use>
    decltype(auto) with_call_options(Use&& use) const {
        if (!expiration_.is_per_call()) return use(std::as_const(call_options_));
        GetOrCreateOptions<value_type> options = call_options_;
        options.expiration_time = expiration_.resolve();
        return use(std::as_const(options));
    }

    GetOptions get_options() const {
        GetOptions options;
        options.expiration_time = expiration_.resolve();
        return options;
    }

    bool should_cache(const value_type& value) const {
        return !call_options_.should_cache || call_options_.should_cache(value);
    }

private:
    std::shared_ptr<RegionType> region_;
    std::string prefix_;
    KeyGenerator key_generator_;
    MemoizeExpiration expiration_;
    GetOrCreateOptions<value_type> call_options_;  // should_cache; the expiration_time when fixed
};

}  // namespace dogpile::details
