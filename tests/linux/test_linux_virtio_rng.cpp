// [linux] virtio-rng as a stock Debian kernel sees it: the device (4) found through the ACPI
// DSDT, bound by virtio_rng, made the kernel's current hardware RNG, and /dev/hwrng reading
// host random bytes; with --rng off there is no hardware RNG at all.
#include "support/linux_guest.hpp"

#include <catch2/catch.hpp>

#include <regex>

using namespace minivmm::test;

namespace {

// The guest prints the hw_random state, then 4 KiB of /dev/hwrng as hex and how many distinct
// byte values it held (random bytes: ~255; a device that wrote nothing: 1).
LinuxBoot rng_boot(const std::string& rng)
{
    LinuxBoot boot;
    boot.action = "poweroff";
    boot.extra_args = {"--rng", rng};
    boot.run = "echo rng_current=$(cat /sys/class/misc/hw_random/rng_current); "
               "echo rng_available=$(cat /sys/class/misc/hw_random/rng_available); "
               "for d in /sys/bus/virtio/devices/*; do echo virtio-device $(cat $d/device) "
               "$(basename $(readlink $d/driver) 2>/dev/null); done; "
               "echo hwrng-distinct=$(dd if=/dev/hwrng bs=4096 count=1 2>/dev/null | od -An -v -tx1 | "
               "tr -s ' ' '\\n' | grep . | sort -u | wc -l); dmesg | grep -m1 'crng init done'";
    return boot;
}

} // namespace

TEST_CASE("Linux: virtio-rng is the guest's hardware RNG and /dev/hwrng reads host random bytes",
          "[linux][virtio][virtio-rng]")
{
    if (!linux_tier_available()) {
        return;
    }
    const auto boot = rng_boot("on");
    const auto& result = boot_linux(boot);
    INFO(boot_log(boot, result));
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("minivmm-guest: run exit=0"));
    // Device 4 on virtio-mmio (found through the DSDT), bound by the virtio_rng driver.
    CHECK(std::regex_search(result.out, std::regex(R"(virtio-device 0x0004 virtio_rng)")));
    CHECK(std::regex_search(result.out, std::regex(R"(rng_current=virtio_rng\.\d+)")));
    std::smatch distinct;
    REQUIRE(std::regex_search(result.out, distinct, std::regex(R"(hwrng-distinct=(\d+))")));
    CHECK(std::stoi(distinct[1]) > 200); // 4096 random bytes hold nearly all 256 values
    // The CRNG got seeded (with virtio-rng, by the time /init ran).
    CHECK_THAT(result.out, Catch::Contains("crng init done"));
}

TEST_CASE("Linux: --rng off leaves the guest without a hardware RNG", "[linux][virtio][virtio-rng]")
{
    if (!linux_tier_available()) {
        return;
    }
    const auto boot = rng_boot("off");
    const auto& result = boot_linux(boot);
    INFO(boot_log(boot, result));
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("rng_current=none"));
    CHECK_THAT(result.out, !Catch::Contains("virtio-device 0x0004"));
    CHECK_THAT(result.out, Catch::Contains("hwrng-distinct=0"));
}
