#pragma once
// CreationLog: a batch creator for get_or_create_multi tests that counts its
// calls and the creations of each key, across threads and regions; and
// numbered(), zero-padded key names that sort in number order.

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace dogpile::test {

inline std::vector<std::string> numbered(const std::string& stem, int from, int to) {
    std::vector<std::string> out;
    for (int i = from; i < to; ++i) out.push_back(stem + (i < 10 ? "0" : "") + std::to_string(i));
    return out;
}

// Creates "v-<key>" for every key it is given.
class CreationLog {
public:
    std::vector<std::string> operator()(const std::vector<std::string>& keys) {
        std::lock_guard<std::mutex> lk(mutex_);
        ++calls_;
        std::vector<std::string> values;
        for (const auto& k : keys) {
            ++per_key_[k];
            values.push_back("v-" + k);
        }
        return values;
    }
    int calls() const {
        std::lock_guard<std::mutex> lk(mutex_);
        return calls_;
    }
    std::map<std::string, int> per_key() const {
        std::lock_guard<std::mutex> lk(mutex_);
        return per_key_;
    }

private:
    mutable std::mutex mutex_;
    int calls_ = 0;
    std::map<std::string, int> per_key_;
};

}  // namespace dogpile::test
