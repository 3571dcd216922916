#include "console/fd_output_queue.hpp"

#include "util/sigpipe.hpp"
#include "util/sys_error.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace minivmm::console {

FdOutputQueue::FdOutputQueue(int fd, std::string what, std::size_t capacity)
    : fd_(fd), what_(std::move(what)), capacity_(std::max<std::size_t>(capacity, 1)),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    if (!wake_) {
        util::throw_sys_error("eventfd for console output");
    }
    open_nonblocking();
}

FdOutputQueue::~FdOutputQueue()
{
    if (loop_ != nullptr) {
        loop_->remove(wake_.get());
        if (waiting_for_fd_) {
            loop_->remove(write_fd_);
        }
    }
    if (restore_flags_) {
        (void)::fcntl(fd_, F_SETFL, *restore_flags_);
    }
}

void FdOutputQueue::open_nonblocking()
{
    write_fd_ = fd_;
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
        close_locked(errno); // nothing will be written; say so at the end
        return;
    }
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
        kind_ = Kind::File;
        return;
    }
    if (S_ISSOCK(st.st_mode)) {
        kind_ = Kind::Socket;
        return;
    }
    kind_ = Kind::Pollable;
    // A description of our own: O_NONBLOCK on it changes nothing for the shell's terminal or
    // the other processes that share the pipe.
    const std::string self = fmt::format("/proc/self/fd/{}", fd_);
    own_fd_ = util::UniqueFd(::open(self.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (own_fd_) {
        write_fd_ = own_fd_.get();
        return;
    }
    if (errno == ENXIO) {
        close_locked(EPIPE); // a FIFO whose reader has gone
        return;
    }
    const int flags = ::fcntl(fd_, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK) == 0 && ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) == 0) {
        restore_flags_ = flags;
    }
}

void FdOutputQueue::write(std::span<const uint8_t> bytes)
{
    if (bytes.empty()) {
        return;
    }
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        if (stats_.closed || finished_) {
            stats_.dropped += bytes.size();
            return;
        }
        if (!buffer_) {
            buffer_.reset(new uint8_t[capacity_]); // not zeroed: only written bytes are touched
        }
        const std::size_t take = std::min(bytes.size(), capacity_ - size_);
        const std::size_t tail = (head_ + size_) % capacity_;
        const std::size_t first = std::min(take, capacity_ - tail);
        std::copy_n(bytes.begin(), first, buffer_.get() + tail);
        std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(first), take - first, buffer_.get());
        wake = size_ == 0 && take > 0;
        size_ += take;
        stats_.dropped += bytes.size() - take; // the reader did not keep up: the newest bytes go
    }
    if (wake) {
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof(one));
    }
}

void FdOutputQueue::start(util::EventLoop& loop)
{
    loop_ = &loop;
    if (!loop.add(wake_.get(), EPOLLIN, [this](uint32_t) { on_wake(); })) {
        util::throw_sys_error("epoll_ctl for console output");
    }
    // Output written before the start waits in the buffer: wake the loop for it.
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof(one));
}

long FdOutputQueue::write_some(const uint8_t* data, std::size_t len)
{
    const ssize_t n = kind_ == Kind::Socket ? ::send(write_fd_, data, len, MSG_DONTWAIT | MSG_NOSIGNAL)
                                            : ::write(write_fd_, data, len);
    return n >= 0 ? static_cast<long>(n) : -errno;
}

FdOutputQueue::Drain FdOutputQueue::drain()
{
    // Only one thread drains (the loop's, or finish() after it): bytes from head_ on stay put
    // while they are written, since write() only appends behind them.
    for (;;) {
        const uint8_t* data = nullptr;
        std::size_t len = 0;
        {
            std::lock_guard lock(mutex_);
            if (stats_.closed) {
                return Drain::Closed;
            }
            if (size_ == 0) {
                head_ = 0; // the next output starts at the front: fewer pages touched
                return Drain::Empty;
            }
            data = buffer_.get() + head_;
            len = std::min(size_, capacity_ - head_);
        }
        const long n = write_some(data, len);
        if (n > 0) {
            std::lock_guard lock(mutex_);
            head_ = (head_ + static_cast<std::size_t>(n)) % capacity_;
            size_ -= static_cast<std::size_t>(n);
            stats_.written += static_cast<uint64_t>(n);
            continue;
        }
        if (n == -EINTR) {
            continue;
        }
        if (n == -EAGAIN || n == -EWOULDBLOCK) {
            return Drain::Full;
        }
        std::lock_guard lock(mutex_);
        close_locked(n == 0 ? EPIPE : static_cast<int>(-n));
        return Drain::Closed;
    }
}

