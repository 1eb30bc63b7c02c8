// Writing your own backend: implement get, set and erase; the multi
// operations and the lock have working defaults. This one keeps entries in a
// std::map behind a mutex and logs every call.
#include <dogpile/dogpile.hpp>

#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>

template <class Value>
class LoggingMapBackend : public dogpile::Backend<Value> {
public:
    using entry_type = dogpile::CachedValue<Value>;

    std::optional<entry_type> get(const std::string& key) override {
        std::lock_guard<std::mutex> lock(mutex_);
        std::cout << "  backend get " << key << "\n";
        auto it = entries_.find(key);
        if (it == entries_.end()) return std::nullopt;
        return it->second;
    }

    void set(const std::string& key, const entry_type& entry) override {
        std::lock_guard<std::mutex> lock(mutex_);
        std::cout << "  backend set " << key << "\n";
        entries_.insert_or_assign(key, entry);
    }

    void erase(const std::string& key) override {
        std::lock_guard<std::mutex> lock(mutex_);
        std::cout << "  backend erase " << key << "\n";
        entries_.erase(key);
    }

private:
    std::mutex mutex_;  // regions call backends from many threads at once
    std::map<std::string, entry_type> entries_;
};

int main() {
    dogpile::Region<int> region(std::make_shared<LoggingMapBackend<int>>());
    std::cout << "first call (miss, creates):\n";
    int a = region.get_or_create("answer", [] { return 42; });
    std::cout << "second call (hit):\n";
    int b = region.get_or_create("answer", [] { return -1; });
    std::cout << "multi call (creates only the missing key):\n";
    auto values = region.get_or_create_multi({"answer", "other"}, [](const std::vector<std::string>& missing) {
        return std::vector<int>(missing.size(), 7);
    });
    std::cout << a << " " << b << " " << values[0] << " " << values[1] << "\n";
    return (a == 42 && b == 42 && values[1] == 7) ? 0 : 1;
}
