// TLS through the library's clients: dogpile::redis::Connection with
// ConnectionOptions::tls and a rediss:// URL, a ConnectionPool, a Region over
// the hash store, and settings (tls.* keys), against a real `redis-server
// --tls-port` with certificates the test generates. Every failure case is an
// IoError naming the cause (TimeoutError for a stopped server), never a hang;
// a TLS connection killed by the server heals like a plain one.
//
// The Stream-level cases (every certificate failure, SIGPIPE, idle checks)
// are in test_redis_tls.cpp.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include <dogpile/backends/config.hpp>
#include <dogpile/backends/redis/config.hpp>
#include <dogpile/backends/redis/hash.hpp>
#include <dogpile/codec/msgpack.hpp>
#include <dogpile/config.hpp>
#include <dogpile/redis.hpp>
#include <dogpile/redis/pool.hpp>
#include <dogpile/region.hpp>

#include "support/message_of.hpp"
#include "support/redis_server.hpp"
#include "support/tls_certificates.hpp"

namespace {

using namespace std::chrono_literals;
using dogpile::HashKey;
using dogpile::Region;
using dogpile::redis::Connection;
using dogpile::redis::ConnectionOptions;
using dogpile::redis::ConnectionPool;
using dogpile::redis::IoError;
using dogpile::redis::PoolOptions;
using dogpile::redis::TimeoutError;
using dogpile::redis::TlsVerification;
using dogpile::test::message_of;
using dogpile::test::RedisServer;
using dogpile::test::TlsCertificates;
using dogpile::test::tls_server_options;

const TlsCertificates& certificates() { return TlsCertificates::shared(); }

// One TLS server (good certificate, no client certificates) for the tests
// that neither stop nor kill it.
RedisServer& tls_server() {
    static RedisServer server(tls_server_options(certificates().server_cert()));
    return server;
}

void expect_contains(const std::string& message, const std::string& part) {
    EXPECT_NE(message.find(part), std::string::npos) << "message: " << message << "\nexpected to contain: " << part;
}

TEST(TlsConnection, CommandsOverTls) {
    ConnectionOptions options = tls_server().options();
    ASSERT_TRUE(options.tls.has_value());
    Connection connection(options);
    EXPECT_EQ(connection.command({"PING"}).status(), "PONG");
    EXPECT_TRUE(connection.command({"SET", "tls:key", std::string(100000, 'v')}).is_ok());
    EXPECT_EQ(connection.command({"GET", "tls:key"}).as_string(), std::string(100000, 'v'));
    EXPECT_TRUE(connection.usable_after_idle());
    // The server sees a TLS client: the plaintext unix socket answers too, and
    // both see the same data.
    EXPECT_EQ(tls_server().raw({"STRLEN", "tls:key"}).integer, 100000);
}

TEST(TlsConnection, RedissUrlWithCaFile) {
    const std::string url =
        "rediss://127.0.0.1:" + std::to_string(tls_server().port()) + "/0?ca_file=" + certificates().ca_file();
    Connection connection(ConnectionOptions::from_url(url));
    EXPECT_EQ(connection.command({"PING"}).status(), "PONG");

    auto client = dogpile::redis::make_client(url);
    std::string pong;
    client->with_connection("any", [&](Connection& c) { pong = std::string(c.command({"PING"}).status()); });
    EXPECT_EQ(pong, "PONG");
}

TEST(TlsConnection, MutualTls) {
    RedisServer server(tls_server_options(certificates().server_cert(), /*auth_clients=*/true));
    ConnectionOptions options = server.options();
    options.tls->cert_file = certificates().client_cert();
    options.tls->key_file = certificates().client_key();
    Connection connection(options);
    EXPECT_EQ(connection.command({"PING"}).status(), "PONG");

    ConnectionOptions without = server.options();
    expect_contains(message_of<IoError>([&] {
                        Connection c(without);
                        c.command({"PING"});
                    }),
                    "client certificate");
}

TEST(TlsConnection, CertificateFailuresAreIoErrorsNamingTheCause) {
    ConnectionOptions wrong_ca = tls_server().options();
    wrong_ca.tls->ca_file = certificates().other_ca_file();
    expect_contains(message_of<IoError>([&] { Connection c(wrong_ca); }), "certificate verify failed");

    RedisServer expired(tls_server_options(certificates().expired_cert()));
    expect_contains(message_of<IoError>([&] { Connection c(expired.options()); }), "certificate has expired");

    RedisServer wrong_host(tls_server_options(certificates().wrong_host_cert()));
    ConnectionOptions by_name = wrong_host.options();
    by_name.tls->server_name = "localhost";
    expect_contains(message_of<IoError>([&] { Connection c(by_name); }), "hostname mismatch");

    by_name.tls->verify_hostname = false;
    EXPECT_EQ(Connection(by_name).command({"PING"}).status(), "PONG");

    ConnectionOptions insecure = wrong_host.options();
    insecure.tls->ca_file = certificates().other_ca_file();
    insecure.tls->verification = TlsVerification::insecure_skip_verification;
    EXPECT_EQ(Connection(insecure).command({"PING"}).status(), "PONG");
}

TEST(TlsConnection, TlsClientToAPlaintextServer) {
    RedisServer plain;
    ConnectionOptions options = plain.options();
    options.tls.emplace();
    options.tls->ca_file = certificates().ca_file();
    options.connect_timeout = 1000ms;
    options.command_timeout = 1000ms;
    expect_contains(message_of<IoError>([&] {
                        Connection c(options);
                        c.command({"PING"});
                    }),
                    "plaintext port");
}

TEST(TlsConnection, PlaintextClientToATlsPort) {
    ConnectionOptions options = tls_server().options();
    options.tls.reset();
    options.connect_timeout = 1000ms;
    options.command_timeout = 1000ms;
    // The server's TLS handshake fails on the RESP bytes and it closes the
    // connection: an IoError, not a hang.
    message_of<IoError>([&] {
        Connection c(options);
        c.command({"PING"});
    });
}

TEST(TlsConnection, StoppedServerIsATimeout) {
    RedisServer server(tls_server_options(certificates().server_cert()));
    ConnectionOptions options = server.options();
    options.connect_timeout = 300ms;
    options.command_timeout = 300ms;
    Connection connection(options);
    EXPECT_EQ(connection.command({"PING"}).status(), "PONG");
    server.pause();
    message_of<TimeoutError>([&] { connection.command({"PING"}); });
    message_of<TimeoutError>([&] { Connection c(options); });  // the handshake times out
    server.resume();
    connection.reconnect();
    EXPECT_EQ(connection.command({"PING"}).status(), "PONG");
}

TEST(TlsConnection, KilledConnectionReconnects) {
    RedisServer server(tls_server_options(certificates().server_cert()));
    ConnectionOptions options = server.options();
    options.client_name = "tls-victim";
    Connection connection(options);
    EXPECT_EQ(connection.command({"PING"}).status(), "PONG");
    ASSERT_EQ(server.raw({"CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal"}).integer, 1);
    EXPECT_THROW(connection.command({"PING"}), IoError);
    EXPECT_TRUE(connection.broken());
    connection.reconnect();
    EXPECT_EQ(connection.command({"PING"}).status(), "PONG");
}

TEST(TlsConnection, ServerRestartHealsLikeAPlainConnection) {
    RedisServer server(tls_server_options(certificates().server_cert()));
    Connection connection(server.options());
    EXPECT_EQ(connection.command({"PING"}).status(), "PONG");
    server.restart();
    EXPECT_THROW(connection.command({"PING"}), IoError);
    connection.reconnect();
    EXPECT_EQ(connection.command({"PING"}).status(), "PONG");
}

TEST(TlsPool, IdleTlsConnectionsAreReusedAndKilledOnesReplaced) {
    RedisServer server(tls_server_options(certificates().server_cert()));
    PoolOptions pool_options;
    pool_options.connection = server.options();
    pool_options.size = 2;
    pool_options.idle_check_after = 0ms;  // check every idle connection before reuse
    ConnectionPool pool(pool_options);
    {
        auto lease = pool.acquire();
        EXPECT_EQ(lease->command({"PING"}).status(), "PONG");
    }
    {
        // The TLS 1.3 session tickets that arrived while idle do not make the
        // connection look unusable: the same connection is reused.
        auto lease = pool.acquire();
        EXPECT_EQ(lease->command({"PING"}).status(), "PONG");
    }
    EXPECT_EQ(pool.connections_created(), 1u);

    ASSERT_EQ(server.raw({"CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal"}).integer, 1);
    // The killed connection is noticed when it is handed out again (the
    // server's close arrives asynchronously: wait for it to be seen).
    bool healed = false;
    for (int attempt = 0; attempt < 3 && !healed; ++attempt) {
        try {
            auto lease = pool.acquire();
            healed = lease->command({"PING"}).status() == "PONG";
        } catch (const IoError&) {
        }
    }
    EXPECT_TRUE(healed);
    EXPECT_EQ(pool.connections_created(), 2u);
}

TEST(TlsRegion, HashStoreGetOrCreateOverTls) {
    auto client = dogpile::redis::make_client(tls_server().url());
    dogpile::RedisHashBackendOptions options;
    options.client = client;
    options.ttl = std::chrono::hours(1);
    auto backend = std::make_shared<dogpile::RedisHashBackend<std::string>>(options);
    Region<std::string, HashKey> region(backend);
    const HashKey key{"tls-region|1", "field"};
    int calls = 0;
    EXPECT_EQ(region.get_or_create(key,
                                   [&] {
                                       ++calls;
                                       return std::string("created over TLS");
                                   }),
              "created over TLS");
    EXPECT_EQ(region.get_or_create(key,
                                   [&] {
                                       ++calls;
                                       return std::string("again");
                                   }),
              "created over TLS");
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(tls_server().raw({"HEXISTS", "tls-region|1", "field"}).integer, 1);
}

TEST(TlsSettings, RegionFromSettingsWithTlsKeys) {
    auto registry = dogpile::builtin_backends<std::string>();
    dogpile::register_redis_backends(registry);
    const dogpile::SettingsMap values{
        {"cache.backend", "redis"},
        {"cache.arguments.url", "rediss://127.0.0.1:" + std::to_string(tls_server().port())},
        {"cache.arguments.tls.ca_file", certificates().ca_file()},
        {"cache.arguments.tls.server_name", "localhost"},
        {"cache.arguments.tls.min_protocol", "1.3"},
        {"cache.arguments.key_prefix", "tls-settings:"}};
    Region<std::string> region;
    dogpile::configure_from_config(region, values, "cache.", registry);
    int calls = 0;
    EXPECT_EQ(region.get_or_create("k",
                                   [&] {
                                       ++calls;
                                       return std::string("v");
                                   }),
              "v");
    EXPECT_EQ(region.get_or_create("k",
                                   [&] {
                                       ++calls;
                                       return std::string("w");
                                   }),
              "v");
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(tls_server().raw({"EXISTS", "tls-settings:k"}).integer, 1);
}

}  // namespace
