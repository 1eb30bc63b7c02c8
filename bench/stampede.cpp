// stampede: many callers ask for one key at the same moment, and the key's
// creator is slow. How many times does the creator run, and how long does
// everyone wait?
//
//   stampede                          64 threads, one cold key, memory backend
//   stampede --stale                  the key holds an expired value instead
//   stampede --naive                  plain cache-aside (get; if miss: create;
//                                     set), without the dogpile lock
//   stampede --redis URL              the Redis hash store (URL may be "local":
//                                     a throwaway redis-server)
//   stampede --procs 4 --threads 16 --redis URL
//                                     4 worker processes x 16 threads, with the
//                                     hash store's distributed lock
//   ... --poll-only                   the same without the lock's release
//                                     wake-ups: waiters only poll
//   --creator-ms MS (default 100), --json (one JSON object on stdout)
//
// Waits are measured from the moment all callers are released together to
// the moment each call returns; wall time is until the last one returns.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <dogpile/backends/memory.hpp>
#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/values.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/region.hpp>

#include "support/json.hpp"
#include "support/permissions.hpp"
#include "support/redis.hpp"
#include "support/timing.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::bench::SteadyClock;
using dogpile::bench::to_ms;
using dogpile::codec::Flags;
namespace redis = dogpile::redis;

enum class Strategy { dogpile, naive };
enum class KeyState { cold, stale };

struct Options {
    std::size_t threads = 64;  // per process with --procs
    std::size_t procs = 0;     // 0: callers are threads of this process
    std::chrono::milliseconds creator{100};
    KeyState key = KeyState::cold;
    Strategy strategy = Strategy::dogpile;
    std::optional<std::string> redis;  // URL, or "local"
    bool json = false;
    bool poll_only = false;                 // the distributed lock without its release wake-ups
    std::optional<std::string> worker_run;  // hidden: this process is worker of run <id>

    std::size_t callers() const { return threads * std::max<std::size_t>(procs, 1); }
};

[[noreturn]] void usage(const std::string& error) {
    std::cerr << "stampede: " << error << "\n"
              << "usage: stampede [--threads N] [--creator-ms MS] [--stale] [--naive] [--json]\n"
              << "                [--redis URL|local [--procs P [--poll-only]]]\n"
              << "  --threads N      callers (per process with --procs), default 64\n"
              << "  --creator-ms MS  how long the creator takes, default 100\n"
              << "  --stale          the key holds an expired value (default: no value at all)\n"
              << "  --naive          cache-aside without the dogpile lock, for comparison\n"
              << "  --redis URL      use the Redis hash store at URL (redis://host:port, unix:///path);\n"
              << "                   'local' starts a throwaway redis-server\n"
              << "  --procs P        P worker processes of --threads callers each, with the distributed lock\n"
              << "  --poll-only      waiters on the distributed lock poll only (LockOptions::wake_on_release off)\n"
              << "  --json           print one JSON object instead of the table\n";
    std::exit(2);
}

std::size_t parse_count(const char* text, const char* option) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0' || value == 0 || value > 100000)
        usage(std::string(option) + " needs a number in 1..100000");
    return static_cast<std::size_t>(value);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage(std::string(arg) + " needs a value");
            return argv[++i];
        };
        if (arg == "--threads") {
            o.threads = parse_count(value(), "--threads");
        } else if (arg == "--procs") {
            o.procs = parse_count(value(), "--procs");
        } else if (arg == "--creator-ms") {
            o.creator = std::chrono::milliseconds(parse_count(value(), "--creator-ms"));
        } else if (arg == "--stale") {
            o.key = KeyState::stale;
        } else if (arg == "--poll-only") {
            o.poll_only = true;
        } else if (arg == "--naive") {
            o.strategy = Strategy::naive;
        } else if (arg == "--redis") {
            o.redis = value();
        } else if (arg == "--json") {
            o.json = true;
        } else if (arg == "--worker") {
            o.worker_run = value();
        } else if (arg == "--help" || arg == "-h") {
            usage("measures a cache stampede");
        } else {
            usage("unknown argument '" + std::string(arg) + "'");
        }
    }
    if (o.procs > 0 && !o.redis) usage("--procs needs --redis: processes share the cache through Redis");
    if (o.worker_run && (!o.redis || *o.redis == "local")) usage("--worker needs --redis URL");
    return o;
}

// --- the callers ------------------------------------------------------------

