// minivmm-lib-cycle TEST_GUEST [N]: the cost of one guest run through libminivmm, as a test
// harness pays it: Vm::create (validate, map RAM, load the kernel, KVM VM, devices, vCPUs),
// start, the test guest's `test=boot` (boot-timer write, then debug-exit 0), wait, and the
// Vm's destruction (threads joined, RAM unmapped, fds closed). N runs (default 20) in one
// process; prints each time and the median, min and max in milliseconds.
#include <minivmm/minivmm.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char* argv[])
{
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: %s TEST_GUEST [N]\n", argv[0]);
        return 2;
    }
    const int n = argc > 2 ? std::atoi(argv[2]) : 20;
    if (n < 1) {
        std::fprintf(stderr, "minivmm-lib-cycle: N must be positive\n");
        return 2;
    }
    minivmm::set_log_level(minivmm::LogLevel::Warn);
    minivmm::VmConfig config;
    config.kernel = argv[1];
    config.cmdline = "test=boot";
    config.memory_bytes = 128 * minivmm::kMiB;
    config.console.mode = minivmm::ConsoleMode::None;
    config.timeout = std::chrono::seconds(60);

    std::vector<double> ms;
    try {
        for (int i = 0; i < n; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            int code = 0;
            {
                auto vm = minivmm::Vm::create(config);
                vm->start();
                code = vm->wait().code;
            }
            const auto t1 = std::chrono::steady_clock::now();
            if (code != 0) {
                std::fprintf(stderr, "minivmm-lib-cycle: run %d ended with exit code %d\n", i, code);
                return 1;
            }
            ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
            std::printf("run %2d: %.2f ms\n", i, ms.back());
        }
    } catch (const minivmm::Error& e) {
        std::fprintf(stderr, "minivmm-lib-cycle: %s\n", e.what());
        return 125;
    }
    std::sort(ms.begin(), ms.end());
    const size_t mid = ms.size() / 2;
    const double median = ms.size() % 2 != 0 ? ms[mid] : (ms[mid - 1] + ms[mid]) / 2;
    std::printf("create+boot+destroy, %d runs: median %.2f ms, min %.2f ms, max %.2f ms\n", n, median, ms.front(),
                ms.back());
    return 0;
}
