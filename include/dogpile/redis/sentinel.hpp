#pragma once
// SentinelClient: the Client (client.hpp) for one master watched by Redis
// Sentinel. Backends take it where they take a SingleServerClient:
//
//   dogpile::redis::SentinelOptions options;
//   options.master_name = "cache";
//   options.sentinels = {{"10.0.0.1", 26379}, {"10.0.0.2", 26379}, {"10.0.0.3", 26379}};
//   options.pool.connection.password = "secret";      // the data nodes' AUTH
//   auto client = std::make_shared<dogpile::redis::SentinelClient>(options);
//
// Discovery: the sentinels are asked in turn (the last one that answered
// first) for SENTINEL GET-MASTER-ADDR-BY-NAME; the server named is accepted
// only if its ROLE says master (a sentinel may lag behind a failover). The
// client then uses one ConnectionPool on that server, exactly like
// SingleServerClient.
//
// Failover is followed without a restart. With MasterWatch::subscribe (the
// default) a background thread stays SUBSCRIBEd to +switch-master on one
// sentinel (moving to the next when it fails, and re-discovering after every
// reconnect, since a switch may have been missed) and re-discovers as soon as
// the sentinels announce a new master: a master that is demoted while still
// reachable (SENTINEL FAILOVER, a partition that heals) stops receiving
// writes at once instead of when it is reconfigured. Either way, discovery
// also runs again (at most every resolve_interval) when:
// * a connection to the master cannot be opened: the command, which was not
//   sent, is retried once on the new master if there is one;
// * a command fails with an I/O error or timeout: it may have run, so it is
//   not retried (as on one server), but the next command uses the new master;
// * the server answers READONLY (it was demoted to a replica): nothing ran,
//   so the command is retried once on the new master.
// When the master changes, a new pool is opened on it and the old one is
// dropped once its last lease ends. Whenever the pool has opened a new
// connection, the next lease is checked with ROLE first (one round trip,
// counted in round_trips()), so a demoted master that came back as a replica
// is not read from silently after a reconnect.
//
// Between the master's death and the sentinels' promotion of a replica
// (down-after-milliseconds plus an election) commands throw IoError; a Region
// degrades to the creator meanwhile.
//
// Thread-safe.

#include <hiredis/hiredis.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "../errors.hpp"
#include "address.hpp"
#include "client.hpp"
#include "command.hpp"
#include "connection.hpp"
#include "errors.hpp"
#include "options.hpp"
#include "pool.hpp"
#include "reply.hpp"
#include "script.hpp"

namespace dogpile::redis {

namespace details {
class SwitchWatcher;
}

// How the client learns that the sentinels switched masters.
enum class MasterWatch {
    subscribe,  // a background thread listens for +switch-master, and failures trigger discovery
    on_error,   // only failures (refused connections, I/O errors, READONLY) trigger discovery
};

struct SentinelOptions {
    // The name the sentinels monitor the master under (sentinel monitor <name> ...).
    std::string master_name;
    // One reachable sentinel is enough.
    std::vector<NodeAddress> sentinels;
    // How to talk to the sentinels: timeouts, and their own AUTH if they have
    // requirepass. host, port and db are ignored.
    ConnectionOptions sentinel_connection;
    // The pool on whichever server is master; pool.connection carries the data
    // nodes' AUTH / ACL user, database and timeouts. Its host, port and
    // unix_socket are ignored.
    PoolOptions pool;
    // Minimum time between two discoveries triggered by failures.
    std::chrono::milliseconds resolve_interval{100};
    MasterWatch watch = MasterWatch::subscribe;

    // Throws ConfigurationError naming what cannot work.
    void validate() const {
        if (master_name.empty()) throw ConfigurationError("redis sentinel options: master_name is empty");
        if (sentinels.empty()) throw ConfigurationError("redis sentinel options: at least one sentinel is needed");
        for (const auto& s : sentinels) s.apply_to(sentinel_connection).validate();
        pool.validate();
        if (resolve_interval.count() < 0) {
            throw ConfigurationError("redis sentinel options: resolve_interval must not be negative");
        }
    }
};

struct SentinelStats {
    std::uint64_t discoveries = 0;      // successful master look-ups
    std::uint64_t master_changes = 0;   // failovers followed (a different master found)
    std::uint64_t role_mismatches = 0;  // a server named as master whose ROLE said otherwise
    std::uint64_t retried = 0;          // commands re-sent to a new master (not sent, or READONLY)
    std::uint64_t switch_notices = 0;   // +switch-master messages received for this master
};

class SentinelClient final : public Client {
public:
    // Asks the sentinels now. Sentinels that cannot be reached (or do not
    // know the master yet) are not an error here: commands throw IoError
    // until discovery succeeds. Invalid options throw ConfigurationError.
    explicit SentinelClient(SentinelOptions options);