// What one process's callers measured.
struct Waits {
    std::vector<double> ms;        // per caller, from the release to its return
    std::size_t errors = 0;        // calls that threw
    std::int64_t released_us = 0;  // wall clock (us since the epoch) of the release
    double wall_ms = 0;            // from the release to the last return
    // Commands the server ran between the release and the last return
    // (INFO commandstats; distributed runs only), all and those of the locks.
    std::optional<std::uint64_t> commands, lock_commands;
};

std::int64_t wall_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(dogpile::WallClock::now().time_since_epoch()).count();
}

// Runs `threads` callers of `key`, parked at a gate. `before_release` runs
// once all are parked (a worker uses it to wait for the other processes).
template <class Key>
Waits run_callers(dogpile::Region<Flags, Key>& region, const Key& key, const Options& o,
                  const std::function<void()>& count_creation, const std::function<void()>& before_release) {
    const auto creator = [&] {
        count_creation();
        std::this_thread::sleep_for(o.creator);
        return dogpile::bench::make_flags(42);
    };
    dogpile::bench::StartGate gate(o.threads);
    Waits waits;
    waits.ms.assign(o.threads, 0.0);
    std::vector<SteadyClock::time_point> returned(o.threads);
    std::atomic<std::size_t> errors{0};
    std::atomic<bool> abandoned{false};
    std::vector<std::thread> callers;
    const auto call = [&](std::size_t t) {
        gate.arrive_and_wait();
        if (abandoned.load()) return;
        try {
            if (o.strategy == Strategy::dogpile) {
                region.get_or_create(key, creator);
            } else {
                std::optional<Flags> value = region.get(key);
                if (!value) region.set(key, creator());
            }
        } catch (const std::exception& e) {
            errors.fetch_add(1);
            std::cerr << "stampede: a caller failed: " << e.what() << "\n";
        }
        returned[t] = SteadyClock::now();
    };
    SteadyClock::time_point start;
    try {
        for (std::size_t t = 0; t < o.threads; ++t) callers.emplace_back(call, t);
        gate.wait_for_all();
        before_release();
        waits.released_us = wall_us();
        start = gate.open();
    } catch (...) {
        abandoned.store(true);
        gate.abandon();
        for (auto& thread : callers) thread.join();
        throw;
    }
    for (auto& thread : callers) thread.join();
    for (std::size_t t = 0; t < o.threads; ++t) waits.ms[t] = to_ms(returned[t] - start);
    waits.wall_ms = *std::max_element(waits.ms.begin(), waits.ms.end());
    waits.errors = errors.load();
    return waits;
}

// Long enough for any creator, short enough that a lost lock cannot hang the tool.
std::chrono::milliseconds lock_timeout(const Options& o) {
    return std::max<std::chrono::milliseconds>(30s, o.creator * 10);
}

dogpile::RegionOptions memory_region_options(const Options& o) {
    dogpile::RegionOptions options;
    options.lock_timeout = lock_timeout(o);
    if (o.key == KeyState::stale) options.expiration_time = 1h;
    return options;
}

// A value created two hours ago: expired for a region with a one-hour expiration_time.
dogpile::CachedValue<Flags> expired_entry() {
    return {dogpile::bench::make_flags(41), dogpile::Metadata::created_now(dogpile::WallClock::now() - 2h)};
}

Waits run_memory(const Options& o, std::int64_t& creator_calls) {
    auto backend = std::make_shared<dogpile::MemoryBackend<Flags>>();
    dogpile::Region<Flags> region(backend, memory_region_options(o));
    const std::string key = "permissions|7|42";
    if (o.key == KeyState::stale) backend->set(key, expired_entry());
    std::atomic<std::int64_t> calls{0};
    const auto count_creation = [&] { calls.fetch_add(1); };
    Waits waits = run_callers<std::string>(region, key, o, count_creation, [] {});
    creator_calls = calls.load();
    return waits;
}

// --- Redis --------------------------------------------------------------------

// The Redis keys of one run: unique per run, so runs never see each other's data.
struct RunKeys {
    explicit RunKeys(std::string run_id)
        : run(std::move(run_id)),
          entry(dogpile::HashKeyScheme("calculated-a|stampede-").key(run, 42)),
          creations("stampede|" + run + "|creator-calls"),
          ready("stampede|" + run + "|ready"),
          go("stampede|" + run + "|go") {}

    std::string run;
    redis::HashKey entry;
    std::string creations;  // INCRed by every creator call, in any process
    std::string ready;      // INCRed by each worker once its callers are parked
    std::string go;         // a list: one token per worker releases it
};

