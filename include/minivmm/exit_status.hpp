// How a guest run ended, and the process exit code that stands for it.
#pragma once

#include <algorithm>
#include <string>
#include <utility>

namespace minivmm {

// The documented exit codes (conventions of `timeout` and `docker run`).
namespace exit_code {
inline constexpr int kSuccess = 0;      // poweroff, reboot, debug-exit 0, or exit-on matched
// 1-123: the guest's verdict through the debug-exit port. The port takes a byte, but 124-255 are
// minivmm's own codes, which a guest must not be able to impersonate: a guest value above 123 is
// reported as 123 (ExitStatus::guest_value keeps the byte).
inline constexpr int kGuestMax = 123;
inline constexpr int kTimeout = 124;    // --timeout ran out
inline constexpr int kVmmFailure = 125; // bad configuration or input, or a KVM/device failure
inline constexpr int kGuestCrash = 126; // triple fault, KVM internal error, guest panic, fail-on matched
inline constexpr int kSignalBase = 128; // 128+N: stopped by signal N
} // namespace exit_code

enum class ExitReason {
    PowerOff,   // ACPI S5 or equivalent
    Reboot,     // i8042 reset line, ACPI reset register, triple fault is NOT this
    DebugExit,  // the guest wrote a byte to the debug-exit port
    Crash,      // triple fault, emulation failure, entry failure, guest panic
    Timeout,    // the configured timeout ran out
    Signal,     // SIGINT/SIGTERM to the VMM
    Stopped,        // stop() from the embedding program
    HostFailure,    // minivmm or KVM failed while the guest ran
    ConsoleMatch,   // a console line matched ConsoleConfig::exit_on (--exit-on)
    ConsoleFailure, // a console line matched ConsoleConfig::fail_on (--fail-on)
};

struct ExitStatus {
    ExitReason reason = ExitReason::PowerOff;
    int code = 0;       // the process exit code this stands for
    std::string detail; // one line for humans: "guest wrote 42 to the debug-exit port"
    int guest_value = -1; // DebugExit: the byte the guest wrote (0-255); `code` is min(it, 123)

    static ExitStatus power_off() { return {ExitReason::PowerOff, exit_code::kSuccess, "guest powered off"}; }
    static ExitStatus reboot() { return {ExitReason::Reboot, exit_code::kSuccess, "guest rebooted"}; }
    static ExitStatus debug_exit(int value)
    {
        const int code = std::clamp(value, exit_code::kSuccess, exit_code::kGuestMax);
        std::string detail = "guest wrote " + std::to_string(value) + " to the debug-exit port";
        if (code != value) {
            detail += " (exit code " + std::to_string(code) + ": 124-255 are minivmm's own codes)";
        }
        return {ExitReason::DebugExit, code, std::move(detail), value};
    }
    static ExitStatus crash(std::string why) { return {ExitReason::Crash, exit_code::kGuestCrash, std::move(why)}; }
    static ExitStatus timeout() { return {ExitReason::Timeout, exit_code::kTimeout, "timeout ran out"}; }
    static ExitStatus signal(int signo)
    {
        return {ExitReason::Signal, exit_code::kSignalBase + signo, "stopped by signal " + std::to_string(signo)};
    }
    static ExitStatus stopped() { return {ExitReason::Stopped, exit_code::kSuccess, "stopped by the host"}; }
    static ExitStatus host_failure(std::string why)
    {
        return {ExitReason::HostFailure, exit_code::kVmmFailure, std::move(why)};
    }
    static ExitStatus console_match(const std::string& line)
    {
        return {ExitReason::ConsoleMatch, exit_code::kSuccess, "console matched the exit-on pattern: " + line};
    }
    static ExitStatus console_failure(const std::string& line)
    {
        return {ExitReason::ConsoleFailure, exit_code::kGuestCrash, "console matched the fail-on pattern: " + line};
    }
};

[[nodiscard]] const char* to_string(ExitReason reason);

} // namespace minivmm
