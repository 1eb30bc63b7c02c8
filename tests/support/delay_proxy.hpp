#pragma once
// DelayProxy: a TCP forwarder that adds a fixed one-way delay in each
// direction, standing in for a slow network (the kernel here has no netem).
//
//   dogpile::test::RedisServer server;
//   dogpile::test::DelayProxyOptions options;
//   options.target_port = server.port();
//   options.one_way_delay = std::chrono::microseconds(250);
//   dogpile::test::DelayProxy proxy(options);
//   auto client = dogpile::redis::make_client(proxy.url());   // >= 0.5 ms added round trip
//
// The model is a bandwidth-unlimited pipe with latency: every chunk read from
// one side is stamped with the time it was read and written to the other
// side no earlier than that time plus the delay, in order. So a pipelined
// batch pays the delay once, not once per command, and a pool of N
// connections is capped at N / RTT calls per second, as on a real network.
//
// One or a few event-loop threads (epoll, a timerfd for the release times)
// serve every connection, so 64+ concurrent connections cost no thread each.
// Because the delay is the same for every chunk, release times are ordered
// as arrival times are: one FIFO of pending releases per loop is the whole
// timer queue.
//
// A connection to the target is opened (blocking; the target is local) when
// a client connects; if that fails the client is closed at once. EOF is
// forwarded as a half-close after the same delay; a reset or error on either
// side closes both. cut_connections() closes every open connection, for
// fault tests. The destructor stops the loops, joins them and closes every
// socket, with or without live connections.
//
// Linux only (epoll, timerfd, eventfd), as the rest of tests/support.

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dogpile::test {

struct DelayProxyOptions {
    // Where the proxy forwards to (resolved once, at construction).
    std::string target_host = "127.0.0.1";
    int target_port = 0;
    // Added to each direction: the round trip grows by twice this.
    std::chrono::microseconds one_way_delay{0};
    // Where the proxy listens; port 0 picks a free one (see DelayProxy::port()).
    std::string listen_host = "127.0.0.1";
    int listen_port = 0;
    // Event-loop threads; connections are spread over them as they are accepted.
    int threads = 1;
    // Bytes waiting in one direction beyond which the proxy stops reading
    // that side until the other side drains: TCP back-pressure, not memory.
    std::size_t max_queued_bytes_per_direction = std::size_t{8} << 20;
};

namespace delay_proxy_details {

// CLOCK_MONOTONIC in nanoseconds: the clock the timerfd runs on, so release
// times and the timer never mix clocks.
inline std::int64_t monotonic_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] inline void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), "DelayProxy: " + what);
}

class FileDescriptor {
public:
    FileDescriptor() = default;
    explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
    FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    FileDescriptor& operator=(FileDescriptor&& other) noexcept {
        if (this != &other) reset(std::exchange(other.fd_, -1));
        return *this;
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() { reset(); }

    int get() const noexcept { return fd_; }
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

inline sockaddr_storage resolve(const std::string& host, int port, socklen_t& length) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
        throw std::system_error(std::make_error_code(std::errc::host_unreachable),
                                "DelayProxy: cannot resolve " + host + ": " + ::gai_strerror(rc));
    }
    sockaddr_storage address{};
    std::memcpy(&address, found->ai_addr, found->ai_addrlen);
    length = found->ai_addrlen;
    ::freeaddrinfo(found);
    return address;
}