    // Stops the watcher thread (at once: it is woken through a pipe).
    ~SentinelClient() override;

    SentinelClient(const SentinelClient&) = delete;
    SentinelClient& operator=(const SentinelClient&) = delete;

    using Client::batch;
    using Client::command;
    using Client::eval;

    Reply command(std::string_view /*routing_key*/, const Command& cmd) override {
        return run([&cmd](Connection& c) { return c.command(cmd); });
    }

    std::vector<Reply> pipeline(std::string_view /*routing_key*/, const std::vector<Command>& commands) override {
        if (commands.empty()) return {};
        return run_batch(commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i]; }, {});
    }

    std::vector<Reply> batch(const std::vector<KeyedCommand>& commands,
                             const std::vector<const Script*>& scripts) override {
        if (commands.empty()) return {};
        return run_batch(
            commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i].command; }, scripts);
    }

    Reply eval(const Script& script, const ScriptCall& call) override {
        return run([&](Connection& c) { return script.eval(c, call); });
    }

    std::vector<Reply> eval_batch(const Script& script, const std::vector<ScriptCall>& calls) override {
        if (calls.empty()) return {};
        std::vector<Command> commands;
        commands.reserve(calls.size());
        for (const auto& call : calls) commands.push_back(script.evalsha_command(call));
        return run_batch(commands.size(), [&commands](std::size_t i) -> const Command& { return commands[i]; },
                         {&script});
    }

    void with_connection(std::string_view /*routing_key*/, const std::function<void(Connection&)>& fn) override {
        run([&fn](Connection& c) {
            fn(c);
            return 0;
        });
    }

    // The current master's; throws IoError when none is known.
    ConnectionOptions connection_options(std::string_view /*routing_key*/) const override {
        const auto master = current();
        if (!master) throw IoError(no_master_message());
        return master->pool->options().connection;
    }

    // Over every master used so far.
    std::uint64_t round_trips() const override {
        std::lock_guard<std::mutex> lock(mutex_);
        std::uint64_t total = 0;
        for (const auto& pool : pools_) total += pool->round_trips();
        return total;
    }

    // The master in use, if one is known.
    std::optional<NodeAddress> master() const {
        const auto m = current();
        if (!m) return std::nullopt;
        return m->address;
    }

    // Asks the sentinels again now (ignoring resolve_interval). False when no
    // sentinel named a server that is master.
    bool rediscover() { return discover(Discover::now); }

    SentinelStats stats() const noexcept {
        SentinelStats s;
        s.discoveries = counters_.discoveries.load(std::memory_order_relaxed);
        s.master_changes = counters_.master_changes.load(std::memory_order_relaxed);
        s.role_mismatches = counters_.role_mismatches.load(std::memory_order_relaxed);
        s.retried = counters_.retried.load(std::memory_order_relaxed);
        s.switch_notices = counters_.switch_notices.load(std::memory_order_relaxed);
        return s;
    }

    const SentinelOptions& options() const noexcept { return options_; }

