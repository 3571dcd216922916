#include "util/event_loop.hpp"

#include "util/sys_error.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <vector>

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

EventLoop::TimerId EventLoop::add_timer(Clock::time_point when, std::function<void()> callback)
{
    TimerId id = 0;
    bool earliest = false;
    {
        std::lock_guard lock(mutex_);
        id = next_timer_id_++;
        earliest = timers_.empty() || when < timers_.begin()->first;
        timers_.emplace(when, Timer{id, std::move(callback)});
        timer_deadlines_.emplace(id, when);
    }
    if (earliest) {
        signal_wake(); // a loop blocked in epoll_wait recomputes its timeout
    }
    return id;
}

void EventLoop::cancel_timer(TimerId id)
{
    std::lock_guard lock(mutex_);
    auto deadline = timer_deadlines_.find(id);
    if (deadline == timer_deadlines_.end()) {
        return;
    }
    auto [first, last] = timers_.equal_range(deadline->second);
    for (auto it = first; it != last; ++it) {
        if (it->second.id == id) {
            timers_.erase(it);
            break;
        }
    }
    timer_deadlines_.erase(deadline);
}

void EventLoop::set_tick(std::chrono::milliseconds period, std::function<void()> tick)
{
    TimerId old = 0;
    {
        std::lock_guard lock(mutex_);
        tick_period_ = period;
        tick_ = std::move(tick);
        old = tick_timer_;
        tick_timer_ = 0;
    }
    cancel_timer(old);
    arm_tick(Clock::now());
}

void EventLoop::arm_tick(Clock::time_point now)
{
    std::chrono::milliseconds period{0};
    {
        std::lock_guard lock(mutex_);
        if (!tick_ || tick_period_.count() <= 0) {
            return;
        }
        period = tick_period_;
    }
    const TimerId id = add_timer(now + period, [this] {
        std::function<void()> tick;
        {
            std::lock_guard lock(mutex_);
            tick = tick_;
            tick_timer_ = 0;
        }
        arm_tick(Clock::now()); // the next one first: a tick that throws still ticks again
        if (tick) {
            tick();
        }
    });
    std::lock_guard lock(mutex_);
    tick_timer_ = id;
}

int EventLoop::run_due_timers(Clock::time_point now)
{
    std::vector<std::function<void()>> due;
    int timeout_ms = -1;
    {
        std::lock_guard lock(mutex_);
        while (!timers_.empty() && timers_.begin()->first <= now) {
            auto node = timers_.extract(timers_.begin());
            timer_deadlines_.erase(node.mapped().id);
            due.push_back(std::move(node.mapped().callback));
        }
    }
    for (auto& callback : due) {
        callback();
    }
    std::lock_guard lock(mutex_);
    if (!timers_.empty()) {
        const auto wait = timers_.begin()->first - Clock::now();
        // Round up, so that the loop does not wake a little early and spin until the deadline.
        const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
        timeout_ms = static_cast<int>(std::clamp<int64_t>(ms, 0, 60'000));
    }
    return timeout_ms;
}

void EventLoop::add_source(PollSource& source)
{
    std::lock_guard lock(mutex_);
    sources_.push_back(&source);
}

void EventLoop::remove_source(PollSource& source)
{
    std::lock_guard lock(mutex_);
    std::erase(sources_, &source);
    // Removed by a source of this turn (on the loop thread): not dispatched any more.
    std::replace(turn_sources_.begin(), turn_sources_.end(), &source, static_cast<PollSource*>(nullptr));
}

int EventLoop::prepare_sources(int timeout_ms)
{
    {
        std::lock_guard lock(mutex_);
        turn_sources_ = sources_;
    }
    for (size_t i = 0; i < turn_sources_.size(); ++i) {
        if (turn_sources_[i] == nullptr) {
            continue;
        }
        const auto limit = turn_sources_[i]->prepare();
        if (!limit) {
            continue;
        }
        const int ms = static_cast<int>(std::clamp<int64_t>(limit->count(), 0, 60'000));
        timeout_ms = timeout_ms < 0 ? ms : std::min(timeout_ms, ms);
    }
    return timeout_ms;
}

void EventLoop::dispatch_sources()
{
    // By index, skipping the ones removed during this turn (remove_source() clears them).
    for (size_t i = 0; i < turn_sources_.size(); ++i) {
        if (turn_sources_[i] != nullptr) {
            turn_sources_[i]->dispatch();
        }
    }
}

void EventLoop::run()
{
    loop_thread_ = std::this_thread::get_id();
    std::array<epoll_event, 16> events{};
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) {
                loop_thread_ = std::thread::id();
                return;
            }
        }
        const int timeout = prepare_sources(run_due_timers(Clock::now()));
        const int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_sys_error("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            const int fd = events[static_cast<size_t>(i)].data.fd;
            if (fd == wake_.get()) {
                uint64_t count = 0;
                [[maybe_unused]] auto got = ::read(wake_.get(), &count, sizeof(count));
                continue; // the top of the loop looks at stopping_ and the timers
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
        dispatch_sources();
    }
}

void EventLoop::wake()
{
    if (loop_thread_.load() != std::this_thread::get_id()) {
        signal_wake();
    }
}

void EventLoop::signal_wake()
{
    const uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(wake_.get(), &one, sizeof(one));
}

void EventLoop::stop()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    signal_wake();
}

} // namespace minivmm::util