inline void set_no_delay(int fd) {
    // Nagle plus delayed ACKs would add up to 40 ms to small writes: far more
    // than the delay being simulated.
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

// Settings and sockets every loop shares; owned by DelayProxy.
struct Shared {
    DelayProxyOptions options;
    std::int64_t delay_ns = 0;
    sockaddr_storage target{};
    socklen_t target_length = 0;
    FileDescriptor listener;
    std::atomic<bool> stopping{false};
    std::atomic<std::uint64_t> accepted{0};

    // cut_connections(): a request number each loop acknowledges.
    std::mutex cut_mutex;
    std::condition_variable cut_done;
    std::uint64_t cut_requested = 0;
};

// One event loop: its own epoll set, timer and wake-up eventfd, and the
// connections it accepted. Only its thread touches its connections.
class Loop {
public:
    explicit Loop(Shared& shared) : shared_(shared) {
        epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
        if (epoll_.get() < 0) throw_errno("epoll_create1");
        timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
        if (timer_.get() < 0) throw_errno("timerfd_create");
        wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (wake_.get() < 0) throw_errno("eventfd");
        watch(timer_.get(), EPOLLIN, kTimerTag);
        watch(wake_.get(), EPOLLIN, kWakeTag);
        // Every loop waits on the one listening socket; EPOLLEXCLUSIVE wakes
        // one of them per connection rather than all.
        epoll_event event{};
        event.events = EPOLLIN | EPOLLEXCLUSIVE;
        event.data.u64 = kListenTag;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, shared_.listener.get(), &event) != 0) {
            throw_errno("epoll_ctl(listener)");
        }
    }

    void start() {
        thread_ = std::thread([this] { run(); });
    }

    void wake() {
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto written = ::write(wake_.get(), &one, sizeof(one));
    }

    void join() {
        if (thread_.joinable()) thread_.join();
    }

    std::uint64_t cuts_done() const {
        return cuts_done_;  // read under Shared::cut_mutex
    }

