#pragma once
// memoize_multi(region, "name", fn[, options]): a batch function cached per id,
// dogpile.cache's cache_multi_on_arguments. fn takes a std::vector of ids and
// returns either
//   * a std::vector of values, one per id in order, or
//   * a map from id to value (the as_map form, dogpile.cache's asdict=True):
//     an id it leaves out has no value; it is not cached and is absent from
//     the result, so the next call asks fn for it again.
// The cached function takes the same vector and returns the same kind of
// result. It calls fn at most once per call, with only the ids whose values
// are missing or expired (deduplicated, in key order), each under its key's
// dogpile lock (Region::get_or_create_multi): concurrent callers never create
// one id twice. Each id is keyed as memoize would key a one-argument call.
//
// Thread safety: as memoize.hpp's Memoized.

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "details/memoized_base.hpp"
#include "errors.hpp"
#include "memoize_keys.hpp"
#include "memoize_options.hpp"
#include "region.hpp"

namespace dogpile {

namespace details {

template <class T, class = void>
struct is_map_like : std::false_type {};
template <class T>
struct is_map_like<T, std::void_t<typename T::key_type, typename T::mapped_type>> : std::true_type {};

}  // namespace details

/// A batch function (ids in, one value per id out) cached per id (dogpile.cache's
/// cache_multi_on_arguments), made by memoize_multi(). Thread safety as for Memoized.
template <class Value, class Fn, class KeyGenerator = ReprKeyGenerator, class RegionType = Region<Value>>
class MemoizedMulti : public details::MemoizedBase<RegionType, KeyGenerator> {
    using Base = details::MemoizedBase<RegionType, KeyGenerator>;
    static_assert(std::is_same_v<Value, typename RegionType::value_type>,
                  "MemoizedMulti: Value must be the region's value type");

    template <class Id>
    using Returned = std::decay_t<std::invoke_result_t<const Fn&, const std::vector<Id>&>>;

    template <class Id>
    static constexpr bool returns_map = details::is_map_like<Returned<Id>>::value;

public:
    /// Holds the wrapped function, callable as `original(ids)`.
    using Original = details::SharedFunction<Fn>;
    using typename Base::key_type;
    using typename Base::options_type;
    using Base::key;
    using Base::region;

    /// Caches `fn` in `region` (shared) under the key prefix `name`.
    MemoizedMulti(std::shared_ptr<RegionType> region, std::string name, Fn fn, options_type options)
        : Base(details::hold_region(std::move(region)), std::move(name), std::move(options)), original(std::move(fn)) {}

    /// The values of `ids`: a std::vector in their order, or (as_map form) the
    /// map fn returns, holding the ids that have a value.
    template <class Id>
    Returned<Id> operator()(const std::vector<Id>& ids) const {
        const std::vector<key_type> keys = keys_of(ids);
        std::map<key_type, const Id*> id_of_key;
        for (std::size_t i = 0; i < ids.size(); ++i) id_of_key.emplace(keys[i], &ids[i]);
        const auto ids_of = [&id_of_key](const std::vector<key_type>& missing) {
            std::vector<Id> missing_ids;
            missing_ids.reserve(missing.size());
            for (const auto& k : missing) missing_ids.push_back(*id_of_key.at(k));
            return missing_ids;
        };

        return this->with_call_options([&](const GetOrCreateOptions<Value>& options) -> Returned<Id> {
            if constexpr (returns_map<Id>) {
                auto values = region().get_or_create_multi(
                    keys,
                    [&](const std::vector<key_type>& missing) {
                        const std::vector<Id> missing_ids = ids_of(missing);
                        Returned<Id> found = original(missing_ids);
                        std::vector<std::optional<Value>> created;
                        created.reserve(missing_ids.size());
                        for (const auto& id : missing_ids) {
                            auto it = found.find(id);
                            created.push_back(it == found.end() ? std::nullopt
                                                                : std::optional<Value>(std::move(it->second)));
                        }
                        return created;
                    },
                    options);
                Returned<Id> out;
                for (std::size_t i = 0; i < ids.size(); ++i) {
                    if (values[i]) out.emplace(ids[i], std::move(*values[i]));
                }
                return out;
            } else {
                static_assert(
                    std::is_same_v<Returned<Id>, std::vector<Value>>,
                    "memoize_multi: fn must return std::vector<Value> (one per id) or a map from id to Value");
                return region().get_or_create_multi(
                    keys, [&](const std::vector<key_type>& missing) { return original(ids_of(missing)); }, options);
            }
        });
    }

    /// The cached values, fresh by this function's expiration_time, in the
    /// order of `ids`; never calls fn.
    template <class Id>
    std::vector<std::optional<Value>> get(const std::vector<Id>& ids) const {
        return region().get_multi(keys_of(ids), this->get_options());
    }

    /// Erases the cached values of `ids`.
    template <class Id>
    void invalidate(const std::vector<Id>& ids) const {
        region().erase_multi(keys_of(ids));
    }

    /// Calls fn with all of `ids` now, without the dogpile locks, stores the
    /// values should_cache accepts and returns what fn returned.
    template <class Id>
    Returned<Id> refresh(const std::vector<Id>& ids) const {
        Returned<Id> values = original(ids);
        std::vector<std::pair<key_type, Value>> to_store;
        if constexpr (returns_map<Id>) {
            for (const auto& [id, value] : values) {
                if (this->should_cache(value)) to_store.emplace_back(key(id), value);
            }
        } else {
            if (values.size() != ids.size()) {
                throw Error("memoize_multi: fn returned " + std::to_string(values.size()) + " values for " +
                            std::to_string(ids.size()) + " ids");
            }
            for (std::size_t i = 0; i < ids.size(); ++i) {
                if (this->should_cache(values[i])) to_store.emplace_back(key(ids[i]), values[i]);
            }
        }
        region().set_multi(to_store);
        return values;
    }

    /// Stores each id's value (dogpile.cache's set(mapping)); should_cache is not asked.
    template <class Map>
    void set(const Map& values) const {
        std::vector<std::pair<key_type, Value>> to_store;
        to_store.reserve(values.size());
        for (const auto& [id, value] : values) to_store.emplace_back(key(id), value);
        region().set_multi(to_store);
    }

    /// The cache keys of `ids`, in order.
    template <class Id>
    std::vector<key_type> keys_of(const std::vector<Id>& ids) const {
        std::vector<key_type> keys;
        keys.reserve(ids.size());
        for (const auto& id : ids) keys.push_back(key(id));
        return keys;
    }

    /// The wrapped function, uncached (dogpile.cache's `original`).
    Original original;
};

/// memoize_multi(region, name, fn[, options]): the region and the options as
/// for memoize() (memoize.hpp); the key generator is called with one id.
template <class RegionHandle, class Fn, class Options = details::default_memoize_options_t<RegionHandle>>
auto memoize_multi(RegionHandle&& region, std::string name, Fn&& fn, Options options = Options{}) {
    using Value = typename details::held_region_t<RegionHandle>::value_type;
    return details::make_memoized<MemoizedMulti>(details::hold_region(std::forward<RegionHandle>(region)),
                                                 std::move(name), std::forward<Fn>(fn),
                                                 details::as_memoize_options<Value>(std::move(options)));
}

}  // namespace dogpile
