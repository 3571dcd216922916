// The one path of console input into the guest (the "input pump"). Bytes from the host
// terminal (stdin) and from Console::send() are queued here in arrival order and handed to
// the console device (a ConsoleInput: the 8250 UART, or the virtio-console) on the I/O
// thread, as fast as the device takes them: nothing is dropped. While kPendingLimit bytes
// wait, stdin is not read (a paste waits in the host's pipe or tty buffer, not in our memory).
#pragma once

#include "devices/console_input.hpp"
#include "util/unique_fd.hpp"
#include "console/console_backend.hpp"
#include "util/event_loop.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <span>

namespace minivmm::console {

class ConsoleInputPump final {
public:
    static constexpr std::size_t kPendingLimit = 4096;
    using QuitHandler = std::function<void()>;

    ConsoleInputPump(); // throws HostError if it cannot make its eventfd
    ConsoleInputPump(const ConsoleInputPump&) = delete;
    ConsoleInputPump& operator=(const ConsoleInputPump&) = delete;

    // The device that takes the input, before start(); a later call replaces an earlier one
    // (the builder connects the UART, then the virtio-console when there is one).
    void connect(devices::ConsoleInput& device) { device_ = &device; }
    // Queues `bytes` (any thread). Discarded after close().
    void send(std::span<const uint8_t> bytes);
    // Registers with `loop`, whose thread then runs all delivery: the wake-up of send(),
    // and `host_fd` (stdin) if given. `interactive`: Ctrl-A x on the host fd calls on_quit.
    // `loop` must stop running before this object is destroyed.
    void start(util::EventLoop& loop, std::optional<int> host_fd, bool interactive, QuitHandler on_quit);
    // On the loop thread, every few milliseconds: delivers what the device now has room for,
    // and resumes reading the host fd once the queue has drained.
    void on_tick();
    // The run ended: later send() calls are discarded.
    void close();

private:
    void on_wake();
    void on_host_readable();
    void watch_host_fd();
    void deliver();
    [[nodiscard]] std::size_t pending() const;

    util::UniqueFd wake_; // eventfd: send() -> loop thread
    devices::ConsoleInput* device_ = nullptr;
    mutable std::mutex mutex_;
    std::deque<uint8_t> pending_;
    bool closed_ = false;

    // Loop thread only.
    util::EventLoop* loop_ = nullptr;
    int host_fd_ = -1;
    bool host_paused_ = false;
    bool interactive_ = false;
    QuitHandler on_quit_;
    ConsoleEscape escape_;
};

} // namespace minivmm::console