private:
    static constexpr std::uint64_t kListenTag = ~std::uint64_t{0};
    static constexpr std::uint64_t kWakeTag = ~std::uint64_t{0} - 1;
    static constexpr std::uint64_t kTimerTag = ~std::uint64_t{0} - 2;

    struct Chunk {
        std::int64_t release_ns;
        std::string bytes;  // empty with `eof`: forward the half-close
        bool eof = false;
    };

    // Bytes read from sockets[from] waiting to be written to sockets[1 - from].
    struct Direction {
        std::deque<Chunk> queue;
        std::size_t front_written = 0;
        std::size_t queued_bytes = 0;
        bool eof_read = false;
        bool finished = false;  // the half-close was forwarded (or the far side is gone)
        bool write_blocked = false;
    };

    // Side 0 is the client, side 1 the target; directions[s] reads side s.
    struct Connection {
        FileDescriptor sockets[2];
        Direction directions[2];
        std::uint32_t interest[2] = {0, 0};
        bool watched[2] = {false, false};
    };

    struct PendingRelease {
        std::int64_t release_ns;
        std::uint64_t connection;
        int direction;
    };

    void watch(int fd, std::uint32_t events, std::uint64_t tag) {
        epoll_event event{};
        event.events = events;
        event.data.u64 = tag;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) throw_errno("epoll_ctl(add)");
    }

    void run() {
        // The default 50 µs timer slack would be a fifth of a 250 µs delay.
        ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
        ::prctl(PR_SET_NAME, "delay-proxy", 0UL, 0UL, 0UL);  // for top -H and gdb
        std::vector<epoll_event> events(256);
        while (!shared_.stopping.load(std::memory_order_acquire)) {
            const int ready = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), -1);
            if (ready < 0) {
                if (errno == EINTR) continue;
                break;  // cannot happen with a valid epoll fd; leave rather than spin
            }
            for (int i = 0; i < ready; ++i) dispatch(events[static_cast<std::size_t>(i)]);
            release_due(delay_proxy_details::monotonic_ns());
            arm_timer();
        }
        connections_.clear();
    }

    void dispatch(const epoll_event& event) {
        const std::uint64_t tag = event.data.u64;
        if (tag == kListenTag) {
            accept_all();
        } else if (tag == kTimerTag) {
            std::uint64_t expirations = 0;
            [[maybe_unused]] const auto n = ::read(timer_.get(), &expirations, sizeof(expirations));
            armed_ns_ = 0;
        } else if (tag == kWakeTag) {
            std::uint64_t count = 0;
            [[maybe_unused]] const auto n = ::read(wake_.get(), &count, sizeof(count));
            serve_cut_request();
        } else {
            on_socket_event(tag >> 1, static_cast<int>(tag & 1), event.events);
        }
    }

    void accept_all() {
        for (int accepted = 0; accepted < 64; ++accepted) {
            FileDescriptor client(::accept4(shared_.listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
            if (client.get() < 0) return;  // EAGAIN: another loop took it, or none left
            shared_.accepted.fetch_add(1, std::memory_order_relaxed);
            FileDescriptor target(::socket(shared_.target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
            if (target.get() < 0) continue;
            if (::connect(target.get(), reinterpret_cast<const sockaddr*>(&shared_.target), shared_.target_length) !=
                0) {
                continue;  // closing the client tells it the target is down
            }
            const int flags = ::fcntl(target.get(), F_GETFL);
            ::fcntl(target.get(), F_SETFL, flags | O_NONBLOCK);
            set_no_delay(client.get());
            set_no_delay(target.get());
            const std::uint64_t id = next_id_++;
            auto connection = std::make_unique<Connection>();
            connection->sockets[0] = std::move(client);
            connection->sockets[1] = std::move(target);
            Connection& added = *connection;
            connections_.emplace(id, std::move(connection));
            update_interest(id, added);
        }
    }

    void on_socket_event(std::uint64_t id, int side, std::uint32_t events) {
        const auto found = connections_.find(id);
        if (found == connections_.end()) return;  // closed earlier in this batch
        Connection& connection = *found->second;
        if ((events & EPOLLERR) != 0) {
            close_connection(id);
            return;
        }
        if ((events & EPOLLOUT) != 0) {
            if (!flush(id, connection, 1 - side, delay_proxy_details::monotonic_ns())) return;
        }
        if ((events & (EPOLLIN | EPOLLHUP)) != 0) {
            if (!connection.directions[side].eof_read) {
                read_side(id, connection, side);
            } else if ((events & EPOLLHUP) != 0) {
                // Both halves of this socket are shut: nothing more can be
                // written to it, and epoll would report the hang-up forever.
                Direction& toward = connection.directions[1 - side];
                toward.queue.clear();
                toward.queued_bytes = 0;
                toward.write_blocked = false;
                toward.finished = true;
                unwatch(connection, side);
                if (connection.directions[side].finished) close_connection(id);
            }
        }
    }

    void read_side(std::uint64_t id, Connection& connection, int side) {
        Direction& direction = connection.directions[side];
        const ssize_t n = ::recv(connection.sockets[side].get(), buffer_, sizeof(buffer_), 0);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) close_connection(id);
            return;
        }
        // Stamped after the read: a chunk is never released before it arrived + delay.
        const std::int64_t now = delay_proxy_details::monotonic_ns();
        const std::int64_t release = now + shared_.delay_ns;
        if (n == 0) {
            direction.eof_read = true;
            direction.queue.push_back(Chunk{release, std::string(), true});
        } else {
            direction.queue.push_back(Chunk{release, std::string(buffer_, static_cast<std::size_t>(n)), false});
            direction.queued_bytes += static_cast<std::size_t>(n);
        }
        if (shared_.delay_ns == 0) {
            if (!direction.write_blocked) {
                if (!flush(id, connection, side, now)) return;
            }
        } else {
            releases_.push_back(PendingRelease{release, id, side});
        }
        update_interest(id, connection);
    }

    // Writes every chunk of `direction_index` that is due. False when the
    // connection was closed (it must not be touched after).
    bool flush(std::uint64_t id, Connection& connection, int direction_index, std::int64_t now) {
        Direction& direction = connection.directions[direction_index];
        const int to = connection.sockets[1 - direction_index].get();
        direction.write_blocked = false;
        while (!direction.queue.empty() && direction.queue.front().release_ns <= now && !direction.finished) {
            Chunk& chunk = direction.queue.front();
            if (chunk.eof) {
                ::shutdown(to, SHUT_WR);
                direction.finished = true;
                direction.queue.pop_front();
                break;
            }
            const ssize_t n = ::send(to, chunk.bytes.data() + direction.front_written,
                                     chunk.bytes.size() - direction.front_written, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                    direction.write_blocked = true;
                    break;
                }
                close_connection(id);
                return false;
            }
            direction.front_written += static_cast<std::size_t>(n);
            if (direction.front_written == chunk.bytes.size()) {
                direction.queued_bytes -= chunk.bytes.size();
                direction.front_written = 0;
                direction.queue.pop_front();
            }
        }
        if (connection.directions[0].finished && connection.directions[1].finished) {
            close_connection(id);
            return false;
        }
        update_interest(id, connection);
        return true;
    }

    void release_due(std::int64_t now) {
        while (!releases_.empty() && releases_.front().release_ns <= now) {
            const PendingRelease due = releases_.front();
            releases_.pop_front();
            const auto found = connections_.find(due.connection);
            if (found == connections_.end()) continue;
            Connection& connection = *found->second;
            // A blocked direction resumes on EPOLLOUT, in order.
            if (connection.directions[due.direction].write_blocked) continue;
            flush(due.connection, connection, due.direction, now);
        }
    }

    void arm_timer() {
        if (releases_.empty()) return;
        const std::int64_t next = releases_.front().release_ns;
        if (armed_ns_ != 0 && armed_ns_ <= next) return;  // fires in time already
        itimerspec spec{};
        spec.it_value.tv_sec = static_cast<time_t>(next / 1'000'000'000);
        spec.it_value.tv_nsec = static_cast<long>(next % 1'000'000'000);
        ::timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
        armed_ns_ = next;
    }

    void update_interest(std::uint64_t id, Connection& connection) {
        for (int side = 0; side < 2; ++side) {
            const Direction& reading = connection.directions[side];
            const Direction& writing = connection.directions[1 - side];
            std::uint32_t wanted = 0;
            if (!reading.eof_read && reading.queued_bytes < shared_.options.max_queued_bytes_per_direction) {
                wanted |= EPOLLIN;
            }
            if (writing.write_blocked) wanted |= EPOLLOUT;
            if (connection.watched[side] && wanted == connection.interest[side]) continue;
            if (!connection.watched[side] && (reading.eof_read && writing.finished)) continue;
            epoll_event event{};
            event.events = wanted;
            event.data.u64 = (id << 1) | static_cast<std::uint64_t>(side);
            const int op = connection.watched[side] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
            if (::epoll_ctl(epoll_.get(), op, connection.sockets[side].get(), &event) == 0) {
                connection.watched[side] = true;
                connection.interest[side] = wanted;
            }
        }
    }

    void unwatch(Connection& connection, int side) {
        if (!connection.watched[side]) return;
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, connection.sockets[side].get(), nullptr);
        connection.watched[side] = false;
    }

    void close_connection(std::uint64_t id) {
        // Closing a socket removes it from the epoll set.
        connections_.erase(id);
    }

    void serve_cut_request() {
        std::lock_guard<std::mutex> lock(shared_.cut_mutex);
        if (cuts_done_ == shared_.cut_requested) return;
        connections_.clear();
        releases_.clear();
        cuts_done_ = shared_.cut_requested;
        shared_.cut_done.notify_all();
    }

    Shared& shared_;
    FileDescriptor epoll_;
    FileDescriptor timer_;
    FileDescriptor wake_;
    std::thread thread_;
    std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
    std::deque<PendingRelease> releases_;
    std::int64_t armed_ns_ = 0;  // 0: the timer is not armed
    std::uint64_t next_id_ = 1;
    std::uint64_t cuts_done_ = 0;
    char buffer_[64 * 1024];
};

}  // namespace delay_proxy_details