private:
    friend class details::SwitchWatcher;
    using Clock = std::chrono::steady_clock;
    enum class Discover { now, if_due };

    struct Master {
        NodeAddress address;
        std::shared_ptr<ConnectionPool> pool;
        // connections_created() of the pool when a connection was last
        // checked with ROLE; a higher count means a new, unchecked one.
        mutable std::atomic<std::uint64_t> checked_created{0};
    };

    struct Counters {
        std::atomic<std::uint64_t> discoveries{0}, master_changes{0}, role_mismatches{0}, retried{0}, switch_notices{0};
    };

    // A connection to a server that turned out not to be master: nothing was sent.
    class NotMaster : public IoError {
    public:
        using IoError::IoError;
    };

    static SentinelOptions validated(SentinelOptions options) {
        options.validate();
        return options;
    }

    std::shared_ptr<const Master> current() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return master_;
    }

    std::shared_ptr<const Master> current_or_discover() {
        if (auto m = current()) return m;
        discover(Discover::if_due);
        if (auto m = current()) return m;
        throw IoError(no_master_message());
    }

    std::string no_master_message() const {
        std::lock_guard<std::mutex> lock(error_mutex_);
        return "redis sentinel: no master known for '" + options_.master_name + "'" +
               (last_error_.empty() ? std::string() : " (" + last_error_ + ")");
    }

    // Asks the sentinels, preferred one first; installs the first server
    // named whose ROLE is master. Unless `how` is now, rate-limited and
    // skipped while another thread is discovering.
    bool discover(Discover how) {
        std::unique_lock<std::mutex> lock(discover_mutex_, std::defer_lock);
        if (how == Discover::now) {
            lock.lock();
        } else if (!lock.try_lock()) {
            return false;
        }
        const auto now = Clock::now();
        if (how == Discover::if_due && last_discovery_ && now - *last_discovery_ < options_.resolve_interval) {
            return false;
        }
        last_discovery_ = now;

        std::string errors;
        const std::size_t n = options_.sentinels.size();
        for (std::size_t k = 0; k < n; ++k) {
            const std::size_t index = (preferred_ + k) % n;
            const NodeAddress& sentinel = options_.sentinels[index];
            std::optional<NodeAddress> named;
            try {
                ConnectionOptions so = sentinel.apply_to(options_.sentinel_connection);
                so.db = 0;
                Connection connection(std::move(so));
                const Reply reply = connection.command({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", options_.master_name});
                if (reply.is_nil() || !reply.is_array() || reply.size() != 2) {
                    errors += sentinel.to_string() + " does not know '" + options_.master_name + "'; ";
                    continue;
                }
                named = NodeAddress{reply.at(0).as_string(), std::stoi(reply.at(1).as_string())};
            } catch (const AuthError&) {
                throw;
            } catch (const std::exception& e) {
                errors += "sentinel " + sentinel.to_string() + ": " + e.what() + "; ";
                continue;
            }
            try {
                Connection probe(named->apply_to(options_.pool.connection));
                if (!is_master(probe)) {
                    counters_.role_mismatches.fetch_add(1, std::memory_order_relaxed);
                    errors += sentinel.to_string() + " named " + named->to_string() + ", which is not a master; ";
                    continue;
                }
            } catch (const AuthError&) {
                throw;
            } catch (const std::exception& e) {
                errors += named->to_string() + " (named by " + sentinel.to_string() + "): " + e.what() + "; ";
                continue;
            }
            preferred_ = index;
            install(*named);
            counters_.discoveries.fetch_add(1, std::memory_order_relaxed);
            std::lock_guard<std::mutex> error_lock(error_mutex_);
            last_error_.clear();
            return true;
        }
        std::lock_guard<std::mutex> error_lock(error_mutex_);
        last_error_ = errors;
        return false;
    }

    static bool is_master(Connection& connection) {
        const Reply role = connection.command({"ROLE"});
        return role.is_array() && role.size() > 0 && role.at(0).is_string() && role.at(0).view() == "master";
    }

    void install(const NodeAddress& address) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (master_ && master_->address == address) return;
        if (master_) counters_.master_changes.fetch_add(1, std::memory_order_relaxed);
        PoolOptions pool = options_.pool;
        pool.connection = address.apply_to(pool.connection);
        auto next = std::make_shared<Master>();
        next->address = address;
        next->pool = std::make_shared<ConnectionPool>(std::move(pool));
        pools_.push_back(next->pool);
        master_ = std::move(next);
    }

    // A lease on the master, checked with ROLE when the pool opened a
    // connection since the last check (one more round trip, after reconnects
    // only). Throws IoError (nothing was sent) when the master cannot be
    // reached or is not a master any more.
    ConnectionPool::Lease acquire(const Master& master) {
        ConnectionPool::Lease lease = master.pool->acquire();
        const std::uint64_t created = master.pool->connections_created();
        if (created != master.checked_created.load(std::memory_order_relaxed)) {
            if (!is_master(*lease)) {
                lease.discard();
                counters_.role_mismatches.fetch_add(1, std::memory_order_relaxed);
                throw NotMaster(master.address.to_string() + " is no longer a master");
            }
            master.checked_created.store(created, std::memory_order_relaxed);
        }
        return lease;
    }

    // True when the client is off `from` now, after another thread's
    // discovery or its own.
    bool moved_from(const std::shared_ptr<const Master>& from, Discover how) {
        auto now = current();
        if (now && now != from) return true;
        discover(how);
        now = current();
        return now && now != from;
    }

    template <class Fn>
    auto run(Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
        for (int attempt = 0;; ++attempt) {
            const auto master = current_or_discover();
            std::optional<ConnectionPool::Lease> lease;
            try {
                lease.emplace(acquire(*master));
            } catch (const PoolTimeout&) {
                throw;
            } catch (const NotMaster&) {
                if (attempt == 0 && moved_from(master, Discover::now)) {
                    counters_.retried.fetch_add(1, std::memory_order_relaxed);
                    continue;
                }
                throw;
            } catch (const IoError&) {
                // Nothing was sent: follow a failover if there was one.
                if (attempt == 0 && moved_from(master, Discover::if_due)) {
                    counters_.retried.fetch_add(1, std::memory_order_relaxed);
                    continue;
                }
                throw;
            }
            try {
                return fn(**lease);
            } catch (const ReplyError& e) {
                if (!e.is_readonly() || attempt != 0) throw;
                lease.reset();
                if (!moved_from(master, Discover::now)) throw;
                counters_.retried.fetch_add(1, std::memory_order_relaxed);
            } catch (const IoError&) {
                lease.reset();
                discover(Discover::if_due);
                throw;
            }
        }
    }

    // Runs a pipeline; commands answered READONLY (a demoted master) are
    // re-run once on the new master when discovery finds one.
    template <class CommandAt>
    std::vector<Reply> run_batch(std::size_t count, CommandAt&& command_at, const std::vector<const Script*>& scripts) {
        std::vector<Reply> replies = run([&](Connection& c) {
            return details::pipeline_with_script_recovery(c, count, command_at, scripts);
        });
        std::vector<std::size_t> readonly;
        for (std::size_t i = 0; i < replies.size(); ++i) {
            if (replies[i].is_error() && ReplyError::code_of(replies[i].error_message()) == "READONLY") {
                readonly.push_back(i);
            }
        }
        if (readonly.empty()) return replies;
        const auto before = current();
        if (!moved_from(before, Discover::now)) return replies;
        counters_.retried.fetch_add(readonly.size(), std::memory_order_relaxed);
        std::vector<Reply> again = run([&](Connection& c) {
            return details::pipeline_with_script_recovery(
                c, readonly.size(), [&](std::size_t k) -> const Command& { return command_at(readonly[k]); }, scripts);
        });
        for (std::size_t k = 0; k < readonly.size(); ++k) replies[readonly[k]] = std::move(again[k]);
        return replies;
    }

    const SentinelOptions options_;

    mutable std::mutex mutex_;
    std::shared_ptr<const Master> master_;
    std::vector<std::shared_ptr<ConnectionPool>> pools_;  // every pool used, for round_trips()

    std::mutex discover_mutex_;
    std::optional<Clock::time_point> last_discovery_;  // guarded by discover_mutex_
    std::size_t preferred_ = 0;                         // guarded by discover_mutex_

    mutable std::mutex error_mutex_;
    std::string last_error_;

    Counters counters_;
    std::unique_ptr<details::SwitchWatcher> watcher_;  // last: stopped before the rest goes
};

