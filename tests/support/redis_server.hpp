#pragma once
// RedisServer: a real redis-server for one test (or one test suite), on a
// free loopback port and/or a unix socket in a fresh temporary directory,
// with persistence off. Stopped (SIGTERM, then SIGKILL) in the destructor.
//
//   dogpile::test::RedisServer server;                 // TCP + unix socket
//   auto client = dogpile::redis::make_client(server.url());
//   server.kill(); server.start();                     // crash, same port
//   server.pause(); ... server.resume();               // SIGSTOP / SIGCONT
//
// TLS mode (RedisServerOptions::tls): the TCP port speaks TLS only
// (--tls-port, --port 0) and the unix socket stays plaintext, so readiness
// checks and raw() go through the socket. url() and options() then describe
// a TLS client trusting the given CA. tls_server_options() makes one with
// the throwaway certificates of tls_certificates.hpp; DOGPILE_TEST_REDIS_TLS=1
// turns shared() (and shared_options()) into TLS mode for a whole suite.
//
// redis-server missing is a hard failure (an exception), never a skip: the
// Redis tests are the point of this project.
//
// raw_command() talks to the server with plain hiredis, independent of the
// library under test, so tests can check what the library wrote.

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <dogpile/redis/options.hpp>

#include "tls_certificates.hpp"

namespace dogpile::test {

struct RedisAclUser {
    std::string name;
    std::string password;
    // ACL SETUSER rules after "on >password"; the default grants everything.
    std::vector<std::string> rules{"~*", "&*", "+@all"};
};

struct RedisServerOptions {
    enum class Listen { Tcp, Unix, TcpAndUnix };
    Listen listen = Listen::TcpAndUnix;
    // --requirepass: the default user's password.
    std::optional<std::string> password;
    // Created with ACL SETUSER after every start (they do not survive a restart).
    std::vector<RedisAclUser> acl_users;
    // Appended to the command line, e.g. {"--maxmemory", "10mb"}.
    std::vector<std::string> extra_args;
    // Arguments that name ports of their own (a cluster node's bus port):
    // called again whenever the constructor retries on a port that was taken,
    // so every port is picked anew; restarts keep what it returned last.
    std::function<std::vector<std::string>()> port_args;
    // When set, written to <dir>/redis.conf before the first start and given
    // to the server as its config file (Sentinel needs one it can rewrite;
    // restarts keep what the server wrote there).
    std::optional<std::string> config_text;
    std::chrono::milliseconds startup_timeout{15000};

    // TLS on the TCP port (Listen::TcpAndUnix required). Paths to PEM files.
    struct Tls {
        std::string cert_file;
        std::string key_file;
        std::string ca_file;        // the CA clients' certificates must chain to, and the one url() trusts
        bool auth_clients = false;  // tls-auth-clients: require a client certificate
    };
    std::optional<Tls> tls;
};

// A reply read with plain hiredis, copied out.
struct RawReply {
    int type = 0;  // REDIS_REPLY_*
    std::string str;
    long long integer = 0;
    std::vector<RawReply> elements;

    bool is_error() const { return type == REDIS_REPLY_ERROR; }
    bool is_nil() const { return type == REDIS_REPLY_NIL; }
};

namespace redis_server_details {

inline std::string find_redis_server() {
    if (const char* env = std::getenv("DOGPILE_REDIS_SERVER"); env != nullptr && *env != '\0') {
        if (::access(env, X_OK) == 0) return env;
        throw std::runtime_error(std::string("DOGPILE_REDIS_SERVER=") + env + " is not an executable");
    }
    std::vector<std::string> dirs;
    if (const char* path = std::getenv("PATH"); path != nullptr) {
        std::stringstream ss(path);
        std::string dir;
        while (std::getline(ss, dir, ':')) {
            if (!dir.empty()) dirs.push_back(dir);
        }
    }
    for (const char* d : {"/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"}) dirs.emplace_back(d);
    for (const auto& dir : dirs) {
        const std::string candidate = dir + "/redis-server";
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    throw std::runtime_error(
        "redis-server not found: install it with `apt-get install redis-server` (or run scripts/setup.sh)");
}

// Asks the kernel for a free loopback port. Another process could take it
// before redis-server binds it; start() retries with a new port if so.
inline int pick_free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket(): ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        const int e = errno;
        ::close(fd);
        throw std::runtime_error(std::string("cannot pick a free port: ") + std::strerror(e));
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

inline RawReply copy_reply(const redisReply* r) {
    RawReply out;
    out.type = r->type;
    out.integer = r->integer;
    if (r->str != nullptr) out.str.assign(r->str, static_cast<std::size_t>(r->len));
    for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy_reply(r->element[i]));
    return out;
}

struct ContextFree {
    void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextFree>;

inline RawReply raw_on(redisContext* c, const std::vector<std::string>& argv) {
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    for (const auto& a : argv) {
        ptrs.push_back(a.data());
        lens.push_back(a.size());
    }
    auto* reply =
        static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(ptrs.size()), ptrs.data(), lens.data()));
    if (reply == nullptr) throw std::runtime_error(std::string("raw redis command failed: ") + c->errstr);
    RawReply out = copy_reply(reply);
    freeReplyObject(reply);
    return out;
}

}  // namespace redis_server_details

