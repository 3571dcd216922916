// Everything that describes one guest: a plain struct, validated before anything is built.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace minivmm {

inline constexpr uint64_t kMiB = 1024ULL * 1024;
inline constexpr uint64_t kGiB = 1024 * kMiB;

// Where the guest's console (the COM1 UART) goes.
enum class ConsoleMode {
    Stdio, // stdout, and stdin in raw mode when it is a terminal
    File,  // appended to `path`; no input
    None,  // discarded
};

struct ConsoleConfig {
    ConsoleMode mode = ConsoleMode::Stdio;
    std::filesystem::path path; // for ConsoleMode::File
};

struct VmConfig {
    static constexpr const char* kDefaultCmdline = "console=ttyS0 reboot=k panic=-1";
    static constexpr uint64_t kMinMemory = 32 * kMiB;

    std::filesystem::path kernel;            // bzImage, or an ELF vmlinux with a PVH note
    std::optional<std::filesystem::path> initrd;
    std::string cmdline = kDefaultCmdline;
    uint64_t memory_bytes = 512 * kMiB;
    unsigned cpus = 1;
    ConsoleConfig console;
    // Describe the platform with ACPI tables (MADT, FADT power-off/reset, DSDT devices).
    // Off: only the MP table, for kernels booted with acpi=off or without ACPI support.
    bool acpi = true;
    std::optional<std::chrono::milliseconds> timeout; // the run ends with ExitReason::Timeout

    // Every problem found, one line each (empty: valid). Checks what can be checked
    // without KVM: files exist and are readable, sizes and counts in range. Image contents
    // and KVM limits are checked by Vm::create.
    [[nodiscard]] std::vector<std::string> validate() const;
};

} // namespace minivmm
