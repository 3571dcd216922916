// The host side of the guest console as ConsoleMode picks it: where output goes (stdout, a
// file, nowhere) and where input comes from (stdin, raw when it is a terminal, with Ctrl-A x
// to quit).
#pragma once

#include "devices/console_output.hpp"
#include "util/unique_fd.hpp"
#include "console/fd_output_queue.hpp"
#include "console/raw_terminal.hpp"
#include "util/event_loop.hpp"

#include <minivmm/vm_config.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace minivmm::console {

class DiscardConsoleOutput final : public devices::ConsoleOutput {
public:
    void write(std::span<const uint8_t>) override {}
};

// Tracks the Ctrl-A escape in console input: Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A.
class ConsoleEscape final {
public:
    static constexpr uint8_t kEscape = 0x01; // Ctrl-A
    struct Result {
        std::vector<uint8_t> to_guest;
        bool quit = false;
    };
    [[nodiscard]] Result feed(std::span<const uint8_t> input);

private:
    bool pending_ = false;
};

class ConsoleBackend final {
public:
    explicit ConsoleBackend(const ConsoleConfig& config);

    // Where the output goes: stdout or the file through an FdOutputQueue (never blocks the
    // device that writes), or nowhere.
    [[nodiscard]] std::shared_ptr<devices::ConsoleOutput> output() const { return output_; }
    // The I/O thread drains the output from now on.
    void start(util::EventLoop& loop);
    // The run is over: what is left of the output is written, or counted as lost (once).
    void finish();
    // The fd to read guest input from, if this console has input.
    [[nodiscard]] std::optional<int> input_fd() const { return input_fd_; }
    // Whether input is a terminal in raw mode (so Ctrl-A x is the way out).
    [[nodiscard]] bool interactive() const { return raw_ && raw_->active(); }

private:
    util::UniqueFd file_;
    std::shared_ptr<FdOutputQueue> queue_; // stdout or the file
    std::shared_ptr<devices::ConsoleOutput> output_;
    std::optional<int> input_fd_;
    std::unique_ptr<RawTerminal> raw_;
};

} // namespace minivmm::console
