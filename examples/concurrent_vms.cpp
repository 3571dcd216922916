// Boots N copies of minivmm's test guest at once, each in its own Vm, and checks that each
// one ends with its own debug-exit code.
//   concurrent_vms TEST_GUEST [N]      (TEST_GUEST: minivmm-test-guest.elf; N defaults to 4)
// Guest i runs `test=exit code=<10 + i>`; exit status 0 when every guest did just that.
#include <minivmm/minivmm.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char* argv[])
{
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: %s TEST_GUEST [N]\n", argv[0]);
        return 2;
    }
    const int n = argc > 2 ? std::atoi(argv[2]) : 4;
    if (n < 1 || n > 64) {
        std::fprintf(stderr, "concurrent_vms: N must be 1 to 64\n");
        return 2;
    }
    minivmm::set_log_level(minivmm::LogLevel::Warn);

    try {
        std::vector<std::unique_ptr<minivmm::Vm>> vms;
        for (int i = 0; i < n; ++i) {
            minivmm::VmConfig config;
            config.kernel = argv[1];
            config.cmdline = "test=exit code=" + std::to_string(10 + i);
            config.memory_bytes = 64 * minivmm::kMiB;
            config.console.mode = minivmm::ConsoleMode::None; // kept in memory: vm->console()
            config.timeout = std::chrono::seconds(60);
            vms.push_back(minivmm::Vm::create(config));
        }
        const auto start = std::chrono::steady_clock::now();
        for (auto& vm : vms) {
            vm->start();
        }
        // Each Vm may be waited for from its own thread.
        std::vector<minivmm::ExitStatus> statuses(vms.size());
        std::vector<std::thread> waiters;
        for (size_t i = 0; i < vms.size(); ++i) {
            waiters.emplace_back([&, i] { statuses[i] = vms[i]->wait(); });
        }
        for (auto& w : waiters) {
            w.join();
        }
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();

        int wrong = 0;
        for (size_t i = 0; i < vms.size(); ++i) {
            const int want = 10 + static_cast<int>(i);
            const bool ok = statuses[i].reason == minivmm::ExitReason::DebugExit && statuses[i].code == want;
            wrong += ok ? 0 : 1;
            std::printf("vm %zu: %s, exit code %d (want %d) %s\n", i, statuses[i].detail.c_str(), statuses[i].code,
                        want, ok ? "ok" : "WRONG");
            if (!ok) {
                std::printf("vm %zu console:\n%s\n", i, vms[i]->console().output().c_str());
            }
        }
        std::printf("%d VMs ran concurrently in %lld ms; %d wrong\n", n, static_cast<long long>(ms), wrong);
        return wrong == 0 ? 0 : 1;
    } catch (const minivmm::Error& e) {
        std::fprintf(stderr, "concurrent_vms: %s\n", e.what());
        return 125;
    }
}