namespace details {

// The +switch-master listener of a SentinelClient: one thread, one raw
// hiredis subscriber connection (a Connection cannot read unsolicited
// messages), woken for shutdown through a pipe.
class SwitchWatcher {
public:
    explicit SwitchWatcher(SentinelClient& client) : client_(client) {
        if (::pipe(wake_) != 0) throw Error("redis sentinel: cannot create the watcher's wake-up pipe");
        ::fcntl(wake_[0], F_SETFL, O_NONBLOCK);
        ::fcntl(wake_[1], F_SETFL, O_NONBLOCK);
        ::fcntl(wake_[0], F_SETFD, FD_CLOEXEC);
        ::fcntl(wake_[1], F_SETFD, FD_CLOEXEC);
        thread_ = std::thread([this] { run(); });
    }
    ~SwitchWatcher() {
        stopping_.store(true);
        const char byte = 1;
        [[maybe_unused]] const auto written = ::write(wake_[1], &byte, 1);
        thread_.join();
        ::close(wake_[0]);
        ::close(wake_[1]);
    }
    SwitchWatcher(const SwitchWatcher&) = delete;
    SwitchWatcher& operator=(const SwitchWatcher&) = delete;

private:
    struct ContextFree {
        void operator()(redisContext* c) const noexcept { redisFree(c); }
    };
    struct ReplyFree {
        void operator()(void* r) const noexcept { freeReplyObject(r); }
    };
    using ContextPtr = std::unique_ptr<redisContext, ContextFree>;
    using ReplyPtr = std::unique_ptr<void, ReplyFree>;

