// minivmm: the command-line front end, a thin shell over libminivmm.
#include "cli/options.hpp"

#include <minivmm/minivmm.hpp>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <pthread.h>
#include <sys/prctl.h>
#include <thread>

namespace {

// Signals that end the run cleanly: the guest is stopped, disks flushed, the terminal
// restored, and the exit code is 128+N.
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

sigset_t stop_signal_set()
{
    sigset_t set;
    sigemptyset(&set);
    for (int signo : kStopSignals) {
        sigaddset(&set, signo);
    }
    return set;
}

void setup_logging(spdlog::level::level_enum level)
{
    // Logs go to stderr so they never mix into the guest console on stdout.
    auto logger = spdlog::stderr_color_mt("minivmm");
    logger->set_pattern("minivmm: %^%l%$: %v");
    logger->set_level(level);
    spdlog::set_default_logger(logger);
}

// What the guest printed last, on stderr: when a CI run times out, the reason is usually
// there (a hung test, a prompt waiting for input), even when stdout went to a file or nowhere.
void print_console_tail(const minivmm::Console& console)
{
    const std::string tail = console.tail();
    std::fprintf(stderr, "minivmm: last %zu console lines:\n", minivmm::Console::kTailLines);
    if (tail.empty()) {
        std::fputs("  (no console output)\n", stderr);
    }
    std::size_t pos = 0;
    while (pos < tail.size()) {
        const auto nl = tail.find('\n', pos);
        std::fprintf(stderr, "  | %.*s\n", static_cast<int>(nl - pos), tail.data() + pos);
        pos = nl + 1;
    }
}

} // namespace

int main(int argc, char** argv)
{
    auto parsed = minivmm::cli::parse_options(argc, argv);
    if (auto* print = std::get_if<minivmm::cli::PrintAndExit>(&parsed)) {
        std::fputs(print->text.c_str(), print->exit_code == 0 ? stdout : stderr);
        return print->exit_code;
    }
    const auto& options = std::get<minivmm::cli::Options>(parsed);
    setup_logging(options.log_level);
    // A reader that goes away (`minivmm ... | head -1`) must not kill us before the guest's
    // verdict, the devices' teardown and the disks' flush: writes fail with EPIPE instead.
    std::signal(SIGPIPE, SIG_IGN);
    // Nothing minivmm runs may gain privileges (setuid programs, file capabilities): it
    // executes no program, and a compromised thread must not either.
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);

    // Block the stop signals in every thread (the VM's threads inherit the mask); one
    // thread takes them with sigwait and asks the VM to stop.
    const sigset_t signals = stop_signal_set();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    try {
        auto vm = minivmm::Vm::create(options.vm);
        vm->start();
        // From here this thread only waits, stops and tears down (VmConfig::seccomp); the
        // signal thread, started after, inherits its allow-list. A stop signal that comes
        // before sigwait() stays pending until then: it is blocked everywhere.
        vm->confine_calling_thread();
        std::thread signal_thread([&vm, signals] {
            int signo = 0;
            if (sigwait(&signals, &signo) == 0 && signo != 0) {
                vm->stop(minivmm::ExitStatus::signal(signo));
            }
        });
        const auto status = vm->wait();
        // Release the signal thread: a stop signal to ourselves after the run is over.
        pthread_kill(signal_thread.native_handle(), SIGHUP);
        signal_thread.join();
        if (status.reason == minivmm::ExitReason::Timeout) {
            print_console_tail(vm->console());
        }
        if (status.code != 0 || status.reason == minivmm::ExitReason::Crash) {
            // A guest verdict is not an error; one that had to be capped is worth a warning.
            const bool capped = status.reason == minivmm::ExitReason::DebugExit && status.guest_value != status.code;
            spdlog::log(status.reason != minivmm::ExitReason::DebugExit ? spdlog::level::err
                        : capped                                        ? spdlog::level::warn
                                                                        : spdlog::level::info,
                        "{} (exit code {})", status.detail, status.code);
        } else {
            spdlog::info("{}", status.detail);
        }
        return status.code;
    } catch (const minivmm::Error& e) {
        spdlog::error("{}", e.what());
        return minivmm::exit_code::kVmmFailure;
    } catch (const std::exception& e) {
        spdlog::error("internal error: {}", e.what());
        return minivmm::exit_code::kVmmFailure;
    }
}
