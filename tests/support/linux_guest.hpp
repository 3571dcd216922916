// Helpers for the [linux] tests: boot the project's default Linux guest (stock Debian kernels
// + the busybox initramfs of scripts/build-linux-guest.sh) with the minivmm binary and read
// what its /init printed.
//
// A boot under nested TCG costs ~7-15 s, so boots are memoized: several TEST_CASEs, each
// named for the one thing it proves, share one boot of the same configuration (Catch2 runs
// all test cases in one process). Run on its own (e.g. by name), a test case boots by itself.
#pragma once

#include "support/kvm.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace minivmm::test {

// Every [linux] boot: serial console; reboot through the keyboard controller (minivmm's i8042
// reset line); a panic reboots at once instead of hanging; `quiet` because serial output of a
// nested guest is slow; `noxsave` silences a harmless warning of TCG's XSAVE emulation.
inline constexpr const char* kLinuxBaseCmdline = "console=ttyS0 reboot=k panic=-1 quiet noxsave";

// The marker /init prints once userland runs, and its report line.
inline constexpr const char* kGuestReadyMarker = "MINIVMM-GUEST-READY";

inline std::string linux_guest_file(const std::string& name) { return std::string(MINIVMM_LINUX_GUEST_DIR) + "/" + name; }

// True when the default Linux guest's images are built (cmake --build build --target linux-guest).
// Otherwise the test is skipped loudly, or fails where MINIVMM_REQUIRE_LINUX_GUEST=1.
inline bool linux_guest_available()
{
    static const std::vector<std::string> files{"vmlinuz-cloud", "vmlinuz-generic", "vmlinux-cloud",
                                                "initramfs-cloud.cpio.gz", "initramfs-generic.cpio.gz"};
    std::string missing;
    for (const auto& f : files) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(linux_guest_file(f), ec)) {
            missing += " " + f;
        }
    }
    if (missing.empty()) {
        return true;
    }
    const std::string what = "the default Linux guest is not built in " MINIVMM_LINUX_GUEST_DIR " (missing:" + missing +
                             "); build it with: cmake --build build --target linux-guest";
    const char* require = std::getenv("MINIVMM_REQUIRE_LINUX_GUEST");
    if (require != nullptr && std::string(require) == "1") {
        FAIL(what << " but MINIVMM_REQUIRE_LINUX_GUEST=1");
    }
    WARN("SKIPPED: " << what);
    return false;
}

// Both guards of a [linux] test: images built and KVM usable.
inline bool linux_tier_available() { return linux_guest_available() && kvm_available(); }

struct LinuxBoot {
    std::string kernel = "vmlinuz-cloud"; // file in MINIVMM_LINUX_GUEST_DIR
    std::string initrd = "initramfs-cloud.cpio.gz";
    std::string mem = "256M";
    unsigned cpus = 1;
    std::string action = "reboot";        // minivmm.action=
    std::vector<std::string> extra_args;  // more minivmm flags
    std::string console = "ttyS0";        // the guest console device (hvc0 with --console virtio)
    std::string run;                      // minivmm.run= (a shell command /init runs), if any

    std::string cmdline() const
    {
        std::string s = std::string(kLinuxBaseCmdline) + " minivmm.action=" + action;
        const std::string serial = "console=ttyS0";
        if (console != "ttyS0") {
            s.replace(0, serial.size(), "console=" + console);
        }
        if (!run.empty()) {
            s += " minivmm.run=\"" + run + "\"";
        }
        return s;
    }

    std::vector<std::string> argv() const
    {
        std::vector<std::string> v{MINIVMM_BINARY, "--kernel", linux_guest_file(kernel), "--initrd", linux_guest_file(initrd),
                                   "--mem", mem, "--cpus", std::to_string(cpus), "--timeout", "120s",
                                   "--cmdline", cmdline()};
        v.insert(v.end(), extra_args.begin(), extra_args.end());
        return v;
    }

    std::string describe() const
    {
        std::string s;
        for (const auto& a : argv()) {
            s += (s.empty() ? "" : " ") + (a.find(' ') != std::string::npos ? "'" + a + "'" : a);
        }
        return s;
    }
};

// Boots `boot` once per process (memoized on its argv) and returns what happened.
inline const ProcessResult& boot_linux(const LinuxBoot& boot)
{
    static std::map<std::vector<std::string>, ProcessResult> cache;
    const auto argv = boot.argv();
    auto it = cache.find(argv);
    if (it == cache.end()) {
        // minivmm's own --timeout (120 s) ends a hung guest with 124; the watchdog is a backstop.
        it = cache.emplace(argv, run_process(argv, std::chrono::seconds(180))).first;
    }
    return it->second;
}

// The command and what it printed, for INFO() in the test case, so every failed assertion shows it.
inline std::string boot_log(const LinuxBoot& boot, const ProcessResult& result)
{
    std::string s = "command: " + boot.describe() + "\nminivmm exit code " + std::to_string(result.exit_code);
    if (result.timed_out) {
        s += " (killed by the test's watchdog)";
    }
    s += "\nminivmm stdout (the guest console):\n" + result.out + "\nminivmm stderr:\n" + result.err;
    return s;
}

// The line /init prints after the marker: "minivmm-guest: cpus=N memtotal_kb=N".
struct GuestReport {
    unsigned cpus = 0;
    uint64_t memtotal_kb = 0;
};

inline std::optional<GuestReport> guest_report(const std::string& console)
{
    static const std::regex line(R"(minivmm-guest: cpus=(\d+) memtotal_kb=(\d+))");
    std::smatch m;
    if (!std::regex_search(console, m, line)) {
        return std::nullopt;
    }
    return GuestReport{static_cast<unsigned>(std::stoul(m[1].str())), std::stoull(m[2].str())};
}

} // namespace minivmm::test
