#include "console/console_backend.hpp"

#include "util/sys_error.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace minivmm::console {

void FdConsoleOutput::write(std::span<const uint8_t> bytes)
{
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return; // output closed or full: the guest keeps running, the bytes are gone
        }
        bytes = bytes.subspan(static_cast<size_t>(n));
    }
}

ConsoleEscape::Result ConsoleEscape::feed(std::span<const uint8_t> input)
{
    Result result;
    for (const uint8_t byte : input) {
        if (pending_) {
            pending_ = false;
            if (byte == 'x' || byte == 'X') {
                result.quit = true;
                return result;
            }
            if (byte != kEscape) {
                result.to_guest.push_back(kEscape);
            }
            result.to_guest.push_back(byte);
        } else if (byte == kEscape) {
            pending_ = true;
        } else {
            result.to_guest.push_back(byte);
        }
    }
    return result;
}

ConsoleBackend::ConsoleBackend(const ConsoleConfig& config)
{
    switch (config.mode) {
    case ConsoleMode::Stdio:
        output_ = std::make_shared<FdConsoleOutput>(STDOUT_FILENO);
        if (::fcntl(STDIN_FILENO, F_GETFD) != -1) {
            input_fd_ = STDIN_FILENO;
            raw_ = std::make_unique<RawTerminal>(STDIN_FILENO);
        }
        break;
    case ConsoleMode::Stdout:
        output_ = std::make_shared<FdConsoleOutput>(STDOUT_FILENO);
        break;
    case ConsoleMode::Stderr:
        output_ = std::make_shared<FdConsoleOutput>(STDERR_FILENO);
        break;
    case ConsoleMode::File:
        file_ = util::UniqueFd(::open(config.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
        if (!file_) {
            throw ConfigError(fmt::format("cannot open console file '{}': {}", config.path.string(),
                                          util::errno_text(errno)));
        }
        output_ = std::make_shared<FdConsoleOutput>(file_.get());
        break;
    case ConsoleMode::None:
        output_ = std::make_shared<DiscardConsoleOutput>();
        break;
    }
}

} // namespace minivmm::console
