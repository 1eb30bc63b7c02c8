#pragma once
// LockAttemptRecorder: a redis::Client that forwards every call to a real
// client and records, per calling thread, what the distributed lock asked the
// server: its attempts (RedisLock's pipeline `SET <key> <token> NX PX <ttl>`,
// `PTTL <key>`, for keys under one lock prefix) and which of them the server
// answered with nil (the key was held by someone else: a miss).
//
// Not a mock: every command reaches the real server and every reply is the
// server's. It only lets a test tell threads apart, which the server cannot
// (one pooled connection serves many threads).

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <dogpile/redis/client.hpp>

namespace dogpile::test {

class LockAttemptRecorder final : public redis::Client {
public:
    struct Attempts {
        int total = 0;
        int missed = 0;  // answered nil: the lock was held
    };

    LockAttemptRecorder(std::shared_ptr<redis::Client> inner, std::string lock_prefix)
        : inner_(std::move(inner)), lock_prefix_(std::move(lock_prefix)) {}

    using redis::Client::batch;
    using redis::Client::command;
    using redis::Client::eval;

    redis::Reply command(std::string_view routing_key, const redis::Command& cmd) override {
        return inner_->command(routing_key, cmd);
    }

    std::vector<redis::Reply> pipeline(std::string_view routing_key,
                                       const std::vector<redis::Command>& commands) override {
        std::vector<redis::Reply> replies = inner_->pipeline(routing_key, commands);
        if (!commands.empty() && is_lock_attempt(commands.front()) && !replies.empty()) {
            std::lock_guard<std::mutex> lk(mutex_);
            Attempts& a = attempts_[std::this_thread::get_id()];
            ++a.total;
            if (replies.front().is_nil()) ++a.missed;
        }
        return replies;
    }

    std::vector<redis::Reply> batch(const std::vector<redis::KeyedCommand>& commands,
                                    const std::vector<const redis::Script*>& scripts) override {
        return inner_->batch(commands, scripts);
    }

    redis::Reply eval(const redis::Script& script, const redis::ScriptCall& call) override {
        return inner_->eval(script, call);
    }

    std::vector<redis::Reply> eval_batch(const redis::Script& script,
                                         const std::vector<redis::ScriptCall>& calls) override {
        return inner_->eval_batch(script, calls);
    }

    void with_connection(std::string_view routing_key, const std::function<void(redis::Connection&)>& fn) override {
        inner_->with_connection(routing_key, fn);
    }

    redis::ConnectionOptions connection_options(std::string_view routing_key) const override {
        return inner_->connection_options(routing_key);
    }

    std::uint64_t round_trips() const override { return inner_->round_trips(); }

    // ---- what was recorded

    // All threads' attempts together.
    Attempts attempts() const {
        std::lock_guard<std::mutex> lk(mutex_);
        Attempts sum;
        for (const auto& [thread, a] : attempts_) {
            sum.total += a.total;
            sum.missed += a.missed;
        }
        return sum;
    }

    std::size_t threads_that_attempted() const {
        std::lock_guard<std::mutex> lk(mutex_);
        std::size_t n = 0;
        for (const auto& [thread, a] : attempts_) n += a.total > 0 ? 1 : 0;
        return n;
    }

    std::size_t threads_that_missed() const {
        std::lock_guard<std::mutex> lk(mutex_);
        std::size_t n = 0;
        for (const auto& [thread, a] : attempts_) n += a.missed > 0 ? 1 : 0;
        return n;
    }

private:
    static bool iequals(std::string_view a, std::string_view b) {
        if (a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
                return false;
            }
        }
        return true;
    }

    // SET <key under the prefix> <token> NX ...
    bool is_lock_attempt(const redis::Command& cmd) const {
        if (cmd.size() < 4 || !iequals(cmd.name(), "SET")) return false;
        if (cmd[1].substr(0, lock_prefix_.size()) != lock_prefix_) return false;
        for (std::size_t i = 3; i < cmd.size(); ++i) {
            if (iequals(cmd[i], "NX")) return true;
        }
        return false;
    }

    std::shared_ptr<redis::Client> inner_;
    std::string lock_prefix_;
    mutable std::mutex mutex_;
    std::map<std::thread::id, Attempts> attempts_;
};

}  // namespace dogpile::test
