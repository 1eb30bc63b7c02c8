#pragma once
// Definitions of tls_stream.hpp (details/linkage.hpp: inline when header-only).

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>

#include "no_sigpipe.hpp"
#include "tls_stream.hpp"

#if DOGPILE_HAS_TLS
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

namespace dogpile::redis::details {

#if !DOGPILE_HAS_TLS

DOGPILE_INLINE std::unique_ptr<Stream> make_tls_stream(int connected_fd, const TlsOptions&, std::string_view host,
                                                       Deadline) {
    if (connected_fd >= 0) ::close(connected_fd);
    throw_tls_unsupported("a TLS connection to " + std::string(host));
}

#else

namespace tls {

// The BIO under every TlsStream: send(send_flags) and recv() on the fd, so a
// write to a closed peer is an EPIPE error, never SIGPIPE, and the process's
// signal dispositions are untouched (OpenSSL's socket BIO uses write()).
DOGPILE_INLINE int socket_of(BIO* bio) noexcept {
    return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio)));
}

DOGPILE_INLINE int bio_write(BIO* bio, const char* data, int length) {
    BIO_clear_retry_flags(bio);
    ssize_t n;
    do {
        n = ::send(socket_of(bio), data, static_cast<std::size_t>(length), send_flags);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(bio);
        return -1;
    }
    return static_cast<int>(n);
}

DOGPILE_INLINE int bio_read(BIO* bio, char* out, int length) {
    BIO_clear_retry_flags(bio);
    ssize_t n;
    do {
        n = ::recv(socket_of(bio), out, static_cast<std::size_t>(length), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(bio);
        return -1;
    }
    return static_cast<int>(n);  // 0: the peer closed its end
}

DOGPILE_INLINE long bio_ctrl(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }

DOGPILE_INLINE int bio_create(BIO*) { return 1; }
DOGPILE_INLINE int bio_destroy(BIO*) { return 1; }  // the TlsStream closes the fd

DOGPILE_INLINE BIO_METHOD* socket_bio_method() {
    static BIO_METHOD* const method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "dogpile socket (MSG_NOSIGNAL)");
        if (m != nullptr) {
            BIO_meth_set_write(m, bio_write);
            BIO_meth_set_read(m, bio_read);
            BIO_meth_set_ctrl(m, bio_ctrl);
            BIO_meth_set_create(m, bio_create);
            BIO_meth_set_destroy(m, bio_destroy);
        }
        return m;
    }();
    return method;
}

DOGPILE_INLINE std::string openssl_error_text(unsigned long error) {
    char text[256];
    ERR_error_string_n(error, text, sizeof text);
    return text;
}

// The cause of a failed SSL call, in words a user can act on, with OpenSSL's
// own text appended for searching. Empties this thread's OpenSSL error queue.
DOGPILE_INLINE std::string describe_failure(SSL* ssl, int ssl_error, int saved_errno, bool handshake) {
    const unsigned long error = ERR_peek_error();
    ERR_clear_error();
    const char* when = handshake ? " during the TLS handshake" : "";
    if (ssl_error == SSL_ERROR_ZERO_RETURN) return "the server closed the TLS connection";
    if (handshake && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0) {  // unverified: the result is not the cause
        const long verify = SSL_get_verify_result(ssl);
        if (verify != X509_V_OK) {
            std::string out = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
            if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
                out += " (the server's certificate does not name the host: set server_name to a name it carries)";
            } else if (verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
                       verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
                       verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT) {
                out += " (is ca_file the CA that signed the server's certificate?)";
            }
            return out;
        }
    }
    if (error == 0) {
        if (ssl_error == SSL_ERROR_SYSCALL && saved_errno != 0) {
            return std::string(std::strerror(saved_errno)) + when;
        }
        return std::string("the server closed the connection") + when;
    }
    const int reason = ERR_GET_REASON(error);
    const std::string openssl = " (OpenSSL: " + openssl_error_text(error) + ")";
    switch (reason) {
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_PACKET_LENGTH_TOO_LONG:
        case SSL_R_HTTP_REQUEST: return "the server did not answer TLS: is this a plaintext port?" + openssl;
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
        case SSL_R_UNEXPECTED_EOF_WHILE_READING:
            return std::string("the server closed the connection") + when + openssl;
#endif
#ifdef SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED
        case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
            return "the server requires a client certificate (mutual TLS): set cert_file and key_file" + openssl;
#endif
        case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
            return "the server refused the handshake: it may require a client certificate (cert_file, key_file)" +
                   openssl;
        case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
        case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
        case SSL_R_TLSV1_ALERT_DECRYPT_ERROR: return "the server rejected the client certificate (cert_file)" + openssl;
        case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
            return "the server rejected the client certificate: it has expired" + openssl;
        case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_NO_PROTOCOLS_AVAILABLE:
            return "the server and the client have no TLS version in common (min_tls)" + openssl;
        default: {
            const char* text = ERR_reason_error_string(error);
            return std::string(text != nullptr ? text : "TLS error") + when + openssl;
        }
    }
}

