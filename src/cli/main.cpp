// minivmm: the command-line front end, a thin shell over libminivmm.
#include "cli/cli_output.hpp"
#include "cli/exec_command.hpp"
#include "cli/options.hpp"
#include "cli/process_guards.hpp"

#include <minivmm/minivmm.hpp>

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <pthread.h>
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

} // namespace

int main(int argc, char** argv)
{
    if (minivmm::cli::is_exec_command(argc, argv)) {
        return minivmm::cli::run_exec_command(argc, argv);
    }
    auto parsed = minivmm::cli::parse_options(argc, argv);
    if (auto* print = std::get_if<minivmm::cli::PrintAndExit>(&parsed)) {
        std::fputs(print->text.c_str(), print->exit_code == 0 ? stdout : stderr);
        return print->exit_code;
    }
    const auto& options = std::get<minivmm::cli::Options>(parsed);
    minivmm::cli::setup_logging(options.log_level);
    minivmm::cli::guard_process();

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
            minivmm::cli::print_console_tail(vm->console());
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
