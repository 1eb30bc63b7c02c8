// A build without TLS support (DOGPILE_HAS_TLS 0, as when OpenSSL is not
// found): every way of asking for TLS is a ConfigurationError that says so,
// and make_tls_stream still closes the socket it was given. This program is
// built as such a build: the switch is set before any dogpile header.

#undef DOGPILE_HAS_TLS
#define DOGPILE_HAS_TLS 0

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>

#include <dogpile/redis.hpp>
#include <dogpile/redis/details/tls_stream.hpp>
#include <dogpile/redis/tls_options.hpp>

#include "support/message_of.hpp"

namespace {

using dogpile::ConfigurationError;
using dogpile::test::message_of;

constexpr const char* kUnsupported = "built without TLS support (OpenSSL)";

void expect_contains(const std::string& message, const std::string& part) {
    EXPECT_NE(message.find(part), std::string::npos) << "message: " << message << "\nexpected to contain: " << part;
}

TEST(TlsDisabled, RedissUrlIsAConfigurationError) {
    expect_contains(
        message_of<ConfigurationError>([] { dogpile::redis::ConnectionOptions::from_url("rediss://127.0.0.1:6380"); }),
        kUnsupported);
    expect_contains(message_of<ConfigurationError>([] { dogpile::redis::make_client("rediss://127.0.0.1:6380"); }),
                    kUnsupported);
}

TEST(TlsDisabled, TlsOptionIsAConfigurationError) {
    dogpile::redis::ConnectionOptions options;
    options.tls.emplace();
    expect_contains(message_of<ConfigurationError>([&] { options.validate(); }), kUnsupported);
    expect_contains(message_of<ConfigurationError>([&] { options.tls->validate(); }), kUnsupported);
}

TEST(TlsDisabled, PlainUrlsStillWork) {
    EXPECT_FALSE(dogpile::redis::ConnectionOptions::from_url("redis://127.0.0.1:6380").tls.has_value());
}

TEST(TlsDisabled, MakeTlsStreamClosesTheSocketAndRefuses) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    expect_contains(message_of<ConfigurationError>([&] {
                        dogpile::redis::details::make_tls_stream(pair[0], {}, "127.0.0.1",
                                                                 std::chrono::steady_clock::now());
                    }),
                    kUnsupported);
    EXPECT_EQ(::fcntl(pair[0], F_GETFD), -1);
    EXPECT_EQ(errno, EBADF);
    ::close(pair[1]);
}

}  // namespace
