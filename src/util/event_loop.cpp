#include "util/event_loop.hpp"

#include "util/sys_error.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <array>

namespace minivmm::util {

EventLoop::EventLoop() : epoll_(::epoll_create1(EPOLL_CLOEXEC)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    if (!epoll_) {
        throw_sys_error("epoll_create1");
    }
    if (!wake_) {
        throw_sys_error("eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_.get();
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev) != 0) {
        throw_sys_error("epoll_ctl");
    }
}

bool EventLoop::add(int fd, uint32_t events, Handler handler)
{
    std::lock_guard lock(mutex_);
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
        return false;
    }
    handlers_[fd] = std::move(handler);
    return true;
}

bool EventLoop::modify(int fd, uint32_t events)
{
    std::lock_guard lock(mutex_);
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    return ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EventLoop::remove(int fd)
{
    std::lock_guard lock(mutex_);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    handlers_.erase(fd);
}

void EventLoop::set_tick(std::chrono::milliseconds period, std::function<void()> tick)
{
    std::lock_guard lock(mutex_);
    tick_period_ = period;
    tick_ = std::move(tick);
}

void EventLoop::run()
{
    std::array<epoll_event, 16> events{};
    for (;;) {
        int timeout = -1;
        {
            std::lock_guard lock(mutex_);
            if (stopping_) {
                return;
            }
            timeout = static_cast<int>(tick_period_.count());
        }
        const int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_sys_error("epoll_wait");
        }
        if (n == 0) {
            std::function<void()> tick;
            {
                std::lock_guard lock(mutex_);
                tick = tick_;
            }
            if (tick) {
                tick();
            }
            continue;
        }
        for (int i = 0; i < n; ++i) {
            const int fd = events[static_cast<size_t>(i)].data.fd;
            if (fd == wake_.get()) {
                return;
            }
            Handler handler;
            {
                std::lock_guard lock(mutex_);
                auto it = handlers_.find(fd);
                if (it == handlers_.end()) {
                    continue;
                }
                handler = it->second;
            }
            handler(events[static_cast<size_t>(i)].events);
        }
    }
}

void EventLoop::stop()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    const uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(wake_.get(), &one, sizeof(one));
}

} // namespace minivmm::util