class RedisServer {
public:
    explicit RedisServer(RedisServerOptions options = {}) : options_(std::move(options)) {
        executable_ = redis_server_details::find_redis_server();
        char pattern[] = "/tmp/dogpile-redis-XXXXXX";  // short: unix socket paths are limited to 107 bytes
        if (::mkdtemp(pattern) == nullptr) {
            throw std::runtime_error(std::string("mkdtemp failed: ") + std::strerror(errno));
        }
        dir_ = pattern;
        if (options_.tls && options_.listen != RedisServerOptions::Listen::TcpAndUnix) {
            throw std::logic_error(
                "RedisServer: TLS mode needs Listen::TcpAndUnix (readiness is checked on the socket)");
        }
        if (options_.listen != RedisServerOptions::Listen::Tcp) socket_ = dir_ + "/redis.sock";
        try {
            for (int attempt = 0;; ++attempt) {
                if (options_.listen != RedisServerOptions::Listen::Unix) port_ = redis_server_details::pick_free_port();
                if (options_.port_args) port_args_ = options_.port_args();
                try {
                    start();
                    break;
                } catch (const std::exception&) {
                    // Most likely the port was taken between picking and binding.
                    if (attempt >= 4 || options_.listen == RedisServerOptions::Listen::Unix) throw;
                }
            }
        } catch (...) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
            throw;
        }
    }

    ~RedisServer() {
        try {
            stop();
        } catch (...) {
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    // One server shared by all tests of a binary that do not stop or pause it.
    // With DOGPILE_TEST_REDIS_TLS=1 in the environment it is a TLS server
    // (see shared_is_tls()): url() and options() then carry the TLS settings,
    // so every test written against shared() runs over TLS unchanged.
    static RedisServer& shared();
    // What shared() is started with: TLS options under DOGPILE_TEST_REDIS_TLS=1,
    // else the defaults. For suites whose tests each start their own server.
    static RedisServerOptions shared_options();
    static bool shared_is_tls() {
        const char* env = std::getenv("DOGPILE_TEST_REDIS_TLS");
        return env != nullptr && std::string(env) == "1";
    }

    int port() const noexcept { return port_; }                          // 0 when TCP is off
    const std::string& unix_socket() const noexcept { return socket_; }  // empty when off
    const std::string& dir() const noexcept { return dir_; }
    pid_t pid() const noexcept { return pid_; }
    bool running() const noexcept { return pid_ > 0; }
    const RedisServerOptions& server_options() const noexcept { return options_; }

    // redis://[:password@]127.0.0.1:port (the unix URL when TCP is off).
    std::string url() const {
        if (port_ == 0) return unix_url();
        if (options_.tls) {
            return "rediss://" + auth_part() + "127.0.0.1:" + std::to_string(port_) +
                   "?ca_file=" + options_.tls->ca_file;
        }
        return "redis://" + auth_part() + "127.0.0.1:" + std::to_string(port_);
    }
    std::string unix_url() const {
        if (socket_.empty()) throw std::logic_error("RedisServer: this server has no unix socket");
        return "unix://" + auth_part() + socket_;
    }

    // Options for dogpile::redis::Connection: TCP when on, else the socket;
    // with the default user's password when the server has one.
    dogpile::redis::ConnectionOptions options() const {
        if (port_ == 0) return unix_options();
        dogpile::redis::ConnectionOptions o;
        o.host = "127.0.0.1";
        o.port = port_;
        o.password = options_.password;
        if (options_.tls) {
            o.tls.emplace();
            o.tls->ca_file = options_.tls->ca_file;
        }
        return o;
    }
    dogpile::redis::ConnectionOptions unix_options() const {
        if (socket_.empty()) throw std::logic_error("RedisServer: this server has no unix socket");
        dogpile::redis::ConnectionOptions o;
        o.unix_socket = socket_;
        o.password = options_.password;
        return o;
    }

    // Starts the server (again) on the same port and socket and waits until it
    // answers. The data is gone: persistence is off.
    void start() {
        if (running()) throw std::logic_error("RedisServer::start: already running");
        std::vector<std::string> args{executable_};
        if (options_.config_text) {
            const std::string config = dir_ + "/redis.conf";
            if (!std::filesystem::exists(config)) {
                std::ofstream out(config);
                out << *options_.config_text;
                if (!out) throw std::runtime_error("cannot write " + config);
            }
            args.push_back(config);
        }
        args.insert(args.end(),
                    {"--bind", "127.0.0.1", "--port", std::to_string(port_), "--save", "", "--appendonly", "no",
                     "--dir", dir_, "--daemonize", "no", "--logfile", log_path(), "--protected-mode", "no"});
        if (!socket_.empty()) {
            args.insert(args.end(), {"--unixsocket", socket_, "--unixsocketperm", "700"});
        }
        if (options_.password) args.insert(args.end(), {"--requirepass", *options_.password});
        if (options_.tls) {
            args.insert(args.end(),
                        {"--port", "0", "--tls-port", std::to_string(port_), "--tls-cert-file", options_.tls->cert_file,
                         "--tls-key-file", options_.tls->key_file, "--tls-ca-cert-file", options_.tls->ca_file,
                         "--tls-auth-clients", options_.tls->auth_clients ? "yes" : "no"});
        }
        args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
        args.insert(args.end(), port_args_.begin(), port_args_.end());
        spawn(args);
        try {
            wait_until_ready();
            for (const auto& user : options_.acl_users) {
                std::vector<std::string> cmd{"ACL", "SETUSER", user.name, "reset", "on", ">" + user.password};
                cmd.insert(cmd.end(), user.rules.begin(), user.rules.end());
                const RawReply r = raw(cmd);
                if (r.is_error()) throw std::runtime_error("ACL SETUSER " + user.name + " failed: " + r.str);
            }
        } catch (...) {
            kill();
            throw;
        }
    }

    // SIGKILL: the server dies without closing anything gracefully (the kernel
    // still closes its sockets, so clients see EOF / connection reset).
    void kill() {
        if (!running()) return;
        ::kill(pid_, SIGCONT);
        ::kill(pid_, SIGKILL);
        reap();
    }

    // SIGTERM, then SIGKILL if it has not exited within 5 s.
    void stop() {
        if (!running()) return;
        ::kill(pid_, SIGCONT);
        ::kill(pid_, SIGTERM);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            const pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_ || (r < 0 && errno == ECHILD)) {
                pid_ = -1;
                paused_ = false;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        kill();
    }

    // kill() then start() on the same port and socket.
    void restart() {
        kill();
        start();
    }

    // SIGSTOP: the kernel still accepts connections and buffers requests, but
    // nothing is answered: the way to provoke client timeouts.
    void pause() {
        if (!running()) throw std::logic_error("RedisServer::pause: not running");
        if (::kill(pid_, SIGSTOP) != 0) throw std::runtime_error("SIGSTOP failed");
        // Wait until it is really stopped, so the test's next step is not raced.
        int status = 0;
        if (::waitpid(pid_, &status, WUNTRACED) != pid_ || !WIFSTOPPED(status)) {
            throw std::runtime_error("RedisServer::pause: the server did not stop");
        }
        paused_ = true;
    }
    void resume() {
        if (!running()) throw std::logic_error("RedisServer::resume: not running");
        ::kill(pid_, SIGCONT);
        paused_ = false;
    }
    bool paused() const noexcept { return paused_; }

    // A command through plain hiredis (as the default user, with the server
    // password), independent of the library under test.
    RawReply raw(const std::vector<std::string>& argv, int db = 0) const {
        redis_server_details::ContextPtr c = connect_raw(std::chrono::seconds(5));
        if (!c) throw std::runtime_error("raw redis connection failed: " + last_connect_error_);
        if (options_.password) {
            const RawReply auth = redis_server_details::raw_on(c.get(), {"AUTH", *options_.password});
            if (auth.is_error()) throw std::runtime_error("raw AUTH failed: " + auth.str);
        }
        if (db != 0) {
            const RawReply select = redis_server_details::raw_on(c.get(), {"SELECT", std::to_string(db)});
            if (select.is_error()) throw std::runtime_error("raw SELECT failed: " + select.str);
        }
        return redis_server_details::raw_on(c.get(), argv);
    }

    std::string log() const {
        std::ifstream in(log_path());
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

private:
    std::string log_path() const { return dir_ + "/redis.log"; }

    std::string auth_part() const {
        if (!options_.password) return {};
        std::string encoded;
        for (unsigned char ch : *options_.password) {
            if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
                encoded.push_back(static_cast<char>(ch));
            } else {
                static constexpr char hex[] = "0123456789ABCDEF";
                encoded += {'%', hex[ch >> 4], hex[ch & 15]};
            }
        }
        return ":" + encoded + "@";
    }

    void spawn(const std::vector<std::string>& args) {
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        const std::string out_path = dir_ + "/stdout.log";
        const pid_t parent = ::getpid();
        const pid_t child = ::fork();
        if (child < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
        if (child == 0) {
            // Only async-signal-safe calls from here to exec.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // no orphaned servers if the test binary dies
            if (::getppid() != parent) ::_exit(127);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            const int devnull = ::open("/dev/null", O_RDONLY);
            const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (devnull >= 0) ::dup2(devnull, 0);
            if (out >= 0) {
                ::dup2(out, 1);
                ::dup2(out, 2);
            }
#ifdef SYS_close_range
            if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
#endif
            {
                for (int fd = 3; fd < 4096; ++fd) ::close(fd);
            }
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        pid_ = child;
        paused_ = false;
    }

    void reap() {
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
        paused_ = false;
    }

    redis_server_details::ContextPtr connect_raw(std::chrono::milliseconds timeout) const {
        timeval tv{};
        tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
        tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
        redisContext* c = port_ != 0 && !options_.tls ? redisConnectWithTimeout("127.0.0.1", port_, tv)
                                                      : redisConnectUnixWithTimeout(socket_.c_str(), tv);
        if (c == nullptr) {
            last_connect_error_ = "out of memory";
            return nullptr;
        }
        if (c->err != 0) {
            last_connect_error_ = c->errstr;
            redisFree(c);
            return nullptr;
        }
        redisSetTimeout(c, tv);
        return redis_server_details::ContextPtr(c);
    }

    void wait_until_ready() {
        const auto deadline = std::chrono::steady_clock::now() + options_.startup_timeout;
        for (;;) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("redis-server exited during startup (status " + std::to_string(status) +
                                         "); log:\n" + log() + "\nstdout:\n" + read_file(dir_ + "/stdout.log"));
            }
            if (auto c = connect_raw(std::chrono::milliseconds(500))) {
                // Any reply, NOAUTH included, means it is serving.
                auto* reply = static_cast<redisReply*>(redisCommand(c.get(), "PING"));
                if (reply != nullptr) {
                    freeReplyObject(reply);
                    // With a unix socket and TCP both on, both must accept.
                    if (port_ == 0 || socket_.empty() || options_.tls || unix_socket_accepts()) return;
                }
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                throw std::runtime_error("redis-server did not answer PING within " +
                                         std::to_string(options_.startup_timeout.count()) + " ms; log:\n" + log());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    bool unix_socket_accepts() const {
        timeval tv{1, 0};
        redisContext* c = redisConnectUnixWithTimeout(socket_.c_str(), tv);
        const bool ok = c != nullptr && c->err == 0;
        if (c != nullptr) redisFree(c);
        return ok;
    }

    static std::string read_file(const std::string& path) {
        std::ifstream in(path);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

    RedisServerOptions options_;
    std::string executable_;
    std::string dir_;
    std::string socket_;
    int port_ = 0;
    std::vector<std::string> port_args_;
    pid_t pid_ = -1;
    bool paused_ = false;
    mutable std::string last_connect_error_;
};

// A RedisServer in TLS mode presenting `cert_file` (a TlsCertificates file,
// with the shared server key), trusting the shared CA for client certificates.
inline RedisServerOptions tls_server_options(const std::string& cert_file, bool auth_clients = false) {
    const TlsCertificates& certificates = TlsCertificates::shared();
    RedisServerOptions options;
    options.tls = RedisServerOptions::Tls{cert_file, certificates.server_key(), certificates.ca_file(), auth_clients};
    return options;
}

inline RedisServerOptions RedisServer::shared_options() {
    return shared_is_tls() ? tls_server_options(TlsCertificates::shared().server_cert()) : RedisServerOptions{};
}

inline RedisServer& RedisServer::shared() {
    static RedisServer server(shared_options());
    return server;
}

// A command through plain hiredis, independent of the library under test.
inline RawReply raw_command(const RedisServer& server, const std::vector<std::string>& argv, int db = 0) {
    return server.raw(argv, db);
}

}  // namespace dogpile::test
