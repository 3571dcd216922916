// Everything on the host side of one VM's console, wired together: the console device writes
// to output(), which fans out to the in-memory capture (Console), the ConsoleMode back end
// (stdout, a file), the --console-log file and the --exit-on/--fail-on line matcher; input
// from stdin and from Console::send() takes the one ConsoleInputPump path to the device.
#pragma once

#include "util/unique_fd.hpp"
#include "console/console_backend.hpp"
#include "console/console_capture.hpp"
#include "console/fd_output_queue.hpp"
#include "console/console_input_pump.hpp"
#include "console/console_line_matcher.hpp"
#include "console/console_tee.hpp"
#include "util/event_loop.hpp"

#include <minivmm/console.hpp>
#include <minivmm/exit_status.hpp>
#include <minivmm/vm_config.hpp>

#include <functional>
#include <memory>
#include <optional>

namespace minivmm::console {

class GuestConsole final {
public:
    using ExitRequest = std::function<void(ExitStatus)>;

    // Opens the output files (ConfigError if it cannot). `request_exit` ends the run for
    // Ctrl-A x and for the exit-on/fail-on patterns; it may be called on a vCPU thread.
    GuestConsole(const ConsoleConfig& config, ExitRequest request_exit);

    // What the console devices write to (the UART, and the virtio-console if there is one).
    [[nodiscard]] std::shared_ptr<devices::ConsoleOutput> output() { return tee_; }
    // The device that takes console input (the last one connected when the VM is built).
    void connect_input(devices::ConsoleInput& device) { input_.connect(device); }
    // Starts input delivery and output draining on `loop` (the VM's I/O thread).
    void start(util::EventLoop& loop);
    // On the I/O thread every few milliseconds.
    void on_tick() { input_.on_tick(); }
    // The run ended with `status`: expect() stops waiting, send() is discarded.
    void close(const ExitStatus& status);
    // Once no thread writes any more and the loop has stopped: writes what is left of the
    // output to stdout/the files, or counts it as lost (said once, as a warning).
    void finish();

    [[nodiscard]] Console& console() { return console_; }

private:
    [[nodiscard]] std::unique_ptr<ConsoleLineMatcher> make_line_matcher(const ConsoleConfig& config);

    ExitRequest request_exit_;
    ConsoleBackend backend_;
    util::UniqueFd log_fd_;
    std::unique_ptr<FdOutputQueue> log_;
    ConsoleCapture capture_;
    std::unique_ptr<ConsoleLineMatcher> matcher_;
    std::shared_ptr<ConsoleTee> tee_;
    ConsoleInputPump input_;
    Console console_;
};

} // namespace minivmm::console
