#pragma once
// Definitions of lock.hpp (details/linkage.hpp: inline when header-only).

#include <thread>

#include "../details/random.hpp"
#include "lock.hpp"

namespace dogpile::redis {

DOGPILE_INLINE void LockOptions::validate() const {
    if (ttl.count() <= 0) {
        throw ConfigurationError("redis lock options: ttl must be positive, got " + std::to_string(ttl.count()) +
                                 " ms");
    }
    if (retry_initial.count() <= 0) {
        throw ConfigurationError("redis lock options: retry_initial must be positive, got " +
                                 std::to_string(retry_initial.count()) + " ms");
    }
    if (max_wait && max_wait->count() < 0) {
        throw ConfigurationError("redis lock options: max_wait must not be negative, got " +
                                 std::to_string(max_wait->count()) + " ms");
    }
    if (retry_max < retry_initial) {
        throw ConfigurationError("redis lock options: retry_max (" + std::to_string(retry_max.count()) +
                                 " ms) must not be below retry_initial (" + std::to_string(retry_initial.count()) +
                                 " ms)");
    }
}

DOGPILE_INLINE RedisLock::RedisLock(std::shared_ptr<Client> client, std::string resource, LockOptions options,
                                    std::shared_ptr<details::LockSharedState> shared)
    : client_(std::move(client)), options_(std::move(options)), shared_(std::move(shared)) {
    if (!client_) throw ConfigurationError("RedisLock: the client is null");
    options_.validate();
    key_ = options_.prefix + resource;
    if (!shared_) {
        shared_ = std::make_shared<details::LockSharedState>(
            options_.wake_on_release ? details::LockWakeups::of(client_, options_.wake_channel()) : nullptr);
    }
}

DOGPILE_INLINE RedisLock::~RedisLock() {
    try {
        unlock();
    } catch (...) {
    }
}

DOGPILE_INLINE bool RedisLock::lock(std::optional<std::chrono::milliseconds> timeout) {
    using Clock = std::chrono::steady_clock;
    require_not_held("lock");
    const auto limit = timeout ? std::max(*timeout, std::chrono::milliseconds(0)) : options_.effective_max_wait();
    const Clock::time_point deadline = Clock::now() + limit;

    std::chrono::microseconds backoff = options_.retry_initial;
    const std::chrono::microseconds backoff_max = options_.retry_max;
    // Entered at the first pause: a lock taken at once costs no bookkeeping.
    std::optional<details::LockWakeups::Waiter> waiter;
    for (;;) {
        if (attempt()) return true;
        const auto now = Clock::now();
        if (now >= deadline) return false;
        const std::chrono::microseconds pause =
            std::min(jittered(backoff), std::chrono::duration_cast<std::chrono::microseconds>(deadline - now) +
                                            std::chrono::microseconds(1));
        if (details::LockWakeups* wakeups = shared_->wakeups()) {
            if (!waiter) waiter.emplace(*wakeups, key_);
            waiter->sleep(pause);
        } else {
            std::this_thread::sleep_for(pause);
        }
        backoff = std::min(backoff * 2, backoff_max);
    }
}

DOGPILE_INLINE std::optional<std::string> RedisLock::give_up_hold() {
    std::lock_guard<std::mutex> lk(state_);
    if (!held_) return std::nullopt;
    held_ = false;
    return token_;
}

DOGPILE_INLINE void RedisLock::unlock() {
    const std::optional<std::string> token = give_up_hold();
    if (!token) return;
    try {
        client_->eval(release_script(), release_call(*token));
        shared_->release_orphans(*client_);
    } catch (const ReplyError&) {
        throw;  // refused (NOPERM, NOSCRIPT that could not be loaded): the key expires after its TTL
    } catch (const RedisError& e) {
        shared_->release_or_remember(*client_, key_, *token, options_.ttl, loss_of(e));
        throw;
    }
}

// Every member shares this lock's client (batch_group), so one Client::batch
// carries all of them; each keeps its own options and shared state.
DOGPILE_INLINE std::vector<Mutex::TryResult> RedisLock::try_lock_batch(const std::vector<Mutex*>& group) {
    if (group.size() == 1) return Mutex::try_lock_batch(group);  // its own pipeline, as try_lock()
    std::vector<RedisLock*> locks;
    locks.reserve(group.size());
    for (Mutex* m : group) {
        auto* lock = static_cast<RedisLock*>(m);  // same batch_group: a RedisLock
        lock->require_not_held("try_lock");
        locks.push_back(lock);
    }
    std::vector<std::string> tokens;
    std::vector<KeyedCommand> commands;
    tokens.reserve(locks.size());
    commands.reserve(2 * locks.size());
    for (RedisLock* lock : locks) {
        tokens.push_back(dogpile::details::random_hex(16));
        for (Command& cmd : lock->attempt_commands(tokens.back())) commands.push_back({lock->key_, std::move(cmd)});
    }
    std::vector<Reply> replies;
    try {
        replies = client_->batch(commands);
    } catch (const ReplyError&) {
        throw;
    } catch (const RedisError& e) {
        for (std::size_t i = 0; i < locks.size(); ++i) locks[i]->settle_lost_reply(tokens[i], e);
        throw;
    }
    for (RedisLock* lock : locks) lock->shared_->release_orphans(*client_);  // a no-op after the first
    std::vector<TryResult> results(locks.size());
    for (std::size_t i = 0; i < locks.size(); ++i) {
        try {
            if (replies.size() != commands.size()) {
                throw ProtocolError("redis SET NX batch: " + std::to_string(replies.size()) + " replies for " +
                                    std::to_string(commands.size()) + " commands");
            }
            results[i].taken = locks[i]->take_if_acquired(replies[2 * i], replies[2 * i + 1], std::move(tokens[i]));
        } catch (...) {
            results[i].error = std::current_exception();
        }
    }
    return results;
}

DOGPILE_INLINE void RedisLock::unlock_batch(const std::vector<Mutex*>& group) {
    if (group.size() == 1) return group.front()->unlock();
    std::vector<RedisLock*> locks;
    std::vector<std::string> tokens;
    for (Mutex* m : group) {
        auto* lock = static_cast<RedisLock*>(m);  // same batch_group: a RedisLock
        if (std::optional<std::string> token = lock->give_up_hold()) {
            locks.push_back(lock);
            tokens.push_back(std::move(*token));
        }
    }
    if (locks.empty()) return;
    std::vector<ScriptCall> calls;
    calls.reserve(locks.size());
    for (std::size_t i = 0; i < locks.size(); ++i) calls.push_back(locks[i]->release_call(tokens[i]));
    std::vector<Reply> replies;
    try {
        replies = client_->eval_batch(release_script(), calls);
    } catch (const ReplyError&) {
        throw;
    } catch (const RedisError& e) {
        for (std::size_t i = 0; i < locks.size(); ++i) {
            locks[i]->shared_->release_or_remember(*client_, locks[i]->key_, tokens[i], locks[i]->options_.ttl,
                                                   loss_of(e));
        }
        throw;
    }
    for (RedisLock* lock : locks) lock->shared_->release_orphans(*client_);
    // A refused release (NOPERM, a script that could not be loaded) leaves its key to expire after its TTL.
    for (const Reply& reply : replies) reply.throw_if_error("redis lock release batch");
}

DOGPILE_INLINE ScriptCall RedisLock::release_call(const std::string& token) const {
    ScriptCall call{{key_}, {token}};
    if (const details::LockWakeups* wakeups = shared_->wakeups()) call.args.push_back(wakeups->channel());
    return call;
}

DOGPILE_INLINE bool RedisLock::extend(std::chrono::milliseconds ttl) {
    if (ttl.count() <= 0) {
        throw ConfigurationError("RedisLock::extend: ttl must be positive, got " + std::to_string(ttl.count()) + " ms");
    }
    std::string token;
    {
        std::lock_guard<std::mutex> lk(state_);
        if (!held_) return false;
        token = token_;
    }
    const std::string ms = std::to_string(ttl.count());
    const Reply reply =
        client_->eval(extend_script(), {std::string_view(key_)}, {std::string_view(token), std::string_view(ms)});
    const bool extended = reply.as_integer() == 1;
    if (!extended) {
        std::lock_guard<std::mutex> lk(state_);
        if (token_ == token) held_ = false;
    }
    return extended;
}

DOGPILE_INLINE bool RedisLock::held() const {
    std::lock_guard<std::mutex> lk(state_);
    return held_;
}

DOGPILE_INLINE std::optional<bool> RedisLock::locked() const {
    Reply reply = client_->command(key_, Command{"EXISTS", key_});
    reply.throw_if_error("redis EXISTS " + key_ + " (asking whether a lock is held; ACL: +exists)");
    return reply.as_integer() == 1;
}

DOGPILE_INLINE const Script& RedisLock::extend_script() {
    static const Script script(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
        "return 0");
    return script;
}

DOGPILE_INLINE void RedisLock::require_not_held(const char* what) const {
    std::lock_guard<std::mutex> lk(state_);
    if (held_) {
        throw dogpile::Error(std::string("RedisLock::") + what + ": '" + key_ +
                             "' is already held by this object (the lock is not recursive)");
    }
}

DOGPILE_INLINE std::vector<Command> RedisLock::attempt_commands(const std::string& token) const {
    Command set{"SET", key_, token, "NX", "PX"};
    set.arg(static_cast<long long>(options_.ttl.count()));
    std::vector<Command> commands;
    commands.push_back(std::move(set));
    commands.push_back(Command{"PTTL", key_});
    return commands;
}

DOGPILE_INLINE void RedisLock::settle_lost_reply(const std::string& token, const RedisError& e) noexcept {
    // The SET may have taken the lock although its reply was lost.
    const details::ReplyLoss loss = loss_of(e);
    if (loss != details::ReplyLoss::never_sent) shared_->release_or_remember(*client_, key_, token, options_.ttl, loss);
}

DOGPILE_INLINE bool RedisLock::attempt() {
    std::string token = dogpile::details::random_hex(16);
    std::vector<Reply> replies;
    try {
        replies = client_->pipeline(key_, attempt_commands(token));
    } catch (const ReplyError&) {
        throw;  // answered: nothing ran that needs undoing
    } catch (const RedisError& e) {
        settle_lost_reply(token, e);
        throw;
    }
    shared_->release_orphans(*client_);  // the connection works: settle earlier lost replies
    if (replies.size() != 2) {
        throw ProtocolError("redis SET NX " + key_ + ": " + std::to_string(replies.size()) + " replies for 2 commands");
    }
    return take_if_acquired(replies[0], replies[1], std::move(token));
}

DOGPILE_INLINE bool RedisLock::take_if_acquired(const Reply& acquired, const Reply& ttl, std::string token) {
    if (acquired.is_ok()) {
        std::lock_guard<std::mutex> lk(state_);
        token_ = std::move(token);
        held_ = true;
        return true;
    }
    if (!acquired.is_nil()) {
        acquired.throw_if_error("redis SET NX " + key_);
        throw ProtocolError("redis SET NX " + key_ + ": unexpected reply type " + to_string(acquired.type()));
    }
    ttl.throw_if_error("redis PTTL " + key_ + " (the lock checks that its key can expire; ACL: +pttl)");
    if (ttl.is_integer() && ttl.as_integer() == -1) {
        throw UnreleasableLockError("lock key '" + key_ +
                                    "' exists without a TTL, so nobody would ever release it (written by "
                                    "something other than this lock: a SET without PX, another data type); "
                                    "not waiting for it. Delete it (DEL) or let the lock prefix name keys "
                                    "nothing else writes");
    }
    return false;
}

DOGPILE_INLINE std::chrono::microseconds RedisLock::jittered(std::chrono::microseconds backoff) noexcept {
    const auto half = static_cast<std::uint64_t>(backoff.count() / 2);
    const std::uint64_t extra = half == 0 ? 0 : dogpile::details::fast_random() % (half + 1);
    return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(half + extra));
}

}  // namespace dogpile::redis
