// The Backend contract (dogpile/testing/backend_suite.hpp) over TLS: the same
// factories as test_redis_backend_conformance.cpp (support/conformance_factories.hpp)
// against a redis-server whose TCP port speaks TLS only, with certificates the
// test generates. The near cache's tracking connection is a TLS push
// connection too. raw() (the factories' corrupt()) goes through the server's
// plaintext unix socket.

#include <dogpile/testing/backend_suite.hpp>

#include "support/conformance_factories.hpp"
#include "support/redis_server.hpp"
#include "support/tls_certificates.hpp"

namespace {

namespace conformance = dogpile::test::conformance;
using dogpile::redis::PayloadMode;
using dogpile::redis::SymmetricMode;
using dogpile::test::RedisServer;

struct TlsServer {
    static RedisServer& get() {
        static RedisServer server(
            dogpile::test::tls_server_options(dogpile::test::TlsCertificates::shared().server_cert()));
        return server;
    }
};

// The factories would silently test plaintext if the server lost its TLS mode.
TEST(TlsConformanceServer, ClientsSpeakTls) {
    ASSERT_TRUE(TlsServer::get().options().tls.has_value());
    ASSERT_EQ(TlsServer::get().url().rfind("rediss://", 0), 0u);
}

using Plain = conformance::PlainStore<TlsServer>;
using HashRaw = conformance::HashStore<TlsServer, PayloadMode::raw>;
using HashEnvelope = conformance::HashStore<TlsServer, PayloadMode::envelope>;
using SymmetricAtomic = conformance::SymmetricStore<TlsServer, SymmetricMode::atomic>;
using NearCache = conformance::NearCacheOverHash<TlsServer>;

}  // namespace

DOGPILE_BACKEND_CONFORMANCE(RedisTls, Plain, HashRaw, HashEnvelope, SymmetricAtomic, NearCache);
