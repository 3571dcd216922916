// [linux] qcow2 disks under a stock Debian kernel: an ext4 filesystem in a qcow2 overlay over a
// compressed qcow2 base image, written by the guest (files made and removed, fstrim's
// discards); afterwards the base is untouched, `qemu-img check` finds the overlay clean,
// `e2fsck` finds the filesystem (converted to raw) clean and holding the guest's data. A
// second disk with snapshot=on takes writes that leave its image as it was.
#include "support/linux_guest.hpp"
#include "support/qcow2_disk.hpp"

#include <catch2/catch.hpp>

#include <regex>

using namespace minivmm;
using namespace minivmm::test;

namespace {

std::string md5_of(const std::filesystem::path& path)
{
    const auto sum = run_process({"/usr/bin/md5sum", path.string()});
    REQUIRE(sum.exit_code == 0);
    return sum.out.substr(0, 32);
}

} // namespace

TEST_CASE("Linux: ext4 in a qcow2 overlay over a compressed base: e2fsck clean, base untouched",
          "[linux][virtio-blk][qcow2]")
{
    if (!linux_tier_available() || !have_qemu_tools()) {
        return;
    }
    TempDir dir;
    std::filesystem::create_directory(dir / "root");
    std::vector<std::byte> data(300000);
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<std::byte>((i * 7919 + i / 251) & 0xff);
    }
    write_file(dir / "root" / "data.bin", data);
    const std::string data_md5 = md5_of(dir / "root" / "data.bin");
    const auto base_raw = dir / "base.raw";
    REQUIRE(run_process({"/usr/sbin/mkfs.ext4", "-q", "-F", "-d", (dir / "root").string(), base_raw.string(), "64M"})
                .exit_code == 0);
    qemu_img({"convert", "-c", "-O", "qcow2", base_raw.string(), (dir / "base.qcow2").string()});
    const auto overlay = dir / "overlay.qcow2";
    qemu_img({"create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", overlay.string()});
    const auto base_before = md5_of(dir / "base.qcow2");
    const auto raw_before = md5_of(base_raw);

    LinuxBoot boot;
    boot.action = "poweroff";
    boot.extra_args = {"--disk", "path=" + overlay.string(), "--disk", "path=" + base_raw.string() + ",snapshot=on"};
    boot.run = "mount -t ext4 /dev/vda /mnt && md5sum /mnt/data.bin && "
               "dd if=/dev/urandom of=/mnt/big.bin bs=1024 count=6144 2>/dev/null && md5sum /mnt/big.bin && "
               "mkdir /mnt/many && seq 1 40 | while read i; do echo file-$i >/mnt/many/f$i; done && "
               "cp /mnt/data.bin /mnt/copy.bin && rm /mnt/data.bin && sync && fstrim /mnt; "
               "umount /mnt && mount -t ext4 /dev/vdb /mnt && echo scratch-$((6*7)) >/mnt/scratch.txt && "
               "sync && cat /mnt/scratch.txt && umount /mnt";
    const auto& result = boot_linux(boot);
    INFO(boot_log(boot, result));
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("minivmm-guest: run exit=0"));
    CHECK_THAT(result.out, Catch::Contains(data_md5 + "  /mnt/data.bin"));
    CHECK_THAT(result.out, Catch::Contains("scratch-42"));
    std::smatch big;
    REQUIRE(std::regex_search(result.out, big, std::regex(R"(([0-9a-f]{32})  /mnt/big.bin)")));

    // The images below were only read; the snapshot=on disk's writes went nowhere.
    CHECK(md5_of(dir / "base.qcow2") == base_before);
    CHECK(md5_of(base_raw) == raw_before);
    // The overlay: clean (closed cleanly, so not even leaks), and a clean filesystem with the data.
    check_image(overlay);
    const auto result_raw = dir / "result.raw";
    qemu_img({"convert", "-O", "raw", overlay.string(), result_raw.string()});
    const auto fsck = run_process({"/usr/sbin/e2fsck", "-fn", result_raw.string()});
    INFO(fsck.out << fsck.err);
    CHECK(fsck.exit_code == 0);
    for (const auto& [file, md5] : {std::pair{std::string("/big.bin"), big[1].str()},
                                    std::pair{std::string("/copy.bin"), data_md5}}) {
        const auto out = dir / "dumped";
        std::filesystem::remove(out);
        run_tool({"/usr/sbin/debugfs", "-R", "dump " + file + " " + out.string(), result_raw.string()});
        CHECK(md5_of(out) == md5);
    }
    const auto f7 = run_process({"/usr/sbin/debugfs", "-R", "cat /many/f7", result_raw.string()});
    CHECK_THAT(f7.out, Catch::Contains("file-7"));
    const auto gone = run_process({"/usr/sbin/debugfs", "-R", "stat /data.bin", result_raw.string()});
    CHECK_THAT(gone.out + gone.err, Catch::Contains("File not found"));
}
