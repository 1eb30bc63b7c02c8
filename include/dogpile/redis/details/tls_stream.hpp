#pragma once
// TlsStream: a Stream (stream.hpp) that speaks TLS over a connected TCP
// socket, with OpenSSL. make_tls_stream() runs the handshake within a
// deadline and returns the stream; the Connection uses it when
// ConnectionOptions::tls is set.
//
// Compiled only when DOGPILE_HAS_TLS is 1 (tls_options.hpp); otherwise
// make_tls_stream() closes the socket and throws ConfigurationError "built
// without TLS support (OpenSSL)". OpenSSL is included by the definitions
// (tls_stream-inl.hpp) only, never by this declaration.
//
// Errors: every failure is an IoError whose message names the cause
// ("certificate verify failed: certificate has expired", "the server did not
// answer TLS: is this a plaintext port?"); a passed deadline is a
// TimeoutError. Writes never raise SIGPIPE and the process's signal state is
// left alone: the socket is written with send(MSG_NOSIGNAL) (or carries
// SO_NOSIGPIPE: no_sigpipe.hpp) through a BIO of our own.
//
// Thread safety: one thread at a time per stream (as every Stream). Streams
// on different threads are independent.

#include <memory>
#include <string_view>

#include "../../details/linkage.hpp"
#include "../errors.hpp"
#include "../tls_options.hpp"
#include "stream.hpp"

#if DOGPILE_HAS_TLS
// OpenSSL's own spelling of its handle types, so this header needs no OpenSSL header.
struct ssl_st;
struct ssl_ctx_st;
#endif

namespace dogpile::redis::details {

#if DOGPILE_HAS_TLS
class TlsStream final : public Stream {
public:
    // Takes ownership of `connected_fd`, `context` and `ssl` (whose BIO is on the fd).
    DOGPILE_INLINE TlsStream(int connected_fd, ssl_ctx_st* context, ssl_st* ssl) noexcept;
    DOGPILE_INLINE ~TlsStream() override;

    DOGPILE_INLINE void write_all(std::string_view bytes, Deadline deadline) override;
    DOGPILE_INLINE std::size_t read_some(char* buffer, std::size_t capacity, Deadline deadline) override;
    DOGPILE_INLINE bool has_buffered_input() const noexcept override;
    DOGPILE_INLINE bool usable_after_idle() noexcept override;
    int fd() const noexcept override { return fd_; }

private:
    int fd_;
    ssl_ctx_st* context_;
    ssl_st* ssl_;
    // A fatal error or the peer's close: no close_notify is sent on destruction.
    bool failed_ = false;
};
#endif

// Runs the TLS handshake on `connected_fd` (a connected TCP socket, made
// non-blocking here) and returns the stream that owns it. `host` is the
// connection's host: the default server_name. On any failure the fd is
// closed and IoError (TimeoutError at `handshake_deadline`) or
// ConfigurationError (an unreadable CA or key file) is thrown.
std::unique_ptr<Stream> make_tls_stream(int connected_fd, const TlsOptions& options, std::string_view host,
                                        Deadline handshake_deadline);

}  // namespace dogpile::redis::details

#if DOGPILE_INCLUDE_DEFINITIONS
#include "tls_stream-inl.hpp"
#endif
