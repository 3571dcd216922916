#include "console/guest_console.hpp"

#include "console/user_regex.hpp"
#include "util/sys_error.hpp"

#include <fcntl.h>

namespace minivmm::console {

GuestConsole::GuestConsole(const ConsoleConfig& config, ExitRequest request_exit)
    : request_exit_(std::move(request_exit)), backend_(config), capture_(config.capture_limit),
      matcher_(make_line_matcher(config)),
      console_(capture_, [this](std::span<const uint8_t> bytes) { input_.send(bytes); })
{
    std::vector<devices::ConsoleOutput*> outputs{&capture_, backend_.output().get()};
    if (config.log) {
        log_fd_ = util::UniqueFd(::open(config.log->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0644));
        if (!log_fd_) {
            throw ConfigError(
                fmt::format("cannot open console log '{}': {}", config.log->string(), util::errno_text(errno)));
        }
        log_ = std::make_unique<FdOutputQueue>(log_fd_.get(), fmt::format("console log '{}'", config.log->string()));
        outputs.push_back(log_.get());
    }
    if (matcher_) {
        outputs.push_back(matcher_.get());
    }
    tee_ = std::make_shared<ConsoleTee>(std::move(outputs));
}

std::unique_ptr<ConsoleLineMatcher> GuestConsole::make_line_matcher(const ConsoleConfig& config)
{
    // Failure first: a line that matches both patterns fails the run.
    std::vector<ConsoleLineMatcher::Rule> rules;
    if (config.fail_on) {
        rules.push_back({compile_user_regex(*config.fail_on),
                         [this](const std::string& line) { request_exit_(ExitStatus::console_failure(line)); }});
    }
    if (config.exit_on) {
        rules.push_back({compile_user_regex(*config.exit_on),
                         [this](const std::string& line) { request_exit_(ExitStatus::console_match(line)); }});
    }
    if (rules.empty()) {
        return nullptr;
    }
    return std::make_unique<ConsoleLineMatcher>(std::move(rules));
}

void GuestConsole::start(util::EventLoop& loop)
{
    backend_.start(loop);
    if (log_) {
        log_->start(loop);
    }
    input_.start(loop, backend_.input_fd(), backend_.interactive(), [this] {
        request_exit_({ExitReason::Stopped, exit_code::kSuccess, "console escape (Ctrl-A x)"});
    });
}

void GuestConsole::close(const ExitStatus& status)
{
    input_.close();
    capture_.close(status.detail);
}

void GuestConsole::finish()
{
    backend_.finish();
    if (log_) {
        log_->finish();
    }
}

} // namespace minivmm::console
