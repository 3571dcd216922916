#include "cli/exec_command.hpp"

#include "cli/cli_output.hpp"
#include "cli/exec_options.hpp"
#include "cli/process_guards.hpp"

#include <minivmm/minivmm.hpp>

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

namespace minivmm::cli {
namespace {

// Taken by one thread with sigwait: the stop signals go to the command first (a second one
// stops the VM), SIGWINCH carries the terminal's size, SIGUSR1 releases the thread.
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGUSR1};

sigset_t signal_set()
{
    sigset_t set;
    sigemptyset(&set);
    for (const int signo : kSignals) {
        sigaddset(&set, signo);
    }
    return set;
}

std::optional<winsize> terminal_size()
{
    for (const int fd : {STDOUT_FILENO, STDIN_FILENO}) {
        winsize size{};
        if (::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_row > 0 && size.ws_col > 0) {
            return size;
        }
    }
    return std::nullopt;
}

class SignalThread final {
public:
    SignalThread(Vm& vm, sigset_t set) : vm_(vm), set_(set), thread_([this] { loop(); }) {}
    ~SignalThread()
    {
        done_ = true;
        pthread_kill(thread_.native_handle(), SIGUSR1);
        thread_.join();
    }

private:
    void loop()
    {
        bool forwarded = false;
        while (!done_) {
            int signo = 0;
            if (sigwait(&set_, &signo) != 0 || done_) {
                break;
            }
            if (signo == SIGWINCH) {
                if (const auto size = terminal_size()) {
                    vm_.resize_terminal(size->ws_row, size->ws_col);
                }
            } else if (signo != SIGUSR1) {
                // The first goes to the command (its exit status tells); while none runs, or on
                // the second, the VM stops.
                if (forwarded || !vm_.signal_command(signo)) {
                    vm_.stop(ExitStatus::signal(signo));
                }
                forwarded = true;
            }
        }
    }

    Vm& vm_;
    sigset_t set_;
    std::atomic<bool> done_ = false;
    std::thread thread_;
};

} // namespace

bool is_exec_command(int argc, const char* const argv[]) { return argc > 1 && std::string_view(argv[1]) == "exec"; }

int run_exec_command(int argc, const char* const argv[])
{
    auto parsed = parse_exec_options(argc, argv, current_environment());
    if (auto* print = std::get_if<PrintAndExit>(&parsed)) {
        std::fputs(print->text.c_str(), print->exit_code == 0 ? stdout : stderr);
        return print->exit_code;
    }
    auto& options = std::get<ExecOptions>(parsed);
    setup_logging(options.log_level);
    guard_process();
    Command& command = options.config.command;
    command.tty = options.tty == TtyMode::Always ||
                  (options.tty == TtyMode::Auto && ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO));
    if (const auto size = terminal_size()) {
        command.rows = size->ws_row;
        command.cols = size->ws_col;
    }
    const sigset_t signals = signal_set();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    try {
        auto vm = Vm::create(options.config);
        CommandIo io;
        io.stdin_fd = ::fcntl(STDIN_FILENO, F_GETFD) != -1 ? STDIN_FILENO : -1;
        CommandResult result;
        {
            vm->start();
            // From here this thread only runs the command, waits, stops and tears down
            // (VmConfig::seccomp); the signal thread, started after, inherits its allow-list.
            // A signal that comes before its sigwait() stays pending: it is blocked everywhere.
            vm->confine_calling_thread();
            SignalThread signal_thread(*vm, signals);
            io.stdout_fd = STDOUT_FILENO;
            io.stderr_fd = STDERR_FILENO;
            result = vm->run(command, io);
            vm->stop();
            static_cast<void>(vm->wait());
        }
        if (!result.completed) {
            if (result.exit_code == exit_code::kTimeout || result.exit_code == exit_code::kGuestCrash) {
                print_console_tail(vm->console());
            }
            spdlog::error("{}", result.detail);
        }
        return result.exit_code;
    } catch (const Error& e) {
        spdlog::error("{}", e.what());
        return exit_code::kVmmFailure;
    } catch (const std::exception& e) {
        spdlog::error("internal error: {}", e.what());
        return exit_code::kVmmFailure;
    }
}

} // namespace minivmm::cli
