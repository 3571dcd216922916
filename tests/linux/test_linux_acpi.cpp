// [linux]: the ACPI platform as a stock Debian kernel sees it: tables listed without errors,
// /sys/firmware/acpi/tables, CPUs from the MADT, and acpi=off falling back to the MP table.
#include "support/linux_guest.hpp"

#include <fmt/format.h>

using namespace minivmm::test;

namespace {

ProcessResult run_linux(const std::string& kernel, const std::string& initrd, unsigned cpus,
                        const std::string& cmdline_tail)
{
    const std::vector<std::string> argv{MINIVMM_BINARY,  "--kernel", linux_guest_file(kernel),
                                        "--initrd",      linux_guest_file(initrd),
                                        "--mem",         "256M",
                                        "--cpus",        std::to_string(cpus),
                                        "--timeout",     "120s",
                                        "--cmdline",     std::string(kLinuxBaseCmdline) + " " + cmdline_tail};
    auto result = run_process(argv, std::chrono::seconds(180));
    CHECK_FALSE(result.timed_out);
    UNSCOPED_INFO("console:\n" << result.out << "\nminivmm stderr:\n" << result.err);
    return result;
}

} // namespace

TEST_CASE("Linux lists minivmm's ACPI tables without errors and brings up every vCPU", "[linux][acpi]")
{
    if (!linux_tier_available()) {
        return;
    }
    // The guest's own dmesg (the console is quiet) and sysfs, through minivmm.run.
    const auto result = run_linux("vmlinuz-cloud", "initramfs-cloud.cpio.gz", 2,
                                  "minivmm.run=\"dmesg | grep -iE 'acpi|firmware|bios'; "
                                  "ls /sys/firmware/acpi/tables; echo nproc=$(nproc)\"");
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("ACPI: RSDP 0x00000000000E0000"));
    for (const char* table : {"XSDT", "FACP", "DSDT", "APIC"}) {
        CHECK_THAT(result.out, Catch::Contains(fmt::format("ACPI: {} 0x", table)));
    }
    CHECK_THAT(result.out, Catch::Contains("ACPI: Using ACPI (MADT) for SMP configuration information"));
    CHECK_THAT(result.out, Catch::Contains("ACPI: PM: (supports S0 S5)"));
    CHECK_THAT(result.out, Catch::Contains("ACPI: Interpreter enabled"));
    CHECK_THAT(result.out, !Catch::Contains("ACPI Error") && !Catch::Contains("ACPI BIOS Error") &&
                               !Catch::Contains("ACPI Warning") && !Catch::Contains("Firmware Bug") &&
                               !Catch::Contains("FIRMWARE BUG"));
    // ls of /sys/firmware/acpi/tables (the DSDT and the XSDT's tables).
    CHECK_THAT(result.out, Catch::Contains("APIC") && Catch::Contains("DSDT") && Catch::Contains("FACP"));
    CHECK_THAT(result.out, Catch::Contains("nproc=2"));
    CHECK_THAT(result.out, Catch::Contains("run exit=0"));
}

TEST_CASE("with acpi=off the generic kernel finds its vCPUs in the MP table", "[linux][acpi]")
{
    if (!linux_tier_available()) {
        return;
    }
    const auto result =
        run_linux("vmlinuz-generic", "initramfs-generic.cpio.gz", 2, "acpi=off minivmm.action=reboot");
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains(kGuestReadyMarker));
    CHECK_THAT(result.out, Catch::Contains("minivmm-guest: cpus=2 "));
}
