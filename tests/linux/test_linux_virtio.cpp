// [linux] virtio devices as a stock Debian kernel sees them: found through the ACPI DSDT
// (LNRO0005; Debian kernels have no virtio_mmio.device= support), hvc0 as the console.
#include "support/linux_guest.hpp"
#include "support/netns.hpp"

#include "support/run_process.hpp"

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <regex>

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

TEST_CASE("Linux: eth0 on virtio-net pings the host and sends a file over TCP intact", "[linux][virtio][virtio-net]")
{
    if (!linux_tier_available() || !netns_available()) {
        return;
    }
    NetNamespace ns;
    LinuxBoot boot;
    boot.action = "poweroff";
    boot.extra_args = {"--net", "tap=tap0,mac=52:54:00:ab:cd:ef"};
    boot.run = "cat /sys/class/net/eth0/address; ping -c 3 -W 5 10.0.2.2 && "
               "dd if=/dev/urandom of=/tmp/payload bs=1024 count=768 2>/dev/null && md5sum /tmp/payload && "
               "nc 10.0.2.2 5000 </tmp/payload";
    // minivmm.ip is read by /init; LinuxBoot has no field for it, so append it to the run's cmdline.
    const std::string cmdline = boot.cmdline() + " minivmm.ip=10.0.2.15/24";
    auto argv = boot.argv();
    for (size_t i = 0; i + 1 < argv.size(); ++i) {
        if (argv[i] == "--cmdline") {
            argv[i + 1] = cmdline;
        }
    }
    // The host end, inside the namespace: 10.0.2.2 on the TAP, a TCP listener that prints the
    // MD5 of what it receives, then minivmm.
    std::string vmm;
    for (const auto& a : argv) {
        vmm += " '" + a + "'";
    }
    const std::string script =
        "/usr/sbin/ip addr add 10.0.2.2/24 dev tap0 && "
        "/usr/bin/python3 -c 'import hashlib, socket\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind((\"10.0.2.2\", 5000)); s.listen(1); s.settimeout(170); c, _ = s.accept(); h = hashlib.md5(); n = 0\n"
        "while True:\n"
        "    b = c.recv(65536)\n"
        "    if not b: break\n"
        "    h.update(b); n += len(b)\n"
        "print(\"host received\", n, \"bytes md5\", h.hexdigest())' >\"$TMPDIR_NET/listener.out\" 2>&1 & "
        "sleep 0.3; " + vmm + "; rc=$?; wait; cat \"$TMPDIR_NET/listener.out\"; exit $rc";
    std::string dir = (std::filesystem::temp_directory_path() / "minivmm-net-XXXXXX").string();
    REQUIRE(::mkdtemp(dir.data()) != nullptr);
    const auto result = run_process(ns.exec({"/usr/bin/env", "TMPDIR_NET=" + dir, "/bin/sh", "-c", script}),
                                    std::chrono::seconds(200));
    std::filesystem::remove_all(dir);
    INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("52:54:00:ab:cd:ef"));
    CHECK_THAT(result.out, Catch::Contains("3 packets received"));
    std::smatch guest_md5;
    REQUIRE(std::regex_search(result.out, guest_md5, std::regex(R"(([0-9a-f]{32})  /tmp/payload)")));
    CHECK_THAT(result.out, Catch::Contains("host received 786432 bytes md5 " + guest_md5[1].str()));
    CHECK_THAT(result.out, Catch::Contains("minivmm-guest: run exit=0"));
}
