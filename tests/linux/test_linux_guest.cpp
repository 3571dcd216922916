// [linux]: the project's default Linux guest (stock Debian kernels, busybox initramfs) booted by
// the minivmm binary; every test asserts on what the inner Linux printed and on minivmm's exit code.
//
// Each boot costs ~7-15 s under nested TCG, so a handful of boots (the kBoot* below) serve all
// test cases: boot_linux() memoizes them, and each TEST_CASE checks one thing of one boot.
#include "support/linux_guest.hpp"

#include <fmt/format.h>

using namespace minivmm::test;

namespace {

// The default Debian guest: cloud kernel bzImage, 1 vCPU, the smallest RAM it boots in (see
// "64M" below). Also the 1-vCPU and small-RAM checks.
const LinuxBoot kBootDefault{.kernel = "vmlinuz-cloud", .initrd = "initramfs-cloud.cpio.gz", .mem = "96M", .cpus = 1,
                             .action = "reboot", .extra_args = {}, .console = "ttyS0", .run = {}};
// 2 vCPUs, 512M, guest reboot.
const LinuxBoot kBootTwoCpus{.kernel = "vmlinuz-cloud", .initrd = "initramfs-cloud.cpio.gz", .mem = "512M", .cpus = 2,
                             .action = "reboot", .extra_args = {}, .console = "ttyS0", .run = {}};
// 4 vCPUs, 3584M (3 GiB below the MMIO hole + 512 MiB above 4 GiB), guest poweroff.
const LinuxBoot kBootFourCpus{.kernel = "vmlinuz-cloud", .initrd = "initramfs-cloud.cpio.gz", .mem = "3584M", .cpus = 4,
                              .action = "poweroff", .extra_args = {}, .console = "ttyS0", .run = {}};
const LinuxBoot kBootGeneric{.kernel = "vmlinuz-generic", .initrd = "initramfs-generic.cpio.gz", .mem = "256M", .cpus = 1,
                             .action = "reboot", .extra_args = {}, .console = "ttyS0", .run = {}};
// An ELF vmlinux: minivmm loads it through its PVH entry note (the only way it boots an ELF).
const LinuxBoot kBootPvh{.kernel = "vmlinux-cloud", .initrd = "initramfs-cloud.cpio.gz", .mem = "256M", .cpus = 1,
                         .action = "reboot", .extra_args = {}, .console = "ttyS0", .run = {}};
const LinuxBoot kBootPanic{.kernel = "vmlinuz-cloud", .initrd = "initramfs-cloud.cpio.gz", .mem = "256M", .cpus = 1,
                           .action = "panic", .extra_args = {}, .console = "ttyS0", .run = {}};

void check_boots_and_exits_0(const LinuxBoot& boot)
{
    const auto& result = boot_linux(boot);
    INFO(boot_log(boot, result));
    CHECK_FALSE(result.timed_out);
    CHECK_THAT(result.out, Catch::Contains(kGuestReadyMarker));
    CHECK(guest_report(result.out).has_value());
    CHECK(result.exit_code == 0);
}

void check_cpus(const LinuxBoot& boot)
{
    const auto& result = boot_linux(boot);
    INFO(boot_log(boot, result));
    const auto report = guest_report(result.out);
    REQUIRE(report.has_value());
    // /init prints `nproc`: the CPUs the kernel brought online.
    CHECK(report->cpus == boot.cpus);
}

// memtotal_kb (MemTotal of /proc/meminfo) must lie in [low_percent, 100] % of the given size:
// MemTotal is the RAM the kernel manages, i.e. what minivmm's e820 map offered minus what the
// kernel reserved for itself (its image, the first MiB, the struct-page array, ...).
void check_memtotal(const LinuxBoot& boot, uint64_t size_mib, unsigned low_percent)
{
    const auto& result = boot_linux(boot);
    INFO(boot_log(boot, result));
    const auto report = guest_report(result.out);
    REQUIRE(report.has_value());
    const uint64_t size_kb = size_mib * 1024;
    INFO(fmt::format("memtotal_kb={} of {} kB given ({:.1f}%), lower bound {}%", report->memtotal_kb, size_kb,
                     100.0 * static_cast<double>(report->memtotal_kb) / static_cast<double>(size_kb), low_percent));
    CHECK(report->memtotal_kb * 100 >= size_kb * low_percent);
    CHECK(report->memtotal_kb <= size_kb);
}

} // namespace

TEST_CASE("the default Debian guest (cloud kernel bzImage) boots to its marker and exits 0", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    check_boots_and_exits_0(kBootDefault);
}

TEST_CASE("the generic Debian kernel (bzImage) boots to its marker and exits 0", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    check_boots_and_exits_0(kBootGeneric);
}

TEST_CASE("the uncompressed cloud vmlinux boots via PVH to its marker and exits 0", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    check_boots_and_exits_0(kBootPvh);
}

