// The one path of console input into the guest. Bytes from the host terminal (stdin) and
// from Console::send() are queued here in arrival order and handed to the console device (a
// ConsoleReceiver: the 8250 UART, or a virtio-console port) on the I/O thread, as fast as
// the device has room: nothing is dropped. While kPendingLimit bytes wait, stdin is not read
// (a paste waits in the host's pipe or tty buffer instead of in our memory).
#pragma once

#include "devices/console_receiver.hpp"
#include "util/unique_fd.hpp"
#include "vmm/console_backend.hpp"
#include "vmm/event_loop.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <span>

namespace minivmm {

class ConsoleInput final {
public:
    static constexpr std::size_t kPendingLimit = 4096;
    using QuitHandler = std::function<void()>;

    ConsoleInput(); // throws HostError if it cannot make its eventfd
    ConsoleInput(const ConsoleInput&) = delete;
    ConsoleInput& operator=(const ConsoleInput&) = delete;

    // The device that takes the input; set once, before start().
    void connect(ConsoleReceiver& receiver) { receiver_ = &receiver; }
    // Queues `bytes` (any thread). Discarded after close().
    void send(std::span<const uint8_t> bytes);
    // Registers with `loop`, whose thread then runs all delivery: the wake-up of send(),
    // and `host_fd` (stdin) if given. `interactive`: Ctrl-A x on the host fd calls on_quit.
    // `loop` must stop running before this object is destroyed.
    void start(EventLoop& loop, std::optional<int> host_fd, bool interactive, QuitHandler on_quit);
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

    UniqueFd wake_; // eventfd: send() -> loop thread
    ConsoleReceiver* receiver_ = nullptr;
    mutable std::mutex mutex_;
    std::deque<uint8_t> pending_;
    bool closed_ = false;

    // Loop thread only.
    EventLoop* loop_ = nullptr;
    int host_fd_ = -1;
    bool host_paused_ = false;
    bool interactive_ = false;
    QuitHandler on_quit_;
    ConsoleEscape escape_;
};

} // namespace minivmm
