// Puts a terminal into raw mode for as long as this object lives, and restores exactly the
// settings it found (on every exit path that unwinds: guest exit, signal, error).
#pragma once

#include <termios.h>

namespace minivmm::console {

class RawTerminal final {
public:
    // Does nothing unless `fd` is a terminal.
    explicit RawTerminal(int fd);
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