std::string new_run_id() {
    std::ostringstream id;
    id << std::hex << ::getpid() << '-' << SteadyClock::now().time_since_epoch().count();
    return id.str();
}

// Cold keys use the library's default raw payload (values-only msgpack; the
// hash's TTL does the expiring). An expired value needs the region to see its
// age, so stale runs store the envelope payload.
enum class Locking { in_process, distributed };

std::shared_ptr<dogpile::RedisHashBackend<Flags, dogpile::codec::FlagsCodec>> make_redis_backend(
    std::shared_ptr<redis::Client> client, const Options& o, Locking locking) {
    dogpile::RedisHashBackendOptions options;
    options.client = std::move(client);
    options.ttl = 1h;
    if (o.key == KeyState::stale) options.payload = redis::PayloadMode::envelope;
    if (locking == Locking::distributed) {
        redis::LockOptions lock;
        lock.ttl = lock_timeout(o);
        lock.wake_on_release = !o.poll_only;
        options.distributed_lock = lock;
    }
    return std::make_shared<dogpile::RedisHashBackend<Flags, dogpile::codec::FlagsCodec>>(
        options, dogpile::codec::FlagsCodec(dogpile::bench::permission_template()));
}

enum class Warm { no, yes };

// With Warm::yes every pooled connection is opened up front: the run measures
// the stampede, not connection setup.
std::shared_ptr<redis::Client> make_client(const std::string& url, const Options& o, Warm warm = Warm::no) {
    redis::PoolOptions options;
    options.connection = redis::ConnectionOptions::from_url(url);
    options.size = o.threads + 1;  // every caller can hold a connection; nobody queues for one
    options.acquire_timeout = 10s;
    auto pool = std::make_shared<redis::ConnectionPool>(options);
    if (warm == Warm::yes) {
        std::vector<redis::ConnectionPool::Lease> leases;
        for (std::size_t i = 0; i < options.size; ++i) leases.push_back(pool->acquire());
    }
    return std::make_shared<redis::SingleServerClient>(pool);
}

dogpile::RegionOptions redis_region_options(const Options& o) {
    dogpile::RegionOptions options;
    options.lock_timeout = lock_timeout(o);
    options.on_backend_error = dogpile::BackendErrorPolicy::raise;  // a benchmark must not hide errors
    if (o.key == KeyState::stale) options.expiration_time = 1h;
    return options;
}

void seed_redis(const std::string& url, const Options& o, const RunKeys& keys) {
    auto client = make_client(url, o);
    client->command(keys.entry.hash, {"DEL", keys.entry.hash});
    if (o.key == KeyState::stale) make_redis_backend(client, o, Locking::in_process)->set(keys.entry, expired_entry());
}

void clean_up_redis(const std::string& url, const Options& o, const RunKeys& keys) {
    auto client = make_client(url, o);
    for (const auto& key : {keys.entry.hash, keys.creations, keys.ready, keys.go}) client->command(key, {"DEL", key});
}

std::int64_t creator_calls_in(redis::Client& client, const RunKeys& keys) {
    const redis::Reply reply = client.command(keys.creations, {"GET", keys.creations});
    return reply.is_nil() ? 0 : std::stoll(reply.as_string());
}

// All callers in this process; creations counted in Redis like the workers do.
Waits run_redis_threads(const Options& o, const std::string& url, std::int64_t& creator_calls) {
    const RunKeys keys(new_run_id());
    seed_redis(url, o, keys);
    auto client = make_client(url, o, Warm::yes);
    dogpile::Region<Flags, redis::HashKey> region(make_redis_backend(client, o, Locking::in_process),
                                                  redis_region_options(o));
    const auto count_creation = [&] { client->command(keys.creations, {"INCR", keys.creations}); };
    Waits waits = run_callers<redis::HashKey>(region, keys.entry, o, count_creation, [] {});
    creator_calls = creator_calls_in(*client, keys);
    clean_up_redis(url, o, keys);
    return waits;
}

// --- worker processes -----------------------------------------------------------
//
// The parent execs itself P times with the hidden --worker <run> flag. Each
// worker parks its callers, INCRs `ready`, blocks on BLPOP `go`, releases its
// callers when the parent pushes the tokens, and writes what it measured to
// stdout (a pipe to the parent):
//   released_us <wall-clock us>
//   errors <n>
//   waits <ms> <ms> ...

