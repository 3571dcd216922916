// The VMM's one I/O thread: an epoll loop over host file descriptors (stdin, and later
// TAP devices and block completions). Handlers run on the loop's thread only.
#pragma once

#include "util/fd_poller.hpp"
#include "util/unique_fd.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>

namespace minivmm::util {

class EventLoop final : public FdPoller {
public:
    EventLoop();
    // Watches `fd` for `events` (EPOLLIN...). Returns false if the fd cannot be polled
    // (e.g. a regular file or a closed descriptor), so the caller can fall back.
    [[nodiscard]] bool add(int fd, uint32_t events, Handler handler) override;
    [[nodiscard]] bool modify(int fd, uint32_t events) override;
    void remove(int fd) override;
    // A callback run on the loop thread every `period` (one at most).
    void set_tick(std::chrono::milliseconds period, std::function<void()> tick);

    // Runs until stop() is called.
    void run();
    // Safe from any thread.
    void stop();

private:
    UniqueFd epoll_;
    UniqueFd wake_; // eventfd that stop() signals
    std::mutex mutex_;
    std::unordered_map<int, Handler> handlers_;
    std::chrono::milliseconds tick_period_{-1};
    std::function<void()> tick_;
    bool stopping_ = false;
};

} // namespace minivmm::util
