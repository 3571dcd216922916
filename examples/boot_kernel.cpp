// Boots a kernel and prints its console: the smallest program on libminivmm.
//   boot_kernel KERNEL [INITRD] [CMDLINE]
// Exits with the documented exit code of the run (0 poweroff/reboot, the debug-exit value,
// 124 timeout, 125 minivmm failed, 126 guest crash).
#include <minivmm/minivmm.hpp>

#include <chrono>
#include <cstdio>

int main(int argc, char* argv[])
{
    if (argc < 2 || argc > 4) {
        std::fprintf(stderr, "usage: %s KERNEL [INITRD] [CMDLINE]\n", argv[0]);
        return minivmm::exit_code::kVmmFailure;
    }
    minivmm::set_log_level(minivmm::LogLevel::Warn);

    minivmm::VmConfig config;
    config.kernel = argv[1];
    if (argc > 2 && argv[2][0] != '\0') {
        config.initrd = argv[2];
    }
    if (argc > 3) {
        config.cmdline = argv[3];
    }
    config.memory_bytes = 256 * minivmm::kMiB;
    config.console.mode = minivmm::ConsoleMode::Stdout; // print the console as it comes
    config.timeout = std::chrono::minutes(5);

    try {
        auto vm = minivmm::Vm::create(config); // validates first: every problem in one message
        vm->start();
        const minivmm::ExitStatus status = vm->wait();
        std::fprintf(stderr, "boot_kernel: %s: %s (exit code %d)\n", minivmm::to_string(status.reason),
                     status.detail.c_str(), status.code);
        return status.code;
    } catch (const minivmm::Error& e) {
        std::fprintf(stderr, "boot_kernel: %s\n", e.what());
        return minivmm::exit_code::kVmmFailure;
    }
}
