// The macOS path of the socket code (redis/details/socket_stream-inl.hpp and
// no_sigpipe.hpp), run on Linux: this TU hides SOCK_NONBLOCK, SOCK_CLOEXEC and
// MSG_NOSIGNAL before dogpile's headers see them and names a harmless option
// as SO_NOSIGPIPE (Linux has none), so each socket is made with socket() and
// fcntl() and written with send(0), as on macOS. It must connect and keep its
// deadlines as the Linux path does. Alone in its executable: no other TU has
// the Linux definitions of the same inline functions. SIGPIPE is ignored
// here, since the stand-in option does not do SO_NOSIGPIPE's job.
#include <sys/socket.h>
#undef SOCK_NONBLOCK
#undef SOCK_CLOEXEC
#undef MSG_NOSIGNAL
#define SO_NOSIGPIPE SO_KEEPALIVE

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>

#include <dogpile/redis.hpp>

#include "support/redis_server.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::redis::Connection;
using dogpile::test::RedisServer;

TEST(PortableSockets, ConnectOverTcpAndUnixSocket) {
    std::signal(SIGPIPE, SIG_IGN);
    auto& server = RedisServer::shared();
    Connection tcp(server.options());
    EXPECT_EQ(tcp.command({"PING"}).status(), "PONG");
    if (!server.unix_socket().empty()) {
        Connection unix_socket(server.unix_options());
        EXPECT_EQ(unix_socket.command({"PING"}).status(), "PONG");
    }
}

// A blocking socket would wait in recv() for the server's 2 s BLPOP timeout
// and return its nil reply; a non-blocking one keeps the 200 ms deadline.
TEST(PortableSockets, SocketsAreNonBlockingSoDeadlinesHold) {
    std::signal(SIGPIPE, SIG_IGN);
    auto options = RedisServer::shared().options();
    options.command_timeout = 200ms;
    Connection connection(options);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_THROW(connection.command({"BLPOP", "portable-sockets-nothing", "2"}), dogpile::redis::TimeoutError);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);
}

}  // namespace
