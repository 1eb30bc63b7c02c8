#pragma once
// Stream: the bytes of one Redis connection (plain TCP, a unix socket, or
// TLS). A Connection formats commands itself, writes them through a Stream,
// and parses what it reads with hiredis' reader: hiredis never touches the
// socket, so behaviour does not depend on the hiredis version or on how
// hiredis was built. A Stream is used by one thread at a time.

#include <chrono>
#include <cstddef>
#include <string_view>

namespace dogpile::redis::details {

using Deadline = std::chrono::steady_clock::time_point;

class Stream {
public:
    Stream() = default;
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    virtual ~Stream() = default;  // closes the socket

    // Writes every byte before `deadline`; a peer that has gone is an
    // IoError, never SIGPIPE. Throws TimeoutError when the deadline passes
    // first. Messages say what failed, not where: the Connection adds that.
    virtual void write_all(std::string_view bytes, Deadline deadline) = 0;

    // Waits until input is available (or the deadline), then reads at most
    // `capacity` bytes; returns how many (always > 0). Throws TimeoutError at
    // the deadline, IoError when the peer closed the connection or on error.
    virtual std::size_t read_some(char* buffer, std::size_t capacity, Deadline deadline) = 0;

    // Input the stream already holds (decrypted TLS records) that read_some
    // returns without touching the socket: poll() on fd() does not see it.
    virtual bool has_buffered_input() const noexcept = 0;

    // Without blocking: the peer has not closed its end and no unsolicited
    // data is waiting (which would desynchronise replies). A pool asks before
    // reusing an idle connection.
    virtual bool usable_after_idle() noexcept = 0;

    // The socket, for poll() and diagnostics; owned by the stream.
    virtual int fd() const noexcept = 0;
};

}  // namespace dogpile::redis::details
