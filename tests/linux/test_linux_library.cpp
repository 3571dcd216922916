// [linux]: libminivmm in-process driving the default Linux guest's shell with expect/send.
#include "support/linux_guest.hpp"

#include <minivmm/minivmm.hpp>

using namespace minivmm;
using namespace minivmm::test;
using namespace std::chrono_literals;

TEST_CASE("library: send() types into the Linux guest's shell and expect() reads the answers", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    VmConfig config;
    config.kernel = linux_guest_file("vmlinuz-cloud");
    config.initrd = linux_guest_file("initramfs-cloud.cpio.gz");
    config.cmdline = std::string(kLinuxBaseCmdline) + " minivmm.action=shell";
    config.memory_bytes = 256 * kMiB;
    config.console.mode = ConsoleMode::None;
    config.timeout = 180s;
    auto vm = Vm::create(config);
    auto& console = vm->console();
    vm->start();
    console.expect(kGuestReadyMarker, 150s);
    console.expect("# ", 30s);
    console.send_line("echo sum=$((6 * 7))");
    const auto sum = console.expect(R"(sum=(\d+)\r\n)", 30s);
    CHECK(sum.groups.at(0) == "42");
    // The shell echoed what we typed before it answered.
    CHECK_THAT(sum.before, Catch::Contains("echo sum=$((6 * 7))"));
    console.send_line("cat /proc/cmdline");
    console.expect("minivmm.action=shell", 30s);
    console.send_line("poweroff -f");
    const auto status = vm->wait();
    INFO("console:\n" << console.output());
    CHECK(status.reason == ExitReason::PowerOff);
    CHECK(status.code == 0);
}
