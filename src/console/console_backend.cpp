#include "console/console_backend.hpp"

#include "util/sys_error.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace minivmm::console {

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
        queue_ = std::make_shared<FdOutputQueue>(STDOUT_FILENO, "stdout");
        if (::fcntl(STDIN_FILENO, F_GETFD) != -1) {
            input_fd_ = STDIN_FILENO;
            raw_ = std::make_unique<RawTerminal>(STDIN_FILENO);
        }
        break;
    case ConsoleMode::Stdout:
        queue_ = std::make_shared<FdOutputQueue>(STDOUT_FILENO, "stdout");
        break;
    case ConsoleMode::File:
        // O_NONBLOCK: a FIFO nobody reads is refused now (ENXIO) instead of blocking here.
        file_ = util::UniqueFd(
            ::open(config.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0644));
        if (!file_) {
            throw ConfigError(fmt::format("cannot open console file '{}': {}", config.path.string(),
                                          util::errno_text(errno)));
        }
        queue_ = std::make_shared<FdOutputQueue>(file_.get(), fmt::format("console file '{}'", config.path.string()));
        break;
    case ConsoleMode::None:
        break;
    }
    if (queue_) {
        output_ = queue_;
    } else {
        output_ = std::make_shared<DiscardConsoleOutput>();
    }
}

void ConsoleBackend::start(util::EventLoop& loop)
{
    if (queue_) {
        queue_->start(loop);
    }
}

void ConsoleBackend::finish()
{
    if (queue_) {
        queue_->finish();
    }
}

} // namespace minivmm::console
