// The VMM's one I/O thread: an epoll loop over host file descriptors (stdin, TAP devices,
// block completions) and timers. Handlers and timers run on the loop's thread only.
//
// Timers are deadlines kept by the loop itself: every turn computes epoll_wait's timeout
// from the earliest deadline and runs whatever is due, whether or not a descriptor fired, so
// a descriptor that fires all the time cannot starve them (docs/architecture.md, "I/O thread").
//
// Poll sources (poll_source.hpp) frame every turn: each prepares before the wait (and may
// shorten it) and dispatches after the ready handlers ran. One turn: due timers, prepare,
// epoll_wait, handlers, dispatch.
#pragma once

#include "util/fd_poller.hpp"
#include "util/poll_source.hpp"
#include "util/unique_fd.hpp"

#include <atomic>
#include <thread>
#include <vector>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>

namespace minivmm::util {

class EventLoop final : public FdPoller {
public:
    using Clock = std::chrono::steady_clock;
    using TimerId = uint64_t;

    EventLoop();
    // Watches `fd` for `events` (EPOLLIN...). Returns false if the fd cannot be polled
    // (e.g. a regular file or a closed descriptor), so the caller can fall back.
    [[nodiscard]] bool add(int fd, uint32_t events, Handler handler) override;
    [[nodiscard]] bool modify(int fd, uint32_t events) override;
    void remove(int fd) override;

    // Runs `callback` once on the loop thread at `when` (or on the next turn if it is past).
    // Safe from any thread; a callback may add and cancel timers.
    TimerId add_timer(Clock::time_point when, std::function<void()> callback);
    // Forgets a timer that has not run yet; no effect on one that ran or was cancelled.
    void cancel_timer(TimerId id);
    // A callback run on the loop thread every `period` (one at most; a later call replaces it).
    void set_tick(std::chrono::milliseconds period, std::function<void()> tick);

    // Adds a source that prepares and dispatches on every turn from the next one on, in the
    // order added. Call before run() or from the loop thread; the source must outlive its
    // registration (remove_source(), likewise before run(), after it returned, or on the loop thread).
    void add_source(PollSource& source);
    void remove_source(PollSource& source);

    // Makes a loop blocked in epoll_wait run another turn soon, so that its sources prepare
    // again (e.g. a source's descriptors changed from another thread). Safe from any thread;
    // free on the loop thread, which prepares again before it next waits anyway.
    void wake();

    // Runs until stop() is called.
    void run();
    // Safe from any thread.
    void stop();

private:
    void signal_wake();
    // Asks every source to prepare; returns the wait limit (-1: none) given the timers' `timeout_ms`.
    int prepare_sources(int timeout_ms);
    void dispatch_sources();
    // Runs the timers due at `now`; returns the time until the next one (-1: none).
    int run_due_timers(Clock::time_point now);
    void arm_tick(Clock::time_point now);

    struct Timer {
        TimerId id;
        std::function<void()> callback;
    };

    UniqueFd epoll_;
    UniqueFd wake_; // eventfd: stop(), or a timer added from another thread
    std::mutex mutex_;
    std::unordered_map<int, Handler> handlers_;
    std::multimap<Clock::time_point, Timer> timers_;
    std::unordered_map<TimerId, Clock::time_point> timer_deadlines_;
    TimerId next_timer_id_ = 1;
    std::chrono::milliseconds tick_period_{0};
    std::function<void()> tick_;
    TimerId tick_timer_ = 0;
    bool stopping_ = false;
    std::vector<PollSource*> sources_;
    std::vector<PollSource*> turn_sources_; // the sources of this turn, a copy taken under the lock
    std::atomic<std::thread::id> loop_thread_{};
};

} // namespace minivmm::util
