// [linux] virtio devices as a stock Debian kernel sees them: found through the ACPI DSDT
// (LNRO0005; Debian kernels have no virtio_mmio.device= support), hvc0 as the console.
#include "support/linux_guest.hpp"

#include "support/run_process.hpp"

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>

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

namespace {

// An ext4 image made on the host (mkfs.ext4 -d) holding data.bin of known content.
struct Ext4Image {
    std::filesystem::path dir;
    std::filesystem::path image;
    std::string md5;

    Ext4Image()
    {
        std::string tmpl = (std::filesystem::temp_directory_path() / "minivmm-ext4-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        dir = tmpl;
        std::filesystem::create_directory(dir / "root");
        std::string data;
        for (int i = 0; i < 300000; ++i) {
            data.push_back(static_cast<char>((i * 7919 + i / 251) & 0xff));
        }
        {
            std::ofstream out(dir / "root" / "data.bin", std::ios::binary);
            out << data;
        }
        image = dir / "disk.ext4";
        const auto mkfs = run_process({"/usr/sbin/mkfs.ext4", "-q", "-F", "-d", (dir / "root").string(), image.string(), "16M"});
        REQUIRE(mkfs.exit_code == 0);
        const auto sum = run_process({"/usr/bin/md5sum", (dir / "root" / "data.bin").string()});
        REQUIRE(sum.exit_code == 0);
        md5 = sum.out.substr(0, 32);
    }
    ~Ext4Image() { std::filesystem::remove_all(dir); }
};

} // namespace

TEST_CASE("Linux: mounts a host-made ext4 disk through ACPI-described virtio-blk and writes to it",
          "[linux][virtio][virtio-blk]")
{
    if (!linux_tier_available()) {
        return;
    }
    Ext4Image disk;
    LinuxBoot boot;
    boot.action = "poweroff";
    boot.extra_args = {"--disk", "path=" + disk.image.string() + ",serial=ext4-disk"};
    boot.run = "cat /sys/block/vda/serial; mount -t ext4 /dev/vda /mnt && md5sum /mnt/data.bin && "
               "echo written-by-the-guest >/mnt/from-guest.txt && umount /mnt";
    const auto& result = boot_linux(boot);
    INFO(boot_log(boot, result));
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("ext4-disk"));
    CHECK_THAT(result.out, Catch::Contains(disk.md5 + "  /mnt/data.bin"));
    CHECK_THAT(result.out, Catch::Contains("minivmm-guest: run exit=0"));
    // The guest's write (and the unmount's flush) reached the image on the host.
    const auto cat = run_process({"/usr/sbin/debugfs", "-R", "cat /from-guest.txt", disk.image.string()});
    CHECK_THAT(cat.out, Catch::Contains("written-by-the-guest"));
    const auto fsck = run_process({"/usr/sbin/e2fsck", "-fn", disk.image.string()});
    INFO(fsck.out << fsck.err);
    CHECK(fsck.exit_code == 0);
}