int worker_main(const Options& o) {
    const std::string& url = *o.redis;
    const RunKeys keys(*o.worker_run);
    auto client = make_client(url, o, Warm::yes);
    dogpile::Region<Flags, redis::HashKey> region(make_redis_backend(client, o, Locking::distributed),
                                                  redis_region_options(o));

    // BLPOP blocks longer than a command normally may.
    redis::ConnectionOptions signal_options = redis::ConnectionOptions::from_url(url);
    signal_options.command_timeout = 35s;
    redis::Connection signals(signal_options);

    const auto count_creation = [&] { client->command(keys.creations, {"INCR", keys.creations}); };
    const auto wait_for_go = [&] {
        signals.command({"INCR", keys.ready});
        if (signals.command({"BLPOP", keys.go, "30"}).is_nil()) {
            throw std::runtime_error("no start signal from the parent within 30 s");
        }
    };
    const Waits waits = run_callers<redis::HashKey>(region, keys.entry, o, count_creation, wait_for_go);
    std::cout << "released_us " << waits.released_us << "\nerrors " << waits.errors << "\nwaits";
    for (const double ms : waits.ms) std::cout << ' ' << ms;
    std::cout << std::endl;
    return 0;
}

struct Worker {
    pid_t pid = -1;
    int out = -1;  // read end of the worker's stdout
    std::string report;
};

std::string self_path() {
    std::vector<char> buffer(4096);
    const ssize_t n = ::readlink("/proc/self/exe", buffer.data(), buffer.size() - 1);
    if (n <= 0) throw std::runtime_error(std::string("readlink(/proc/self/exe): ") + std::strerror(errno));
    return std::string(buffer.data(), static_cast<std::size_t>(n));
}

