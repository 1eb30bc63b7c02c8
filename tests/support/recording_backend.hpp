#pragma once
// A small map-backed Backend for region tests: counts every call and can be
// told to fail, so tests see exactly what the region asked of its backend.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <dogpile/backend.hpp>
#include <dogpile/errors.hpp>

namespace dogpile::test {

template <class Value, class Key = std::string>
class RecordingBackend : public Backend<Value, Key> {
public:
    using entry_type = CachedValue<Value>;

    std::optional<entry_type> get(const Key& key) override {
        gets++;
        maybe_fail();
        std::lock_guard<std::mutex> lk(mutex_);
        auto it = data_.find(key);
        if (it == data_.end()) return std::nullopt;
        return it->second;
    }
    void set(const Key& key, const entry_type& entry) override {
        sets++;
        maybe_fail();
        std::lock_guard<std::mutex> lk(mutex_);
        data_.insert_or_assign(key, entry);
    }
    void erase(const Key& key) override {
        erases++;
        maybe_fail();
        std::lock_guard<std::mutex> lk(mutex_);
        data_.erase(key);
    }
    std::vector<std::optional<entry_type>> get_multi(const std::vector<Key>& keys) override {
        get_multis++;
        maybe_fail();
        std::lock_guard<std::mutex> lk(mutex_);
        std::vector<std::optional<entry_type>> out;
        for (const auto& key : keys) {
            auto it = data_.find(key);
            out.push_back(it == data_.end() ? std::nullopt : std::optional<entry_type>(it->second));
        }
        return out;
    }
    void set_multi(const std::vector<std::pair<Key, entry_type>>& entries) override {
        set_multis++;
        maybe_fail();
        std::lock_guard<std::mutex> lk(mutex_);
        for (const auto& [key, entry] : entries) data_.insert_or_assign(key, entry);
    }

    // Counts lock acquisitions the region asks for; no distributed lock, so
    // the region's in-process lock alone serializes creators.
    std::unique_ptr<Mutex> get_mutex(const Key& /*key*/) override {
        mutex_requests++;
        return nullptr;
    }

    // Raw access for assertions, bypassing the counters.
    std::optional<entry_type> peek(const Key& key) const {
        std::lock_guard<std::mutex> lk(mutex_);
        auto it = data_.find(key);
        if (it == data_.end()) return std::nullopt;
        return it->second;
    }
    std::vector<Key> keys() const {
        std::lock_guard<std::mutex> lk(mutex_);
        std::vector<Key> out;
        for (const auto& kv : data_) out.push_back(kv.first);
        return out;
    }
    void put_raw(const Key& key, entry_type entry) {
        std::lock_guard<std::mutex> lk(mutex_);
        data_.insert_or_assign(key, std::move(entry));
    }

    std::atomic<int> gets{0}, sets{0}, erases{0}, get_multis{0}, set_multis{0}, mutex_requests{0};
    std::atomic<bool> failing{false};

private:
    void maybe_fail() const {
        if (failing.load()) throw BackendError("injected backend failure");
    }

    mutable std::mutex mutex_;
    std::map<Key, entry_type> data_;
};

}  // namespace dogpile::test
