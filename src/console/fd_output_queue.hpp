// Guest console output to a host file descriptor (stdout, `--console file:`, `--console-log`)
// that never blocks the thread that produced it (issue 13, defect 3; docs/architecture.md
// "Console output"): write() copies into a bounded buffer and returns, whatever the other end
// does; the I/O thread drains the buffer into the fd without blocking, waiting for EPOLLOUT
// when the fd is full. A reader that stops reading fills the buffer, and then output is
// dropped and counted; a reader that goes away (EPIPE) closes the queue, and output from then
// on is dropped and counted. finish(), at the end of the run, writes what is left for as long
// as the fd keeps taking it (giving up after `grace` without progress) and says once what was
// lost.
//
// How each kind of fd is written without blocking and without changing it for anyone else:
//  - regular file or block device: plain write() on the I/O thread (it does not wait for a
//    reader; epoll cannot watch it);
//  - socket: send(MSG_DONTWAIT | MSG_NOSIGNAL);
//  - pipe, FIFO, terminal, other character device: a second open file description of our own,
//    opened through /proc/self/fd with O_NONBLOCK, so the shell's terminal or pipe is not left
//    non-blocking; where /proc cannot reopen it, O_NONBLOCK on the fd itself, restored when
//    the queue goes.
// SIGPIPE is blocked around every write (util/sigpipe.hpp).
#pragma once

#include "devices/console_output.hpp"
#include "util/event_loop.hpp"
#include "util/unique_fd.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

namespace minivmm::console {

class FdOutputQueue final : public devices::ConsoleOutput {
public:
    static constexpr std::size_t kCapacity = 1 << 20;
    static constexpr std::chrono::milliseconds kFinishGrace{1000};

    struct Stats {
        uint64_t written = 0; // bytes the fd took
        uint64_t dropped = 0; // bytes the guest wrote that the fd never got
        bool closed = false;  // the fd failed (EPIPE: the reader went away)
    };

    // `fd` is not owned and must outlive the queue; `what` names it in messages ("stdout").
    FdOutputQueue(int fd, std::string what, std::size_t capacity = kCapacity);
    ~FdOutputQueue() override;
    FdOutputQueue(const FdOutputQueue&) = delete;
    FdOutputQueue& operator=(const FdOutputQueue&) = delete;

    // Any thread; never blocks on the fd.
    void write(std::span<const uint8_t> bytes) override;
    // From now on `loop`'s thread drains the queue. `loop` must stop running before the queue
    // is destroyed.
    void start(util::EventLoop& loop);
    // Once nothing writes any more and the loop has stopped: writes what is left, waiting for
    // the fd at most `grace` without progress, then says once (a warning) what was lost.
    // Later output is dropped; the queue's own description of the fd is closed.
    void finish(std::chrono::milliseconds grace = kFinishGrace);

    [[nodiscard]] Stats stats() const;
    // Host memory the buffer takes: at most the capacity.
    [[nodiscard]] std::size_t bytes_held() const;

private:
    enum class Kind { File, Socket, Pollable };
    enum class Drain { Empty, Full, Closed };

    void open_nonblocking();
    // Writes from the buffer until it is empty, the fd is full or the fd failed.
    Drain drain();
    [[nodiscard]] long write_some(const uint8_t* data, std::size_t len);
    void on_wake();
    void on_writable();
    void close_locked(int error);

    const int fd_;
    const std::string what_;
    const std::size_t capacity_;
    Kind kind_ = Kind::File;
    util::UniqueFd own_fd_;           // our O_NONBLOCK description of a pipe or terminal
    std::optional<int> restore_flags_; // fd_'s flags, when we had to set O_NONBLOCK on it
    int write_fd_ = -1;

    util::UniqueFd wake_; // eventfd: write() -> loop thread
    util::EventLoop* loop_ = nullptr;
    bool waiting_for_fd_ = false; // loop thread: EPOLLOUT armed

    mutable std::mutex mutex_;
    std::unique_ptr<uint8_t[]> buffer_; // allocated on first use, `capacity_` bytes
    std::size_t head_ = 0;              // consumer: only drain() moves it
    std::size_t size_ = 0;
    Stats stats_;
    int error_ = 0;
    bool finished_ = false; // finish() ran: later output is dropped
};

} // namespace minivmm::console
