#pragma once
// Definitions of tls_options.hpp (details/linkage.hpp: inline when header-only).

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tls_options.hpp"

namespace dogpile::redis {

namespace details {

DOGPILE_INLINE const char* tls_version_name(TlsVersion version) noexcept {
    return version == TlsVersion::tls1_3 ? "1.3" : "1.2";
}

DOGPILE_INLINE bool parse_tls_version(const std::string& text, TlsVersion& out) noexcept {
    if (text == "1.2") {
        out = TlsVersion::tls1_2;
    } else if (text == "1.3") {
        out = TlsVersion::tls1_3;
    } else {
        return false;
    }
    return true;
}

// Empty when `path` is a readable file (or directory, when `directory`), else why not.
DOGPILE_INLINE std::string tls_path_problem(const std::string& path, bool directory) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return std::string(errno == ENOENT ? "does not exist" : std::strerror(errno));
    }
    if (directory && !S_ISDIR(st.st_mode)) return "is not a directory";
    if (!directory && S_ISDIR(st.st_mode)) return "is a directory, not a file";
    if (::access(path.c_str(), directory ? (R_OK | X_OK) : R_OK) != 0) {
        return std::string("cannot be read: ") + std::strerror(errno);
    }
    return {};
}

}  // namespace details

DOGPILE_INLINE void throw_tls_unsupported(const std::string& what) {
    throw ConfigurationError("built without TLS support (OpenSSL): " + what +
                             " needs dogpile built with OpenSSL (Debian: apt-get install libssl-dev, then "
                             "DOGPILE_HAS_TLS=1 with -lssl -lcrypto, as the dogpile::redis CMake target does)");
}

DOGPILE_INLINE void TlsOptions::validate() const {
#if !DOGPILE_HAS_TLS
    throw_tls_unsupported("a TLS connection");
#endif
    const std::string where = "TLS options: ";
    if (cert_file.empty() != key_file.empty()) {
        throw ConfigurationError(where +
                                 (cert_file.empty() ? "key_file '" + key_file + "' is set without cert_file"
                                                    : "cert_file '" + cert_file + "' is set without key_file") +
                                 ": mutual TLS needs both the client certificate and its private key");
    }
    const struct {
        const char* name;
        const std::string& path;
        bool directory;
    } paths[] = {{"ca_file", ca_file, false},
                 {"ca_dir", ca_dir, true},
                 {"cert_file", cert_file, false},
                 {"key_file", key_file, false}};
    for (const auto& p : paths) {
        if (p.path.empty()) continue;
        const std::string problem = details::tls_path_problem(p.path, p.directory);
        if (!problem.empty()) throw ConfigurationError(where + p.name + " '" + p.path + "' " + problem);
    }
    if (server_name.find_first_of(" \t\r\n/") != std::string::npos) {
        throw ConfigurationError(where + "server_name '" + server_name + "' is not a host name");
    }
}

}  // namespace dogpile::redis
