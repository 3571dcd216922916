// [kvm]: libminivmm in-process with several VMs: concurrent guests are independent, and
// create/destroy cycles leak neither file descriptors nor memory.
#include "support/library_vm.hpp"
#include "support/process_memory.hpp"
#include "util/sanitizers.hpp"

#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

using namespace minivmm;
using namespace minivmm::test;
using namespace std::chrono_literals;

namespace {

size_t open_fds()
{
    size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        ++n;
    }
    return n;
}

} // namespace

TEST_CASE("library: 4 VMs run at once from one process, each reports in and ends on its own", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    // Two guests exit with their own codes, one starts 2 vCPUs, one idles until stopped.
    std::vector<std::unique_ptr<Vm>> vms;
    vms.push_back(Vm::create(test_guest_config("test=exit code=11")));
    vms.push_back(Vm::create(test_guest_config("test=exit code=12")));
    vms.push_back(Vm::create(test_guest_config("test=smp", 2)));
    vms.push_back(Vm::create(test_guest_config("test=idle")));
    for (auto& vm : vms) {
        vm->start();
    }
    // Each waits on its own thread, as a harness would.
    std::vector<ExitStatus> statuses(vms.size());
    std::vector<std::thread> waiters;
    for (size_t i = 0; i < 3; ++i) {
        waiters.emplace_back([&, i] { statuses[i] = vms[i]->wait(); });
    }
    for (auto& w : waiters) {
        w.join();
    }
    CHECK(statuses[0].code == 11);
    CHECK(statuses[1].code == 12);
    CHECK(statuses[2].reason == ExitReason::DebugExit);
    CHECK(statuses[2].code == 0);
    CHECK_THAT(vms[0]->console().output(), Catch::Contains("exit: code=11"));
    CHECK_THAT(vms[1]->console().output(), Catch::Contains("exit: code=12"));
    CHECK_THAT(vms[2]->console().output(), Catch::Contains("smp: 2 of 2 cpus reported"));
    // The idle one was not taken down with the others.
    vms[3]->console().expect("idle: waiting", 60s);
    CHECK_FALSE(vms[3]->wait_for(100ms).has_value());
    vms[3]->stop();
    CHECK(vms[3]->wait().reason == ExitReason::Stopped);
    for (size_t i = 0; i < 3; ++i) {
        INFO("VM " << i << ": " << statuses[i].detail << "\n" << vms[i]->console().output());
        CHECK_THAT(vms[i]->console().output(), Catch::Contains("minivmm-test-guest: exit"));
    }
}

TEST_CASE("library: a VM ended by its timeout does not disturb the others", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    auto short_config = test_guest_config("test=idle");
    short_config.timeout = 1s;
    auto timed = Vm::create(short_config);
    auto neighbour = Vm::create(test_guest_config("test=idle"));
    timed->start();
    neighbour->start();
    CHECK(timed->wait().reason == ExitReason::Timeout);
    // The neighbour still runs, and a VM created after the timeout boots normally.
    CHECK_FALSE(neighbour->wait_for(200ms).has_value());
    auto later = Vm::create(test_guest_config("test=exit code=7"));
    later->start();
    CHECK(later->wait().code == 7);
    CHECK_FALSE(neighbour->wait_for(0ms).has_value());
    neighbour->console().expect("idle: waiting", 60s);
    neighbour->stop();
    CHECK(neighbour->wait().reason == ExitReason::Stopped);
}

TEST_CASE("library: 50 create/boot/destroy cycles leak no file descriptors and no memory", "[kvm]")
{
    if (!kvm_available()) {
        return;
    }
    // Half run to the end; half are destroyed while the guest still runs (the destructor
    // must stop it), a quarter without ever being started.
    auto cycle = [](int i) {
        if (i % 4 == 3) {
            auto vm = Vm::create(test_guest_config("test=idle"));
            return;
        }
        auto vm = Vm::create(test_guest_config(i % 2 == 0 ? "test=boot" : "test=idle"));
        vm->start();
        if (i % 2 == 0) {
            CHECK(vm->wait().code == 0);
        } else {
            vm->console().expect("idle: waiting", 60s);
        }
    };
    cycle(0); // the first VM sets up process-wide state (the vCPU kick handler, loggers)
    cycle(1);
    const size_t fds_before = open_fds();
    const uint64_t rss_before = test::resident_bytes();
    for (int i = 0; i < 50; ++i) {
        cycle(i);
    }
    const size_t fds_after = open_fds();
    const uint64_t rss_after = test::resident_bytes();
    INFO("fds " << fds_before << " -> " << fds_after << ", RSS " << rss_before / 1024 << " KiB -> " << rss_after / 1024
                << " KiB");
    CHECK(fds_after == fds_before);
    // ASan keeps freed heap in quarantine (up to 256 MiB), so RSS says nothing there;
    // LeakSanitizer checks the heap at exit instead. (util::kAddressSanitizer, not GCC's
    // __SANITIZE_ADDRESS__, which clang's ASan build does not define.)
    if (!util::kAddressSanitizer) {
        // Each guest touches a few MiB of its 64 MiB; 50 leaked guests would add far more.
        CHECK(rss_after < rss_before + 16 * kMiB);
    }
}