void FdOutputQueue::close_locked(int error)
{
    stats_.closed = true;
    error_ = error;
    stats_.dropped += size_;
    size_ = 0;
    head_ = 0;
}

void FdOutputQueue::on_wake()
{
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t got = ::read(wake_.get(), &count, sizeof(count));
    if (waiting_for_fd_) {
        return; // on_writable() drains
    }
    util::block_sigpipe_in_this_thread();
    if (drain() != Drain::Full) {
        return;
    }
    if (kind_ != Kind::File && loop_->add(write_fd_, EPOLLOUT, [this](uint32_t) { on_writable(); })) {
        waiting_for_fd_ = true;
        return;
    }
    // Not pollable and still full (a file that said EAGAIN): try again shortly.
    loop_->add_timer(util::EventLoop::Clock::now() + std::chrono::milliseconds(10), [this] { on_wake(); });
}

void FdOutputQueue::on_writable()
{
    // EPOLLERR/EPOLLHUP (the reader went away) also land here: the write says EPIPE.
    util::block_sigpipe_in_this_thread();
    if (drain() != Drain::Full) {
        loop_->remove(write_fd_);
        waiting_for_fd_ = false;
    }
}

void FdOutputQueue::finish(std::chrono::milliseconds grace)
{
    {
        std::lock_guard lock(mutex_);
        if (std::exchange(finished_, true)) {
            return;
        }
    }
    if (loop_ != nullptr && waiting_for_fd_) {
        loop_->remove(write_fd_);
        waiting_for_fd_ = false;
    }
    const util::ScopedSigpipeBlock no_sigpipe;
    auto last_progress = std::chrono::steady_clock::now();
    uint64_t written = stats().written;
    while (drain() == Drain::Full) {
        const auto now = std::chrono::steady_clock::now();
        if (stats().written != written) {
            written = stats().written;
            last_progress = now;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(last_progress + grace - now);
        if (left.count() <= 0) {
            break;
        }
        pollfd p{write_fd_, POLLOUT, 0};
        (void)::poll(&p, 1, static_cast<int>(left.count()));
    }
    Stats final_stats;
    int error = 0;
    {
        std::lock_guard lock(mutex_);
        stats_.dropped += size_; // a reader that stopped reading: what it never took is lost
        size_ = 0;
        head_ = 0;
        final_stats = stats_;
        error = error_;
    }
    // Done with the fd: our own description goes now (a reader waiting for EOF gets it when
    // the caller closes theirs), and the caller's flags come back.
    own_fd_.reset();
    if (restore_flags_) {
        (void)::fcntl(fd_, F_SETFL, *restore_flags_);
        restore_flags_.reset();
    }
    if (final_stats.dropped == 0) {
        return;
    }
    if (final_stats.closed) {
        spdlog::warn("console: {} bytes of guest output were not written to {}: it was closed ({})",
                     final_stats.dropped, what_, std::strerror(error));
    } else {
        spdlog::warn("console: {} bytes of guest output were not written to {}: it stopped taking output (a full pipe "
                     "nobody reads?)",
                     final_stats.dropped, what_);
    }
}

FdOutputQueue::Stats FdOutputQueue::stats() const
{
    std::lock_guard lock(mutex_);
    return stats_;
}

std::size_t FdOutputQueue::bytes_held() const
{
    std::lock_guard lock(mutex_);
    return buffer_ ? capacity_ : 0;
}

} // namespace minivmm::console
