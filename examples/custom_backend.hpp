#pragma once
// Writing your own backend: implement get, set and erase; the multi
// operations and the lock have working defaults. This one keeps entries in a
// std::map behind a mutex and logs every call. tests/test_backend_conformance.cpp
// runs the Backend contract (dogpile/testing/backend_suite.hpp) on it.
#include <dogpile/dogpile.hpp>

#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>

template <class Value>
class LoggingMapBackend : public dogpile::Backend<Value> {
public:
    using entry_type = dogpile::CachedValue<Value>;

    explicit LoggingMapBackend(std::ostream& log = std::cout) : log_(log) {}

    std::optional<entry_type> get(const std::string& key) override {
        std::lock_guard<std::mutex> lock(mutex_);
        log_ << "  backend get " << key << "\n";
        auto it = entries_.find(key);
        if (it == entries_.end()) return std::nullopt;
        return it->second;
    }

    void set(const std::string& key, const entry_type& entry) override {
        std::lock_guard<std::mutex> lock(mutex_);
        log_ << "  backend set " << key << "\n";
        entries_.insert_or_assign(key, entry);
    }

    void erase(const std::string& key) override {
        std::lock_guard<std::mutex> lock(mutex_);
        log_ << "  backend erase " << key << "\n";
        entries_.erase(key);
    }

private:
    std::ostream& log_;
    std::mutex mutex_;  // regions call backends from many threads at once
    std::map<std::string, entry_type> entries_;
};