// fork + exec of this program: the child never runs anything of the parent but exec.
Worker spawn_worker(const std::string& exe, const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(exe.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // no stray workers if the parent dies
        if (::getppid() != parent) ::_exit(127);
        ::dup2(fds[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copy
        ::execv(exe.c_str(), argv.data());
        ::_exit(127);
    }
    ::close(fds[1]);
    return Worker{pid, fds[0], {}};
}

void kill_workers(std::vector<Worker>& workers) {
    for (auto& w : workers) {
        if (w.pid > 0) {
            ::kill(w.pid, SIGKILL);
            ::waitpid(w.pid, nullptr, 0);
            w.pid = -1;
        }
        if (w.out >= 0) ::close(w.out);
        w.out = -1;
    }
}

// Throws if a worker has already exited (it failed before it was released).
void check_workers_alive(std::vector<Worker>& workers) {
    for (auto& w : workers) {
        int status = 0;
        if (::waitpid(w.pid, &status, WNOHANG) == w.pid) {
            w.pid = -1;
            throw std::runtime_error("a worker process exited early (status " + std::to_string(status) +
                                     "); its error is above");
        }
    }
}

// Reads every worker's report until EOF, or throws at the deadline.
void collect_reports(std::vector<Worker>& workers, SteadyClock::time_point deadline) {
    std::size_t open = workers.size();
    while (open > 0) {
        std::vector<pollfd> fds;  // a closed one is -1, which poll() skips
        for (const auto& w : workers) fds.push_back(pollfd{w.out, POLLIN, 0});
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
        if (left.count() <= 0) throw std::runtime_error("the workers did not finish in time");
        if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) {
            throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
        }
        for (std::size_t i = 0; i < workers.size(); ++i) {
            if (workers[i].out < 0 || fds[i].revents == 0) continue;
            char buffer[4096];
            const ssize_t n = ::read(workers[i].out, buffer, sizeof buffer);
            if (n > 0) {
                workers[i].report.append(buffer, static_cast<std::size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                ::close(workers[i].out);
                workers[i].out = -1;
                --open;
            }
        }
    }
    for (auto& w : workers) {
        int status = 0;
        ::waitpid(w.pid, &status, 0);
        w.pid = -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            throw std::runtime_error("a worker process failed (status " + std::to_string(status) + ")");
        }
    }
}

// Parses a worker's report into `into`; returns the worker's last return as wall-clock us.
std::int64_t merge_report(const std::string& report, Waits& into) {
    std::istringstream in(report);
    std::string word;
    std::int64_t released_us = 0;
    std::size_t errors = 0;
    double last_ms = 0;
    if (!(in >> word >> released_us) || word != "released_us" || !(in >> word >> errors) || word != "errors" ||
        !(in >> word) || word != "waits") {
        throw std::runtime_error("malformed worker report: " + report);
    }
    for (double ms = 0; in >> ms;) {
        into.ms.push_back(ms);
        last_ms = std::max(last_ms, ms);
    }
    into.errors += errors;
    return released_us + static_cast<std::int64_t>(last_ms * 1000.0);
}

// Per-command call counts from INFO commandstats ("cmdstat_set:calls=12,...").
std::map<std::string, std::uint64_t> command_calls(redis::Client& client, std::string_view routing_key) {
    const std::string info = client.command(routing_key, {"INFO", "commandstats"}).as_string();
    std::map<std::string, std::uint64_t> calls;
    std::istringstream in(info);
    for (std::string line; std::getline(in, line);) {
        const std::string_view prefix = "cmdstat_";
        const auto colon = line.find(':');
        const auto at = line.find("calls=");
        if (line.rfind(prefix, 0) != 0 || colon == std::string::npos || at == std::string::npos) continue;
        calls[line.substr(prefix.size(), colon - prefix.size())] = std::stoull(line.substr(at + 6));
    }
    return calls;
}

// The lock's commands: SET NX + PTTL per attempt, the release script, and the
// wake-up subscription (docs/architecture.md, "Lock wake-up").
bool is_lock_command(const std::string& name) {
    return name == "set" || name == "pttl" || name == "evalsha" || name == "eval" || name == "subscribe" ||
           name == "publish" || name == "script|load";
}

Waits run_redis_processes(const Options& o, const std::string& url, std::int64_t& creator_calls) {
    const RunKeys keys(new_run_id());
    seed_redis(url, o, keys);
    auto client = make_client(url, o);

    std::vector<std::string> args{"--worker",     keys.run,
                                  "--redis",      url,
                                  "--threads",    std::to_string(o.threads),
                                  "--creator-ms", std::to_string(o.creator.count())};
    if (o.key == KeyState::stale) args.emplace_back("--stale");
    if (o.strategy == Strategy::naive) args.emplace_back("--naive");
    if (o.poll_only) args.emplace_back("--poll-only");
    const std::string exe = self_path();
    std::vector<Worker> workers;
    Waits waits;
    try {
        for (std::size_t p = 0; p < o.procs; ++p) workers.push_back(spawn_worker(exe, args));

        const auto ready_deadline = SteadyClock::now() + 30s;
        for (;;) {
            const redis::Reply ready = client->command(keys.ready, {"GET", keys.ready});
            if (!ready.is_nil() && std::stoull(ready.as_string()) == o.procs) break;
            check_workers_alive(workers);
            if (SteadyClock::now() > ready_deadline) throw std::runtime_error("the workers did not get ready in 30 s");
            std::this_thread::sleep_for(5ms);
        }
        const auto calls_before = command_calls(*client, keys.go);
        waits.released_us = wall_us();
        redis::Command go{"RPUSH", keys.go};
        for (std::size_t p = 0; p < o.procs; ++p) go.arg("go");
        client->command(keys.go, go);

        collect_reports(workers, SteadyClock::now() + 60s + o.creator * 10);
        // Less the INFO itself and the RPUSH that released the workers.
        std::uint64_t all = 0, lock = 0;
        for (const auto& [name, n] : command_calls(*client, keys.go)) {
            const auto before = calls_before.find(name);
            const std::uint64_t delta = n - (before == calls_before.end() ? 0 : before->second);
            all += delta;
            if (is_lock_command(name)) lock += delta;
        }
        waits.commands = all - 2;
        waits.lock_commands = lock;
    } catch (...) {
        kill_workers(workers);
        clean_up_redis(url, o, keys);
        throw;
    }
    std::int64_t last_return_us = waits.released_us;
    for (const auto& w : workers) last_return_us = std::max(last_return_us, merge_report(w.report, waits));
    // The wall time counts from the parent's go; each worker's waits from its own release.
    waits.wall_ms = static_cast<double>(last_return_us - waits.released_us) / 1000.0;
    creator_calls = creator_calls_in(*client, keys);
    clean_up_redis(url, o, keys);
    return waits;
}

// --- report -------------------------------------------------------------------

struct Result {
    std::string backend;
    std::size_t callers = 0;
    std::int64_t creator_calls = 0;
    std::size_t errors = 0;
    double wall_ms = 0;
    double p50 = 0, p99 = 0, max = 0;
    std::optional<std::uint64_t> commands, lock_commands;
};

std::string describe_mode(const Options& o) {
    return std::string(o.strategy == Strategy::dogpile ? "dogpile" : "naive") + "/" +
           (o.key == KeyState::cold ? "cold" : "stale");
}

void print(const Options& o, const Result& r) {
    const double creator_ms = static_cast<double>(o.creator.count());
    if (o.json) {
        dogpile::bench::JsonObject out;
        out.add("mode", o.strategy == Strategy::dogpile ? "dogpile" : "naive")
            .add("key", o.key == KeyState::cold ? "cold" : "stale")
            .add("backend", r.backend)
            .add("processes", std::max<std::size_t>(o.procs, 1))
            .add("threads_per_process", o.threads)
            .add("callers", r.callers)
            .add("creator_calls", r.creator_calls)
            .add("creator_ms", creator_ms)
            .add("wall_ms", r.wall_ms)
            .add("wall_over_creator", r.wall_ms / creator_ms)
            .add("p50_wait_ms", r.p50)
            .add("p99_wait_ms", r.p99)
            .add("max_wait_ms", r.max)
            .add("errors", r.errors)
            .add("wake_on_release", o.procs > 0 && !o.poll_only);
        if (r.commands) {
            out.add("redis_commands_per_caller", static_cast<double>(*r.commands) / static_cast<double>(r.callers))
                .add("lock_commands_per_caller",
                     static_cast<double>(*r.lock_commands) / static_cast<double>(r.callers));
        }
        std::cout << out.str() << std::endl;
        return;
    }
    auto row = [](const std::string& name, const std::string& value) {
        std::cout << "  " << std::left << std::setw(16) << name << value << "\n";
    };
    auto ms = [](double value) {
        std::ostringstream s;
        s << std::fixed << std::setprecision(1) << value << " ms";
        return s.str();
    };
    std::ostringstream ratio;
    ratio << std::fixed << std::setprecision(2) << r.wall_ms / creator_ms << "x the creator's " << o.creator.count()
          << " ms";
    std::cout << "stampede: " << r.callers << " callers ask for one "
              << (o.key == KeyState::cold ? "missing" : "expired") << " key at once\n";
    row("mode", describe_mode(o) +
                    (o.strategy == Strategy::dogpile ? "  (Region::get_or_create)" : "  (get; if miss: create; set)"));
    row("backend", r.backend);
    row("callers", std::to_string(r.callers) + (o.procs > 0 ? "  (" + std::to_string(o.procs) + " processes x " +
                                                                  std::to_string(o.threads) + " threads)"
                                                            : "  (threads)"));
    row("creator calls", std::to_string(r.creator_calls));
    row("wall time", ms(r.wall_ms) + "  (" + ratio.str() + ")");
    row("wait p50", ms(r.p50));
    row("wait p99", ms(r.p99));
    row("wait max", ms(r.max));
    if (r.commands) {
        std::ostringstream per;
        per << std::fixed << std::setprecision(2) << static_cast<double>(*r.commands) / static_cast<double>(r.callers)
            << " per caller (lock: " << static_cast<double>(*r.lock_commands) / static_cast<double>(r.callers) << ")";
        row("redis commands", per.str());
    }
    if (r.errors > 0) row("errors", std::to_string(r.errors) + " (see above)");
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    try {
        if (o.worker_run) return worker_main(o);

        std::unique_ptr<dogpile::bench::RedisServer> server;
        std::string url;
        if (o.redis && *o.redis == "local") {
            std::string why;
            server = dogpile::bench::start_redis(why);
            if (!server) {
                std::cerr << "stampede: cannot start a local redis-server: " << why << "\n";
                return 3;
            }
            url = server->url();
        } else if (o.redis) {
            url = *o.redis;
        }

        Result r;
        std::int64_t creator_calls = 0;
        Waits waits;
        if (!o.redis) {
            r.backend = "memory";
            waits = run_memory(o, creator_calls);
        } else if (o.procs == 0) {
            r.backend = "redis-hash";
            waits = run_redis_threads(o, url, creator_calls);
        } else {
            r.backend = o.strategy == Strategy::dogpile ? "redis-hash + distributed lock" : "redis-hash";
            waits = run_redis_processes(o, url, creator_calls);
        }
        r.wall_ms = waits.wall_ms;
        r.callers = waits.ms.size();
        r.creator_calls = creator_calls;
        r.errors = waits.errors;
        r.commands = waits.commands;
        r.lock_commands = waits.lock_commands;
        r.p50 = dogpile::bench::percentile(waits.ms, 50);
        r.p99 = dogpile::bench::percentile(waits.ms, 99);
        r.max = *std::max_element(waits.ms.begin(), waits.ms.end());
        print(o, r);
        return r.errors == 0 ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "stampede: " << e.what() << "\n";
        return 1;
    }
}
