#pragma once
/// \file
/// TlsOptions: how a Redis connection speaks TLS (ConnectionOptions::tls, or a
/// rediss:// URL, options.hpp).
///
/// \code
///   dogpile::redis::TlsOptions tls;
///   tls.ca_file = "/etc/redis/ca.pem";           // empty with ca_dir: the system trust store
///   tls.cert_file = "/etc/redis/client.pem";     // mutual TLS: both or neither
///   tls.key_file = "/etc/redis/client.key";
/// \endcode
///
/// The server certificate is verified against the CA and the host name
/// (server_name, else the connection's host; an IP address is matched against
/// the certificate's IP SANs). Verification is skipped only when `verification`
/// says so by name: insecure_skip_verification accepts any server, including an
/// attacker's.
///
/// TLS needs OpenSSL at build time: DOGPILE_HAS_TLS is 1 when the CMake target
/// found it (or by hand: -DDOGPILE_HAS_TLS=1 -lssl -lcrypto). Without it every
/// TLS setting is a ConfigurationError "built without TLS support (OpenSSL)".
/// These options never include OpenSSL.
///
/// Thread safety: a plain value type.

#include <string>

#include "../details/linkage.hpp"
#include "../errors.hpp"

#ifndef DOGPILE_HAS_TLS
/// 1 when built with OpenSSL (the CMake target sets it when it finds OpenSSL), else 0.
#define DOGPILE_HAS_TLS 0
#endif

namespace dogpile::redis {

/// The oldest TLS version a connection accepts.
enum class TlsVersion { tls1_2, tls1_3 };

/// Whether the server's certificate is verified; only a name that says so skips it.
enum class TlsVerification {
    verify_peer,  ///< the certificate must chain to the CA (the default)
    /// The server's certificate is not checked at all: the connection is
    /// encrypted, but to whoever answers. For tests and emergencies only.
    insecure_skip_verification,
};

/// How a Redis connection speaks TLS (ConnectionOptions::tls, or a rediss:// URL). Needs a build
/// with OpenSSL (DOGPILE_HAS_TLS); without it every setting is a ConfigurationError.
struct TlsOptions {
    /// PEM CA bundle and/or a hashed CA directory (c_rehash). Both empty: the
    /// system trust store (what managed Redis services with public CAs need).
    std::string ca_file;
    std::string ca_dir;  ///< hashed CA directory (c_rehash); see ca_file

    /// Client certificate (PEM, may hold the chain) and its private key, for
    /// servers that require mutual TLS (tls-auth-clients yes).
    std::string cert_file;
    std::string key_file;  ///< the client certificate's private key (PEM); set with cert_file

    /// SNI and the name the certificate must carry. Empty: the connection's host.
    std::string server_name;

    /// Whether the certificate must name server_name (or the host). Off accepts
    /// any certificate the CA signed.
    bool verify_hostname = true;

    TlsVersion min_protocol = TlsVersion::tls1_2;  ///< oldest TLS version accepted

    /// insecure_skip_verification: any server is accepted
    TlsVerification verification = TlsVerification::verify_peer;

    /// Throws ConfigurationError for options that cannot work: a certificate
    /// without its key (or the reverse), a file or directory that does not
    /// exist or cannot be read (named), or a build without TLS support.
    void validate() const;
};

/// "built without TLS support (OpenSSL): <what>", as a ConfigurationError.
[[noreturn]] void throw_tls_unsupported(const std::string& what);

namespace details {
// "1.2" / "1.3", as in the rediss:// query option min_tls.
const char* tls_version_name(TlsVersion version) noexcept;
bool parse_tls_version(const std::string& text, TlsVersion& out) noexcept;
}  // namespace details

}  // namespace dogpile::redis

#if DOGPILE_INCLUDE_DEFINITIONS
#include "tls_options-inl.hpp"
#endif