    // Waits for `fd` to be readable (or just for the timeout when fd < 0);
    // false when woken for shutdown.
    bool wait(int fd, int timeout_ms) {
        pollfd fds[2] = {{wake_[0], POLLIN, 0}, {fd, POLLIN, 0}};
        ::poll(fds, fd >= 0 ? 2 : 1, timeout_ms);
        return !stopping_.load();
    }

    void run() {
        const auto& options = client_.options_;
        std::size_t next = 0;
        bool first = true;
        int pause_ms = 50;
        while (!stopping_.load()) {
            const NodeAddress& sentinel = options.sentinels[next++ % options.sentinels.size()];
            try {
                ContextPtr c = subscribe(sentinel, options.sentinel_connection);
                if (c) {
                    pause_ms = 50;
                    // Whatever happened while we were not listening.
                    if (!first) client_.discover(SentinelClient::Discover::now);
                    first = false;
                    listen(c.get());
                }
            } catch (...) {
                // Configuration or auth problems also show up on the command
                // path; the watcher only keeps trying.
            }
            if (!wait(-1, pause_ms)) return;
            pause_ms = std::min(pause_ms * 2, 1000);
        }
    }

    ContextPtr subscribe(const NodeAddress& sentinel, const ConnectionOptions& options) {
        timeval tv{};
        tv.tv_sec = static_cast<decltype(tv.tv_sec)>(options.connect_timeout.count() / 1000);
        tv.tv_usec = static_cast<decltype(tv.tv_usec)>((options.connect_timeout.count() % 1000) * 1000);
        ContextPtr c(redisConnectWithTimeout(sentinel.host.c_str(), sentinel.port, tv));
        if (!c || c->err != 0) return nullptr;
        redisSetTimeout(c.get(), tv);
        redisEnableKeepAlive(c.get());
        auto run = [&c](std::vector<std::string> argv) {
            std::vector<const char*> ptrs;
            std::vector<std::size_t> lens;
            for (const auto& a : argv) {
                ptrs.push_back(a.data());
                lens.push_back(a.size());
            }
            ReplyPtr r(redisCommandArgv(c.get(), static_cast<int>(ptrs.size()), ptrs.data(), lens.data()));
            return r && static_cast<redisReply*>(r.get())->type != REDIS_REPLY_ERROR;
        };
        if (options.password) {
            const bool ok = options.username.empty() ? run({"AUTH", *options.password})
                                                     : run({"AUTH", options.username, *options.password});
            if (!ok) return nullptr;
        }
        if (!run({"SUBSCRIBE", "+switch-master"})) return nullptr;
        // Messages arrive whenever the sentinels decide: no read timeout.
        redisSetTimeout(c.get(), timeval{0, 0});
        return c;
    }

    // Handles messages until the connection fails or the watcher stops.
    void listen(redisContext* c) {
        const std::string prefix = client_.options_.master_name + " ";
        while (!stopping_.load()) {
            void* raw = nullptr;
            if (redisGetReplyFromReader(c, &raw) != REDIS_OK) return;
            if (raw != nullptr) {
                ReplyPtr owned(raw);
                const auto* r = static_cast<const redisReply*>(raw);
                // ["message", "+switch-master", "<name> <old ip> <old port> <new ip> <new port>"]
                if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[2]->type == REDIS_REPLY_STRING) {
                    const std::string_view payload(r->element[2]->str, static_cast<std::size_t>(r->element[2]->len));
                    if (payload.substr(0, prefix.size()) == prefix) {
                        client_.counters_.switch_notices.fetch_add(1, std::memory_order_relaxed);
                        client_.discover(SentinelClient::Discover::now);
                    }
                }
                continue;
            }
            if (!wait(c->fd, 5000)) return;
            pollfd probe{c->fd, POLLIN, 0};
            if (::poll(&probe, 1, 0) > 0 && redisBufferRead(c) != REDIS_OK) return;
        }
    }

    SentinelClient& client_;
    int wake_[2] = {-1, -1};
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace details

inline SentinelClient::SentinelClient(SentinelOptions options) : options_(validated(std::move(options))) {
    discover(Discover::now);
    if (options_.watch == MasterWatch::subscribe) watcher_ = std::make_unique<details::SwitchWatcher>(*this);
}

inline SentinelClient::~SentinelClient() { watcher_.reset(); }

}  // namespace dogpile::redis