// Without blocking: the failure a record already received reports (an alert),
// or empty when there is none.
DOGPILE_INLINE std::string pending_alert(SSL* ssl) {
    ERR_clear_error();
    char byte = 0;
    std::size_t read = 0;
    const int r = SSL_read_ex(ssl, &byte, 1, &read);
    if (r == 1) return {};
    const int error = SSL_get_error(ssl, r);
    if (error != SSL_ERROR_SSL || ERR_peek_error() == 0) {
        ERR_clear_error();
        return {};
    }
    return describe_failure(ssl, error, 0, false);
}

// Waits until `fd` is ready for `events`; TimeoutError at `deadline`.
DOGPILE_INLINE void wait_ready(int fd, short events, Deadline deadline, const char* what) {
    for (;;) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) throw TimeoutError(std::string("timed out ") + what);
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
        pollfd p{fd, events, 0};
        const int r = ::poll(&p, 1, left > INT_MAX ? INT_MAX : static_cast<int>(left));
        if (r > 0) return;  // POLLERR / POLLHUP too: the next SSL call reports them
        if (r < 0 && errno != EINTR) throw IoError(std::string("poll() failed: ") + std::strerror(errno));
    }
}

// After an SSL call failed with `ssl_error`: waits for the socket when OpenSSL
// wants it (true: call again), false for a real failure.
DOGPILE_INLINE bool wait_to_retry(int fd, int ssl_error, Deadline deadline, const char* what) {
    if (ssl_error == SSL_ERROR_WANT_READ) {
        wait_ready(fd, POLLIN, deadline, what);
        return true;
    }
    if (ssl_error == SSL_ERROR_WANT_WRITE) {
        wait_ready(fd, POLLOUT, deadline, what);
        return true;
    }
    return false;
}