TEST_CASE("the Linux guest sees 1 CPU with --cpus 1", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    check_cpus(kBootDefault);
}

TEST_CASE("the Linux guest sees 2 CPUs with --cpus 2", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    check_cpus(kBootTwoCpus);
}

TEST_CASE("the Linux guest sees 4 CPUs with --cpus 4", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    check_cpus(kBootFourCpus);
}

// 64M cannot boot this kernel at all, so the smallest RAM case is 96M, and 64M has its own test
// (below). In a small guest a fixed cost dominates: the kernel's resident image (the cloud
// kernel's text + data + bss are ~35 MiB), the first MiB, the struct-page array and per-CPU areas
// come off the top whatever the size. Measured: 61152 kB of 96 MiB (62%), 93920 kB of 128 MiB
// (72%), 480416 kB of 512 MiB (92%). So the bound here is 50%: at least 48 MiB must be left.
TEST_CASE("the Linux guest's MemTotal is plausible with --mem 96M (the smallest that boots)", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    check_memtotal(kBootDefault, 96, 50);
}

TEST_CASE("the Linux guest's MemTotal is plausible with --mem 512M", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    check_memtotal(kBootTwoCpus, 512, 75);
}

TEST_CASE("the Linux guest's MemTotal is plausible with --mem 3584M, RAM above 4 GiB included", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    check_memtotal(kBootFourCpus, 3584, 75);
    // Only 3 GiB lie below the MMIO hole: more than that proves the guest uses the 512 MiB that
    // minivmm maps at 4 GiB (measured: 3505312 kB, 3.34 GiB).
    const auto& result = boot_linux(kBootFourCpus);
    INFO(boot_log(kBootFourCpus, result));
    const auto report = guest_report(result.out);
    REQUIRE(report.has_value());
    CHECK(report->memtotal_kb > uint64_t{3} * 1024 * 1024);
}

// The Debian cloud bzImage cannot run in 64 MiB: its decompressor runs at pref_address (16 MiB)
// and needs init_size (51.5 MiB) from there, i.e. RAM up to 67.5 MiB; and even the PVH vmlinux,
// which needs no decompressor, panics "System is deadlocked on memory" during its initcalls in
// 64M (and in 72M). minivmm must refuse it up front, with one clear line and exit 125, instead
// of starting a guest that crashes.
TEST_CASE("a 64M guest is refused before it starts: the cloud bzImage needs 67.5 MiB", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    const LinuxBoot boot{.kernel = "vmlinuz-cloud", .initrd = "initramfs-cloud.cpio.gz", .mem = "64M", .cpus = 1,
                         .action = "reboot", .extra_args = {}, .console = "ttyS0", .run = {}};
    const auto& result = boot_linux(boot);
    INFO(boot_log(boot, result));
    CHECK(result.exit_code == 125);
    CHECK_THAT(result.err, Catch::Contains("give the guest more memory"));
    CHECK_THAT(result.out, !Catch::Contains(kGuestReadyMarker));
}

TEST_CASE("a Linux guest reboot ends minivmm with 0", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    const auto& result = boot_linux(kBootTwoCpus);
    INFO(boot_log(kBootTwoCpus, result));
    CHECK_THAT(result.out, Catch::Contains(kGuestReadyMarker));
    CHECK_THAT(result.out, Catch::Contains("reboot: Restarting system"));
    CHECK_FALSE(result.timed_out);
    CHECK(result.exit_code == 0);
}

// Power-off needs ACPI (the FADT's sleep registers): without it the kernel halts and minivmm
// runs until --timeout (124).
TEST_CASE("a Linux guest poweroff ends minivmm with 0", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    const auto& result = boot_linux(kBootFourCpus);
    INFO(boot_log(kBootFourCpus, result));
    CHECK_THAT(result.out, Catch::Contains(kGuestReadyMarker));
    CHECK_THAT(result.out, Catch::Contains("reboot: Power down"));
    CHECK_FALSE(result.timed_out);
    CHECK(result.exit_code == 0);
}

// minivmm sees the panic through its pvpanic device (the kernel's pvpanic driver reports it
// before panic=-1 reboots); without one the panic looks like a reboot and exits 0.
TEST_CASE("a Linux kernel panic ends minivmm with 126 and the panic on the console", "[linux]")
{
    if (!linux_tier_available()) {
        return;
    }
    const auto& result = boot_linux(kBootPanic);
    INFO(boot_log(kBootPanic, result));
    CHECK_THAT(result.out, Catch::Contains(kGuestReadyMarker));
    CHECK_THAT(result.out, Catch::Contains("Kernel panic - not syncing: sysrq triggered crash"));
    CHECK_FALSE(result.timed_out);
    CHECK(result.exit_code == 126);
}
