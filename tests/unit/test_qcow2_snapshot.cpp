// snapshot=on (writes to a temporary overlay, the image untouched and shareable), the
// probed-raw first-sector rule, and qcow2 with cache=none (O_DIRECT).
#include "backends/block/first_sector_guard.hpp"
#include "support/config_error.hpp"
#include "support/qcow2_disk.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

using namespace minivmm;
using namespace minivmm::test;

namespace {

// Points TMPDIR (where snapshot overlays go) at a directory for the life of the object.
class TmpdirOverride {
public:
    explicit TmpdirOverride(const std::filesystem::path& dir)
    {
        if (const char* old = std::getenv("TMPDIR")) {
            old_ = old;
        }
        ::setenv("TMPDIR", dir.c_str(), 1);
    }
    ~TmpdirOverride()
    {
        if (old_) {
            ::setenv("TMPDIR", old_->c_str(), 1);
        } else {
            ::unsetenv("TMPDIR");
        }
    }
    TmpdirOverride(const TmpdirOverride&) = delete;
    TmpdirOverride& operator=(const TmpdirOverride&) = delete;

private:
    std::optional<std::string> old_;
};

std::size_t entries(const std::filesystem::path& dir)
{
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}

std::string qcow2_header_sector()
{
    std::string header(512, '\0');
    header.replace(0, 8, std::string("QFI\xfb\0\0\0\3", 8));
    return header;
}

} // namespace

TEST_CASE("snapshot=on: the guest writes, the image file stays byte for byte as it was", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    const bool qcow2 = GENERATE(false, true);
    const auto backend = GENERATE(TestBackend::Synchronous, TestBackend::IoUring);
    INFO((qcow2 ? "qcow2 over raw" : "raw") << " " << to_string(backend));
    TempDir dir;
    std::filesystem::create_directory(dir / "tmp");
    TmpdirOverride tmpdir(dir / "tmp");
    constexpr uint64_t kSize = 8 * 1024 * 1024;
    write_file(dir / "base.raw", pattern(kSize, 71));
    auto image = dir / "base.raw";
    if (qcow2) {
        image = dir / "top.qcow2";
        qemu_img({"create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", image.string()});
        qemu_io(image, "qcow2", {"write -P 0x44 1M 1M"});
    }
    const auto image_before = file_bytes(image);
    const auto base_before = file_bytes(dir / "base.raw");
    const auto contents = qemu_raw(image, dir / "contents.raw");
    {
        DeviceDisk disk(disk_options(image, Access::Snapshot), backend);
        auto expected = contents;
        const auto data = pattern(3 * 1024 * 1024 + 512, 72);
        disk.write(512, data);
        std::copy(data.begin(), data.end(), expected.begin() + 512);
        CHECK(disk.command(virtio::kBlkTWriteZeroes, 6 * 1024 * 1024, 1024 * 1024, virtio::kBlkDiscardFUnmap) ==
              virtio::kBlkSOk);
        std::fill_n(expected.begin() + 6 * 1024 * 1024, 1024 * 1024, std::byte{0});
        CHECK(disk.command(virtio::kBlkTFlush) == virtio::kBlkSOk);
        CHECK(disk.read(0, kSize) == expected);
        // The overlay is an unnamed file: nothing shows in the directory, even now.
        CHECK(entries(dir / "tmp") == 0);
    }
    CHECK(file_bytes(image) == image_before);
    CHECK(file_bytes(dir / "base.raw") == base_before);
    CHECK(entries(dir / "tmp") == 0);
}

TEST_CASE("snapshot=on: two users share one image; a writer is kept off", "[unit][qcow2]")
{
    TempDir dir;
    TmpdirOverride tmpdir(dir.path);
    const auto image = dir / "shared.raw";
    write_file(image, pattern(4 * 1024 * 1024, 81));
    DeviceDisk first(disk_options(image, Access::Snapshot));
    DeviceDisk second(disk_options(image, Access::Snapshot));
    first.write(0, pattern(4096, 82));
    CHECK(first.read(0, 4096) == pattern(4096, 82));
    CHECK(second.read(0, 4096) == pattern(4096, 81)); // a pattern's prefix is the shorter pattern
    CHECK(config_error([&] { (void)backends::DiskImage::open(disk_options(image)); }) ==
          "disk '" + image.string() + "' is in use by another process (lock held)");
}