struct ContextFree {
    void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslFree {
    void operator()(SSL* s) const noexcept { SSL_free(s); }
};

DOGPILE_INLINE bool is_ip_address(const std::string& host) noexcept {
    unsigned char address[16];
    return ::inet_pton(AF_INET, host.c_str(), address) == 1 || ::inet_pton(AF_INET6, host.c_str(), address) == 1;
}

DOGPILE_INLINE std::unique_ptr<SSL_CTX, ContextFree> make_context(const TlsOptions& options) {
    ERR_clear_error();
    std::unique_ptr<SSL_CTX, ContextFree> context(SSL_CTX_new(TLS_client_method()));
    if (!context) throw IoError("cannot create a TLS context: " + openssl_error_text(ERR_get_error()));
    SSL_CTX_set_min_proto_version(context.get(),
                                  options.min_protocol == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    auto config_error = [](const std::string& what) {
        const unsigned long error = ERR_peek_last_error();
        ERR_clear_error();
        return ConfigurationError("TLS options: " + what + (error != 0 ? ": " + openssl_error_text(error) : ""));
    };
    if (options.verification == TlsVerification::verify_peer) {
        SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
        if (options.ca_file.empty() && options.ca_dir.empty()) {
            if (SSL_CTX_set_default_verify_paths(context.get()) != 1) {
                throw config_error("cannot load the system trust store (set ca_file or ca_dir)");
            }
        } else if (SSL_CTX_load_verify_locations(context.get(),
                                                 options.ca_file.empty() ? nullptr : options.ca_file.c_str(),
                                                 options.ca_dir.empty() ? nullptr : options.ca_dir.c_str()) != 1) {
            throw config_error("cannot load CA certificates from " + (options.ca_file.empty()
                                                                          ? "ca_dir '" + options.ca_dir + "'"
                                                                          : "ca_file '" + options.ca_file + "'"));
        }
    } else {
        SSL_CTX_set_verify(context.get(), SSL_VERIFY_NONE, nullptr);
    }
    if (!options.cert_file.empty()) {
        if (SSL_CTX_use_certificate_chain_file(context.get(), options.cert_file.c_str()) != 1) {
            throw config_error("cannot load the client certificate cert_file '" + options.cert_file + "'");
        }
        if (SSL_CTX_use_PrivateKey_file(context.get(), options.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
            throw config_error("cannot load the private key key_file '" + options.key_file +
                               "' (is it the key of cert_file '" + options.cert_file + "'?)");
        }
        if (SSL_CTX_check_private_key(context.get()) != 1) {
            throw config_error("key_file '" + options.key_file + "' is not the key of cert_file '" + options.cert_file +
                               "'");
        }
    }
    return context;
}

}  // namespace tls

DOGPILE_INLINE TlsStream::TlsStream(int connected_fd, ssl_ctx_st* context, ssl_st* ssl) noexcept
    : fd_(connected_fd), context_(context), ssl_(ssl) {}

DOGPILE_INLINE TlsStream::~TlsStream() {
    if (!failed_ && SSL_is_init_finished(ssl_)) {
        SSL_shutdown(ssl_);  // close_notify, best effort: the socket is non-blocking
    }
    ERR_clear_error();
    SSL_free(ssl_);
    SSL_CTX_free(context_);
    ::close(fd_);
}

DOGPILE_INLINE void TlsStream::write_all(std::string_view bytes, Deadline deadline) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        ERR_clear_error();
        errno = 0;
        std::size_t written = 0;
        // A retry after WANT_* repeats the same buffer, as OpenSSL requires.
        const int r = SSL_write_ex(ssl_, bytes.data() + done, bytes.size() - done, &written);
        if (r == 1) {
            done += written;
            continue;
        }
        const int saved_errno = errno;
        const int error = SSL_get_error(ssl_, r);
        failed_ = true;  // until the retry below is known to be one
        if (tls::wait_to_retry(fd_, error, deadline, "writing to the TLS connection")) {
            failed_ = false;
            continue;
        }
        std::string cause = tls::describe_failure(ssl_, error, saved_errno, false);
        if (error == SSL_ERROR_SYSCALL) {
            // A server that refuses the client after a TLS 1.3 handshake (no or
            // a bad client certificate) sends an alert and resets: the alert,
            // already received, says why better than "connection reset".
            std::string alert = tls::pending_alert(ssl_);
            if (!alert.empty()) cause = std::move(alert);
        }
        throw IoError("TLS write failed: " + cause);
    }
}

