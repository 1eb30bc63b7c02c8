// A user's own backend, tested against the installed conformance kit exactly
// as the README's "Writing a backend" section shows.
#include <dogpile/dogpile.hpp>
#include <dogpile/testing/backend_suite.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

template <class V>
class MyBackend : public dogpile::Backend<V> {
public:
    std::optional<dogpile::CachedValue<V>> get(const std::string& key) override {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = entries_.find(key);
        if (it == entries_.end()) return std::nullopt;
        return it->second;
    }
    void set(const std::string& key, const dogpile::CachedValue<V>& entry) override {
        std::lock_guard<std::mutex> lock(mutex_);
        entries_.insert_or_assign(key, entry);
    }
    void erase(const std::string& key) override {
        std::lock_guard<std::mutex> lock(mutex_);
        entries_.erase(key);
    }

private:
    std::mutex mutex_;
    std::map<std::string, dogpile::CachedValue<V>> entries_;
};

struct MyBackendFactory {
    using Value = std::string;
    using Key = std::string;
    static dogpile::testing::BackendCapabilities capabilities() { return {}; }
    std::shared_ptr<dogpile::Backend<Value, Key>> make() { return std::make_shared<MyBackend<Value>>(); }
    Key key(std::size_t i) { return "k" + std::to_string(i); }
    Value value(std::size_t i) { return "v" + std::to_string(i); }
};

DOGPILE_BACKEND_CONFORMANCE(MyBackend, MyBackendFactory);  // link GTest::gtest_main
