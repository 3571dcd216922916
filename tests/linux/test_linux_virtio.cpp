// [linux] virtio devices as a stock Debian kernel sees them: found through the ACPI DSDT
// (LNRO0005; Debian kernels have no virtio_mmio.device= support), hvc0 as the console.
#include "support/linux_guest.hpp"

#include <catch2/catch.hpp>

using namespace minivmm::test;

namespace {

LinuxBoot virtio_console_boot()
{
    LinuxBoot boot;
    boot.action = "poweroff";
    boot.console = "hvc0";
    boot.extra_args = {"--console", "virtio"};
    boot.run = "cat /proc/consoles; ls /sys/bus/platform/devices; ls /sys/bus/virtio/devices; "
               "cat /sys/bus/virtio/devices/virtio0/device";
    return boot;
}

} // namespace

TEST_CASE("Linux: --console virtio makes hvc0 the console, found through ACPI", "[linux][virtio]")
{
    if (!linux_tier_available()) {
        return;
    }
    const auto boot = virtio_console_boot();
    const auto& result = boot_linux(boot);
    INFO(boot_log(boot, result));
    CHECK(result.exit_code == 0);
    // /init's own output reached the host through the virtio-console.
    CHECK_THAT(result.out, Catch::Contains(kGuestReadyMarker));
    CHECK_THAT(result.out, Catch::Contains("minivmm-guest: run exit=0"));
    // /proc/consoles lists hvc0 as the enabled console (E: enabled, C: the console device).
    CHECK(std::regex_search(result.out, std::regex(R"(hvc0\s+-W- \(EC)")));
    // The platform device of the DSDT entry, bound to virtio_mmio: device 3 is a console.
    CHECK_THAT(result.out, Catch::Contains("LNRO0005:00"));
    CHECK_THAT(result.out, Catch::Contains("virtio0"));
    CHECK_THAT(result.out, Catch::Contains("0x0003"));
}