DOGPILE_INLINE std::size_t TlsStream::read_some(char* buffer, std::size_t capacity, Deadline deadline) {
    for (;;) {
        ERR_clear_error();
        errno = 0;
        std::size_t read = 0;
        const int r = SSL_read_ex(ssl_, buffer, capacity, &read);
        if (r == 1) return read;
        const int saved_errno = errno;
        const int error = SSL_get_error(ssl_, r);
        failed_ = true;  // until the retry below is known to be one
        if (tls::wait_to_retry(fd_, error, deadline, "waiting for the server's reply on the TLS connection")) {
            failed_ = false;
            continue;
        }
        throw IoError("TLS read failed: " + tls::describe_failure(ssl_, error, saved_errno, false));
    }
}

DOGPILE_INLINE bool TlsStream::has_buffered_input() const noexcept { return SSL_pending(ssl_) > 0; }

DOGPILE_INLINE bool TlsStream::usable_after_idle() noexcept {
    if (failed_) return false;
    if (SSL_pending(ssl_) > 0) return false;
    // A non-blocking peek processes what arrived while idle: TLS 1.3 session
    // tickets are consumed silently (WANT_READ), application data or the
    // peer's close is reported.
    ERR_clear_error();
    char byte = 0;
    std::size_t peeked = 0;
    const int r = SSL_peek_ex(ssl_, &byte, 1, &peeked);
    if (r == 1) return false;  // unsolicited data would desynchronise replies
    const int error = SSL_get_error(ssl_, r);
    ERR_clear_error();
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return true;
    failed_ = true;
    return false;
}

DOGPILE_INLINE std::unique_ptr<Stream> make_tls_stream(int connected_fd, const TlsOptions& options,
                                                       std::string_view host, Deadline handshake_deadline) {
    struct FdGuard {
        int fd;
        ~FdGuard() {
            if (fd >= 0) ::close(fd);
        }
    } guard{connected_fd};

    const int flags = ::fcntl(connected_fd, F_GETFL, 0);
    if (flags < 0 || ::fcntl(connected_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        throw IoError(std::string("cannot make the socket non-blocking: ") + std::strerror(errno));
    }
    auto context = tls::make_context(options);
    BIO_METHOD* method = tls::socket_bio_method();
    if (method == nullptr)
        throw IoError("cannot create the TLS socket BIO: " + tls::openssl_error_text(ERR_get_error()));
    std::unique_ptr<SSL, tls::SslFree> ssl(SSL_new(context.get()));
    if (!ssl) throw IoError("cannot create a TLS session: " + tls::openssl_error_text(ERR_get_error()));
    BIO* bio = BIO_new(method);
    if (bio == nullptr) throw IoError("cannot create the TLS socket BIO: " + tls::openssl_error_text(ERR_get_error()));
    BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(connected_fd)));
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl.get(), bio, bio);  // the session owns the BIO now

    const std::string name = options.server_name.empty() ? std::string(host) : options.server_name;
    const bool ip = tls::is_ip_address(name);
    if (!ip) SSL_set_tlsext_host_name(ssl.get(), name.c_str());  // SNI carries names only (RFC 6066)
    if (options.verification == TlsVerification::verify_peer && options.verify_hostname) {
        const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), name.c_str())
                          : SSL_set1_host(ssl.get(), name.c_str());
        if (ok != 1) throw ConfigurationError("TLS options: cannot verify the server name '" + name + "'");
    }

    for (;;) {
        ERR_clear_error();
        errno = 0;
        const int r = SSL_connect(ssl.get());
        if (r == 1) break;
        const int saved_errno = errno;
        const int error = SSL_get_error(ssl.get(), r);
        if (!tls::wait_to_retry(connected_fd, error, handshake_deadline,
                                "in the TLS handshake: the server did not answer TLS (a plaintext port, or a "
                                "server that is not responding?)")) {
            throw IoError("TLS handshake with " + name +
                          " failed: " + tls::describe_failure(ssl.get(), error, saved_errno, true));
        }
    }
    guard.fd = -1;
    return std::make_unique<TlsStream>(connected_fd, context.release(), ssl.release());
}

#endif

}  // namespace dogpile::redis::details
