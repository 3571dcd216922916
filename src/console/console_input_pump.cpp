#include "console/console_input_pump.hpp"

#include "util/sys_error.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <spdlog/spdlog.h>

namespace minivmm::console {

ConsoleInputPump::ConsoleInputPump() : wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    if (!wake_) {
        util::throw_sys_error("eventfd for console input");
    }
}

void ConsoleInputPump::send(std::span<const uint8_t> bytes)
{
    {
        std::lock_guard lock(mutex_);
        if (closed_ || bytes.empty()) {
            return;
        }
        pending_.insert(pending_.end(), bytes.begin(), bytes.end());
    }
    const uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(wake_.get(), &one, sizeof(one));
}

void ConsoleInputPump::start(util::EventLoop& loop, std::optional<int> host_fd, bool interactive, QuitHandler on_quit)
{
    loop_ = &loop;
    interactive_ = interactive;
    on_quit_ = std::move(on_quit);
    if (!loop.add(wake_.get(), EPOLLIN, [this](uint32_t) { on_wake(); })) {
        util::throw_sys_error("epoll_ctl for console input");
    }
    if (host_fd) {
        host_fd_ = *host_fd;
        watch_host_fd();
    }
}

void ConsoleInputPump::watch_host_fd()
{
    if (!loop_->add(host_fd_, EPOLLIN, [this](uint32_t) { on_host_readable(); })) {
        spdlog::debug("console input fd {} cannot be polled; no console input from it", host_fd_);
        host_fd_ = -1;
    }
}

void ConsoleInputPump::on_tick()
{
    deliver();
    if (host_paused_ && pending() < kPendingLimit) {
        host_paused_ = false;
        watch_host_fd();
    }
}

void ConsoleInputPump::close()
{
    std::lock_guard lock(mutex_);
    closed_ = true;
    pending_.clear();
}

void ConsoleInputPump::on_wake()
{
    uint64_t count = 0;
    [[maybe_unused]] auto got = ::read(wake_.get(), &count, sizeof(count));
    deliver();
}

void ConsoleInputPump::on_host_readable()
{
    if (pending() >= kPendingLimit) {
        // epoll is level-triggered: unread bytes would wake us in a loop. on_tick() resumes.
        loop_->remove(host_fd_);
        host_paused_ = true;
        return;
    }
    std::array<uint8_t, 256> buf{};
    const ssize_t n = ::read(host_fd_, buf.data(), buf.size());
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            return;
        }
        loop_->remove(host_fd_); // EOF or error: no more input from the host
        host_fd_ = -1;
        return;
    }
    auto result = escape_.feed(std::span(buf.data(), static_cast<size_t>(n)));
    if (result.quit && interactive_ && on_quit_) {
        on_quit_();
    }
    if (!result.to_guest.empty()) {
        std::lock_guard lock(mutex_);
        if (!closed_) {
            pending_.insert(pending_.end(), result.to_guest.begin(), result.to_guest.end());
        }
    }
    deliver();
}

void ConsoleInputPump::deliver()
{
    if (device_ == nullptr) {
        return;
    }
    // Only this (the loop) thread takes from the queue and calls the device, so input
    // reaches it in order: a chunk is copied out, offered, and only what the device took
    // is removed (others only append meanwhile). The device is called without our lock
    // held: its lock comes first (its output may end the run, which closes this input).
    std::array<uint8_t, 256> chunk{};
    for (;;) {
        std::size_t count = 0;
        {
            std::lock_guard lock(mutex_);
            count = std::min(chunk.size(), pending_.size());
            std::copy_n(pending_.begin(), count, chunk.begin());
        }
        if (count == 0) {
            return;
        }
        const std::size_t taken = std::min(count, device_->receive(std::span(chunk.data(), count)));
        std::lock_guard lock(mutex_);
        if (closed_) {
            return; // close() emptied the queue
        }
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(taken));
        if (taken < count) {
            return; // the device is full: on_tick() offers the rest again
        }
    }
}

std::size_t ConsoleInputPump::pending() const
{
    std::lock_guard lock(mutex_);
    return pending_.size();
}

} // namespace minivmm::console
