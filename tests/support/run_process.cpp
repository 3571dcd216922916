#include "support/run_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <stdexcept>

namespace minivmm::test {

ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds watchdog,
                          const std::string& stdin_data, const SignalOnOutput& send)
{
    ProcessOptions options;
    options.watchdog = watchdog;
    options.stdin_data = stdin_data;
    options.send = send;
    return run_process(argv, options);
}

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options)
{
    const auto& watchdog = options.watchdog;
    const auto& stdin_data = options.stdin_data;
    const auto& send = options.send;
    const auto started = std::chrono::steady_clock::now();
    int out_pipe[2];
    int err_pipe[2];
    int in_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0 || ::pipe2(in_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe2 failed");
    }
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);

    const pid_t pid = ::fork();
    if (pid < 0) {
        throw std::runtime_error("fork failed");
    }
    if (pid == 0) {
        ::dup2(in_pipe[0], STDIN_FILENO);
        ::dup2(out_pipe[1], STDOUT_FILENO);
        ::dup2(err_pipe[1], STDERR_FILENO);
        // Only stdin, stdout and stderr: whatever else the test process has open is not the
        // program's (and would hide an fd it leaks without close-on-exec).
        ::close_range(3, ~0U, 0);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    ::close(in_pipe[0]);
    if (!stdin_data.empty()) {
        [[maybe_unused]] auto n = ::write(in_pipe[1], stdin_data.data(), stdin_data.size());
    }
    ::close(in_pipe[1]);

    ProcessResult result;
    const auto deadline = started + watchdog;
    // NeverRead: the read end stays open (kept aside) but is not polled.
    int unread_out = -1;
    std::array<pollfd, 2> fds{{{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}}};
    int open_fds = 2;
    if (options.stdout_reader == StdoutReader::NeverRead) {
        unread_out = out_pipe[0];
        fds[0].fd = -1;
        --open_fds;
    }
    bool signalled = false;
    bool delayed_signal_sent = options.signal_after_delay == 0;
    while (open_fds > 0) {
        auto now = std::chrono::steady_clock::now();
        if (!delayed_signal_sent && now >= started + options.delay) {
            ::kill(pid, options.signal_after_delay);
            delayed_signal_sent = true;
        }
        auto until = deadline;
        if (!delayed_signal_sent) {
            until = std::min(until, started + options.delay);
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now);
        if (now >= deadline) {
            result.timed_out = true;
            ::kill(pid, SIGKILL);
            break;
        }
        if (::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(left.count(), 0))) < 0) {
            continue;
        }
        for (size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
                continue;
            }
            std::array<char, 4096> buf;
            const ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
            if (n <= 0) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            } else {
                (i == 0 ? result.out : result.err).append(buf.data(), static_cast<size_t>(n));
                if (i == 0 && options.stdout_reader == StdoutReader::FirstLine &&
                    result.out.find('\n') != std::string::npos) {
                    result.out.erase(result.out.find('\n') + 1);
                    ::close(fds[0].fd); // `head -1` has its line and exits
                    fds[0].fd = -1;
                    --open_fds;
                }
            }
            if (send.signal != 0 && !signalled && result.out.find(send.after_output) != std::string::npos) {
                if (send.inspect) {
                    send.inspect(pid);
                }
                ::kill(pid, send.signal);
                signalled = true;
            }
        }
    }
    for (auto& fd : fds) {
        if (fd.fd >= 0) {
            ::close(fd.fd);
        }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (unread_out >= 0) {
        ::close(unread_out);
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    return result;
}

} // namespace minivmm::test
