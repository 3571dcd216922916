// Puts a terminal into raw mode for as long as this object lives, and restores exactly the
// settings it found (on every exit path that unwinds: guest exit, signal, error).
#pragma once

#include <termios.h>

namespace minivmm::console {

class RawTerminal final {
public:
    // How output is treated while raw.
    enum class Output {
        Processed, // OPOST kept (the guest console: a UART's output is shown as it is)
        Raw,       // OPOST off too, as cfmakeraw: the guest's own pty already turned "\n" into
                   // "\r\n" (minivmm exec --tty), so the bytes pass through untouched
    };
    // Does nothing unless `fd` is a terminal.
    explicit RawTerminal(int fd, Output output = Output::Processed);
    RawTerminal(const RawTerminal&) = delete;
    RawTerminal& operator=(const RawTerminal&) = delete;
    ~RawTerminal();

    [[nodiscard]] bool active() const { return active_; }

private:
    int fd_;
    bool active_ = false;
    termios saved_{};
};

} // namespace minivmm::console