TEST_CASE("probed raw images: the guest may not write an image header into sector 0", "[unit][qcow2]")
{
    TempDir dir;
    const auto image = dir / "disk.raw";
    write_file(image, std::vector<std::byte>(1024 * 1024));
    const std::string header = qcow2_header_sector();
    std::vector<std::byte> header_bytes(512);
    std::memcpy(header_bytes.data(), header.data(), 512);
    SECTION("format probed: refused, the file unchanged, other writes go through")
    {
        DeviceDisk disk(disk_options(image));
        auto& d = disk.driver;
        const auto& slot = disk.slots[0];
        d.memory.write_obj(slot.header, virtio::BlkReqHeader{virtio::kBlkTOut, 0, 0});
        d.memory.write(slot.data, header_bytes);
        d.memory.write_obj(slot.status, uint8_t{0xee});
        d.offer({{slot.header, 16, false}, {slot.data, 512, false}, {slot.status, 1, true}});
        disk.device->queue_notify(0);
        disk.wait_for(1);
        CHECK(d.memory.read_obj<uint8_t>(slot.status) == virtio::kBlkSIoErr);
        CHECK(read_file_range(image, 0, 512) == std::vector<std::byte>(512));
        disk.write(512, header_bytes); // not the first sector: a guest may keep image files on its disk
        disk.write(0, pattern(512, 91));
        CHECK(read_file_range(image, 0, 1024) == [&] {
            auto both = pattern(512, 91);
            both.insert(both.end(), header_bytes.begin(), header_bytes.end());
            return both;
        }());
    }
    SECTION("format=raw given: allowed")
    {
        auto o = disk_options(image);
        o.format = backends::DiskFormat::Raw;
        DeviceDisk disk(o);
        disk.write(0, header_bytes);
        CHECK(read_file_range(image, 0, 512) == header_bytes);
    }
    SECTION("what counts as changing the format")
    {
        const iovec header_iov{header_bytes.data(), header_bytes.size()};
        CHECK(backends::FirstSectorGuard::changes_format(std::span(&header_iov, 1)));
        auto vmdk = std::vector<std::byte>(512);
        std::memcpy(vmdk.data(), "KDMV", 4);
        const iovec vmdk_iov{vmdk.data(), vmdk.size()};
        CHECK(backends::FirstSectorGuard::changes_format(std::span(&vmdk_iov, 1)));
        // Split over two buffers, the magic still counts.
        const std::array<iovec, 2> split{iovec{header_bytes.data(), 2}, iovec{header_bytes.data() + 2, 510}};
        CHECK(backends::FirstSectorGuard::changes_format(split));
        auto mbr = pattern(512, 3);
        const iovec mbr_iov{mbr.data(), mbr.size()};
        CHECK_FALSE(backends::FirstSectorGuard::changes_format(std::span(&mbr_iov, 1)));
    }
}

TEST_CASE("qcow2 with cache=none: O_DIRECT through copy-on-write, compressed clusters and write-back",
          "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    TempDir dir("/var/tmp");
    {
        const int fd = ::open((dir / "probe").c_str(), O_CREAT | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);
        if (fd < 0) {
            WARN("no O_DIRECT on /var/tmp, skipping");
            return;
        }
        ::close(fd);
    }
    const auto backend = GENERATE(TestBackend::Synchronous, TestBackend::IoUring);
    constexpr uint64_t kSize = 8 * 1024 * 1024;
    // A compressed base of odd size (its last compressed cluster ends inside a sector).
    write_file(dir / "source.raw", pattern(kSize, 95));
    qemu_img({"convert", "-c", "-O", "qcow2", (dir / "source.raw").string(), (dir / "base.qcow2").string()});
    const auto image = dir / "top.qcow2";
    qemu_img({"create", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "base.qcow2", "-F", "qcow2", image.string()});
    auto o = disk_options(image);
    o.direct = true;
    auto expected = pattern(kSize, 95);
    {
        DeviceDisk disk(o, backend);
        const auto data = pattern(100 * 1024, 96);
        disk.write(3 * 512, data);
        std::copy(data.begin(), data.end(), expected.begin() + 3 * 512);
        CHECK(disk.read(0, kSize) == expected);
    }
    check_image(image);
    CHECK(qemu_raw(image, dir / "check.raw") == expected);
}
