#include "console/raw_terminal.hpp"

#include <unistd.h>

namespace minivmm::console {

RawTerminal::RawTerminal(int fd, Output output) : fd_(fd)
{
    if (::isatty(fd_) == 0 || ::tcgetattr(fd_, &saved_) != 0) {
        return;
    }
    termios raw = saved_;
    // Like cfmakeraw, but keep output post-processing: the guest's UART output already
    // carries CR LF, and OPOST off would not change that, while ISIG off gives Ctrl-C to
    // the guest (Ctrl-A x leaves minivmm).
    raw.c_iflag &= static_cast<tcflag_t>(~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON));
    raw.c_lflag &= static_cast<tcflag_t>(~(ECHO | ECHONL | ICANON | ISIG | IEXTEN));
    raw.c_cflag &= static_cast<tcflag_t>(~(CSIZE | PARENB));
    raw.c_cflag |= CS8;
    if (output == Output::Raw) {
        raw.c_oflag &= static_cast<tcflag_t>(~OPOST);
    }
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    active_ = ::tcsetattr(fd_, TCSANOW, &raw) == 0;
}

RawTerminal::~RawTerminal()
{
    if (active_) {
        ::tcsetattr(fd_, TCSANOW, &saved_);
    }
}

} // namespace minivmm::console
