#pragma once
// ProxyBackend<Value, Key>: a backend that forwards every call to the backend
// it wraps (dogpile.cache's ProxyBackend), so a logging, metrics, retry or
// key-rewriting layer overrides only the calls it changes and calls
// proxied() (or the base method) for the rest.
//
//   struct CountingGets : dogpile::ProxyBackend<std::string> {
//       std::atomic<int> gets{0};
//       std::optional<entry_type> get(const std::string& key) override {
//           ++gets;
//           return ProxyBackend::get(key);
//       }
//   };
//
// Writes arrive through both set() overloads (the region moves values it no
// longer needs): a layer that intercepts writes overrides both, or the const&
// one plus `using ProxyBackend::set;` and an rvalue override that calls it.
//
// Chains: wrap(backend, {a, b}) returns `a` wrapping `b` wrapping `backend`,
// as dogpile.cache's configure(..., wrap=[a, b]): the first proxy is the
// outermost, so its methods run first. Region::wrap(p) makes p the new
// outermost. actual_backend() (on a proxy or a region) is the innermost.
//
// Thread safety: calls are forwarded from any number of threads at once, so
// the layer a proxy adds must be thread-safe too. wrap() must happen before
// the proxy is used (as Region::configure()).

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../errors.hpp"

namespace dogpile {

/// A backend that forwards every call to the backend it wraps (dogpile.cache's ProxyBackend): a
/// layer overrides only the calls it changes. A layer that intercepts writes overrides both set()
/// overloads. Calls arrive from many threads at once, so the layer must be thread-safe; wrap() must
/// happen before use.
template <class Value, class Key = std::string>
class ProxyBackend : public Backend<Value, Key> {
public:
    using backend_type = Backend<Value, Key>;  ///< the interface it wraps and implements
    using entry_type = CachedValue<Value>;     ///< a value with its metadata

    // Unwrapped: wrap() it (or hand it to Region::wrap / dogpile::wrap) before use.
    ProxyBackend() = default;
    /// Wraps `proxied` at once; throws as wrap() does.
    explicit ProxyBackend(std::shared_ptr<backend_type> proxied) { wrap(std::move(proxied)); }

    /// Throws ConfigurationError for a null backend or a proxy that already
    /// wraps one (a proxy sits in one chain only).
    void wrap(std::shared_ptr<backend_type> proxied) {
        if (!proxied) throw ConfigurationError("ProxyBackend::wrap: the wrapped backend must not be null");
        if (proxied_) throw ConfigurationError("ProxyBackend::wrap: this proxy already wraps a backend");
        if (proxied.get() == this) throw ConfigurationError("ProxyBackend::wrap: a proxy cannot wrap itself");
        proxied_ = std::move(proxied);
    }

    /// Whether wrap() has given it a backend.
    bool is_wrapping() const noexcept { return proxied_ != nullptr; }

    /// The next backend in the chain (which may be another proxy).
    backend_type& proxied() const {
        if (!proxied_) throw ConfigurationError("ProxyBackend: used before wrap() gave it a backend");
        return *proxied_;
    }

    /// Forwards to proxied().
    std::optional<entry_type> get(const Key& key) override { return proxied().get(key); }
    /// Forwards to proxied().
    void set(const Key& key, const entry_type& entry) override { proxied().set(key, entry); }
    /// Forwards to proxied().
    void set(const Key& key, entry_type&& entry) override { proxied().set(key, std::move(entry)); }
    /// Forwards to proxied().
    void erase(const Key& key) override { proxied().erase(key); }

    /// Forwards to proxied().
    std::vector<std::optional<entry_type>> get_multi(const std::vector<Key>& keys) override {
        return proxied().get_multi(keys);
    }
    /// Forwards to proxied().
    void set_multi(const std::vector<std::pair<Key, entry_type>>& entries) override { proxied().set_multi(entries); }
    /// Forwards to proxied().
    void erase_multi(const std::vector<Key>& keys) override { proxied().erase_multi(keys); }

    /// Forwards to proxied().
    std::unique_ptr<Mutex> get_mutex(const Key& key) override { return proxied().get_mutex(key); }
    /// Forwards to proxied().
    LockRequirement lock_requirement() const override { return proxied().lock_requirement(); }
    /// The innermost backend of the chain.
    backend_type& actual_backend() override { return proxied().actual_backend(); }

private:
    std::shared_ptr<backend_type> proxied_;
};

/// `backend` (any Backend<Value, Key>) wrapped in `chain`, the first proxy
/// outermost (dogpile.cache's wrap=[...] order). An empty chain returns
/// `backend` itself.
template <class AnyBackend, class Value = typename AnyBackend::value_type, class Key = typename AnyBackend::key_type>
std::shared_ptr<Backend<Value, Key>> wrap(std::shared_ptr<AnyBackend> backend,
                                          const std::vector<std::shared_ptr<ProxyBackend<Value, Key>>>& chain) {
    if (!backend) throw ConfigurationError("wrap: the backend must not be null");
    std::shared_ptr<Backend<Value, Key>> outermost = std::move(backend);
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        if (!*it) throw ConfigurationError("wrap: a proxy in the chain is null");
        (*it)->wrap(outermost);
        outermost = *it;
    }
    return outermost;
}

}  // namespace dogpile
