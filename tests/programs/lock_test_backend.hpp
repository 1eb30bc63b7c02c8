#pragma once
// A minimal Redis-stored Backend whose get_mutex() hands out RedisLocks, for
// the distributed-lock tests and their worker processes. It depends only on
// the Client and RedisLock, not on the real Redis backends, so the lock can be
// tested on its own. Values are strings; an entry is stored with plain
// GET/SET as "<version>|<created_at in ns>|<value>".
//
// Data and locks may go through different clients, so a test can break the
// lock's connection while the data path keeps working.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <dogpile/backend.hpp>
#include <dogpile/cached_value.hpp>
#include <dogpile/errors.hpp>
#include <dogpile/redis/client.hpp>
#include <dogpile/redis/lock.hpp>

namespace dogpile::test {

class LockTestBackend final : public Backend<std::string> {
public:
    LockTestBackend(std::shared_ptr<redis::Client> data, std::shared_ptr<redis::Client> locks,
                    redis::LockOptions lock_options)
        : data_(std::move(data)), locks_(std::move(locks)), lock_options_(std::move(lock_options)) {}

    LockTestBackend(std::shared_ptr<redis::Client> client, redis::LockOptions lock_options)
        : LockTestBackend(client, client, std::move(lock_options)) {}

    std::optional<entry_type> get(const std::string& key) override {
        const redis::Reply reply = data_->command(key, {"GET", key});
        if (reply.is_nil()) return std::nullopt;
        return decode(reply.view());
    }

    void set(const std::string& key, const entry_type& entry) override {
        data_->command(key, {"SET", key, encode(entry)});
    }

    void erase(const std::string& key) override { data_->command(key, {"DEL", key}); }

    std::unique_ptr<Mutex> get_mutex(const std::string& key) override {
        return std::make_unique<redis::RedisLock>(locks_, key, lock_options_);
    }

    static std::string encode(const entry_type& entry) {
        return std::to_string(entry.metadata.version) + "|" +
               std::to_string(entry.metadata.created_at.time_since_epoch().count()) + "|" + entry.value;
    }

    // A payload this backend did not write is a miss.
    static std::optional<entry_type> decode(std::string_view payload) {
        const auto first = payload.find('|');
        const auto second = first == std::string_view::npos ? first : payload.find('|', first + 1);
        if (second == std::string_view::npos) return std::nullopt;
        try {
            entry_type entry;
            entry.metadata.version = static_cast<std::uint32_t>(std::stoul(std::string(payload.substr(0, first))));
            entry.metadata.created_at =
                TimePoint(Duration(std::stoll(std::string(payload.substr(first + 1, second - first - 1)))));
            entry.value = std::string(payload.substr(second + 1));
            return entry;
        } catch (const std::exception&) {
            return std::nullopt;
        }
    }

private:
    std::shared_ptr<redis::Client> data_;
    std::shared_ptr<redis::Client> locks_;
    redis::LockOptions lock_options_;
};

}  // namespace dogpile::test
