// The host side of the guest console as ConsoleMode picks it: where output goes (stdout, a
// file, nowhere) and where input comes from (stdin, raw when it is a terminal, with Ctrl-A x
// to quit).
#pragma once

#include "devices/console_output.hpp"
#include "util/unique_fd.hpp"
#include "console/raw_terminal.hpp"

#include <minivmm/vm_config.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace minivmm::console {

// Writes everything to a file descriptor, retrying short writes; never throws (a closed
// stdout must not kill the guest).
class FdConsoleOutput final : public devices::ConsoleOutput {
public:
    explicit FdConsoleOutput(int fd) : fd_(fd) {}
    void write(std::span<const uint8_t> bytes) override;

private:
    int fd_;
};

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

    [[nodiscard]] std::shared_ptr<devices::ConsoleOutput> output() const { return output_; }
    // The fd to read guest input from, if this console has input.
    [[nodiscard]] std::optional<int> input_fd() const { return input_fd_; }
    // Whether input is a terminal in raw mode (so Ctrl-A x is the way out).
    [[nodiscard]] bool interactive() const { return raw_ && raw_->active(); }

private:
    util::UniqueFd file_;
    std::shared_ptr<devices::ConsoleOutput> output_;
    std::optional<int> input_fd_;
    std::unique_ptr<RawTerminal> raw_;
};

} // namespace minivmm::console