class DelayProxy {
public:
    explicit DelayProxy(DelayProxyOptions options) : shared_(std::make_unique<delay_proxy_details::Shared>()) {
        using delay_proxy_details::throw_errno;
        if (options.threads < 1) throw std::invalid_argument("DelayProxy: threads must be at least 1");
        if (options.one_way_delay.count() < 0) throw std::invalid_argument("DelayProxy: negative delay");
        shared_->delay_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options.one_way_delay).count();
        shared_->target =
            delay_proxy_details::resolve(options.target_host, options.target_port, shared_->target_length);
        socklen_t listen_length = 0;
        sockaddr_storage listen_address =
            delay_proxy_details::resolve(options.listen_host, options.listen_port, listen_length);
        shared_->listener.reset(::socket(listen_address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (shared_->listener.get() < 0) throw_errno("socket");
        const int on = 1;
        ::setsockopt(shared_->listener.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (::bind(shared_->listener.get(), reinterpret_cast<const sockaddr*>(&listen_address), listen_length) != 0) {
            throw_errno("bind " + options.listen_host + ":" + std::to_string(options.listen_port));
        }
        if (::listen(shared_->listener.get(), 1024) != 0) throw_errno("listen");
        socklen_t bound_length = sizeof(listen_address);
        if (::getsockname(shared_->listener.get(), reinterpret_cast<sockaddr*>(&listen_address), &bound_length) != 0) {
            throw_errno("getsockname");
        }
        port_ = ntohs(listen_address.ss_family == AF_INET6
                          ? reinterpret_cast<const sockaddr_in6*>(&listen_address)->sin6_port
                          : reinterpret_cast<const sockaddr_in*>(&listen_address)->sin_port);
        shared_->options = std::move(options);
        for (int i = 0; i < shared_->options.threads; ++i) {
            loops_.push_back(std::make_unique<delay_proxy_details::Loop>(*shared_));
        }
        try {
            for (auto& loop : loops_) loop->start();
        } catch (...) {
            stop();  // the loops already running must not outlive the proxy
            throw;
        }
    }

    ~DelayProxy() { stop(); }

    DelayProxy(const DelayProxy&) = delete;
    DelayProxy& operator=(const DelayProxy&) = delete;
    DelayProxy(DelayProxy&&) = delete;
    DelayProxy& operator=(DelayProxy&&) = delete;

    // The port the proxy listens on (the one picked when options asked for 0).
    int port() const noexcept { return port_; }
    const std::string& host() const noexcept { return shared_->options.listen_host; }
    // redis://host:port of the proxy, for dogpile::redis::make_client.
    std::string url() const { return "redis://" + host() + ":" + std::to_string(port_); }
    std::chrono::microseconds one_way_delay() const noexcept { return shared_->options.one_way_delay; }

    // Client connections accepted so far (including ones whose target
    // connection failed).
    std::uint64_t connections_accepted() const noexcept { return shared_->accepted.load(std::memory_order_relaxed); }

    // Closes every connection open now, both sides, dropping bytes in flight:
    // a network failure for fault tests. Returns once every loop has done so;
    // the proxy keeps accepting new connections.
    void cut_connections() {
        std::unique_lock<std::mutex> lock(shared_->cut_mutex);
        const std::uint64_t request = ++shared_->cut_requested;
        for (auto& loop : loops_) loop->wake();
        shared_->cut_done.wait(lock, [&] {
            for (auto& loop : loops_) {
                if (loop->cuts_done() < request) return false;
            }
            return true;
        });
    }

private:
    void stop() noexcept {
        shared_->stopping.store(true, std::memory_order_release);
        for (auto& loop : loops_) loop->wake();
        for (auto& loop : loops_) loop->join();
    }

    std::unique_ptr<delay_proxy_details::Shared> shared_;
    std::vector<std::unique_ptr<delay_proxy_details::Loop>> loops_;
    int port_ = 0;
};

}  // namespace dogpile::test
