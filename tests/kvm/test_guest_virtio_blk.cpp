// [kvm] virtio-blk with the test guest's driver (tests/guest/tests/test_blk.c): data
// written by the guest checked byte for byte in the image file, data written by the host
// checksummed by the guest, read-only disks, several disks, the other request types, and
// a hostile driver that must leave minivmm running.
#include "support/kvm.hpp"
#include "support/virtio_blk_driver.hpp"
#include "support/guest_pattern.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <regex>

using namespace minivmm;
using namespace minivmm::test;

namespace {

constexpr uint64_t kSector = 512;


std::string as_string(const std::vector<std::byte>& bytes)
{
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::vector<std::string> disk_flag(const TempImage& image, const std::string& options = "")
{
    return {"--disk", "path=" + image.path.string() + (options.empty() ? "" : "," + options)};
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b)
{
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

} // namespace

TEST_CASE("virtio-blk: a guest's writes reach the image file, flushed, byte for byte", "[kvm][virtio][virtio-blk]")
{
    if (!kvm_available()) {
        return;
    }
    const auto [image_kind, mode] = GENERATE(std::pair{GuestImage::Elf, "blk-write"},
                                             std::pair{GuestImage::BzImage, "blk-indirect indirect=1"},
                                             std::pair{GuestImage::Elf, "blk-write event_idx=1"});
    TempImage image(4 * kMiB);
    const uint32_t seed = 0x1234567;
    const uint64_t start = 8, sectors = 300; // several requests of at most 128 sectors
    const auto result = run_test_guest(
        image_kind, fmt::format("test={} seed={} sectors={} start={}", mode, seed, sectors, start),
        {.mem = "128M", .cpus = 1, .extra = disk_flag(image)});
    CHECK(result.exit_code == 0);
    const auto expected = xorshift_pattern(seed, sectors * kSector);
    CHECK_THAT(result.out, Catch::Contains(fmt::format("blk: wrote {} sectors crc32={:08x}", sectors,
                                                       crc32(as_string(expected)))));
    CHECK_THAT(result.out, Catch::Contains("blk: flush status=0"));
    const auto on_disk = image.read(start * kSector, expected.size());
    CHECK(on_disk == expected);
    // Nothing outside the written range was touched.
    CHECK(image.read(0, start * kSector) == std::vector<std::byte>(start * kSector));
}

TEST_CASE("virtio-blk: the guest reads what the host wrote", "[kvm][virtio][virtio-blk]")
{
    if (!kvm_available()) {
        return;
    }
    TempImage image(2 * kMiB);
    const auto data = pattern(256 * kSector, 7);
    image.write(64 * kSector, data);
    const auto result = run_test_guest(GuestImage::Elf, "test=blk-read sectors=256 start=64",
                                       {.mem = "128M", .cpus = 1, .extra = disk_flag(image, "readonly=on")});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains(fmt::format("blk: read 256 sectors crc32={:08x}", crc32(as_string(data)))));
}

TEST_CASE("virtio-blk: device identity: capacity, serial, read-only flag", "[kvm][virtio][virtio-blk]")
{
    if (!kvm_available()) {
        return;
    }
    TempImage image(3 * kMiB);
    const auto result = run_test_guest(GuestImage::Elf, "test=blk-info",
                                       {.mem = "128M", .cpus = 1, .extra = disk_flag(image, "readonly=on,serial=SN-42")});
    CHECK(result.exit_code == 0);
    CHECK(std::regex_search(result.out, std::regex(R"(blk: disk=0 capacity=6144 features=0x[0-9a-f]+ blk_size=512 )"
                                                   R"(seg_max=\d+ ro=1 serial='SN-42')")));
}

TEST_CASE("virtio-blk: writes to a readonly=on disk fail with IOERR and change nothing", "[kvm][virtio][virtio-blk]")
{
    if (!kvm_available()) {
        return;
    }
    TempImage image(1 * kMiB);
    const auto data = pattern(kSector, 3);
    image.write(0, data);
    const auto result = run_test_guest(GuestImage::Elf, "test=blk-ro",
                                       {.mem = "128M", .cpus = 1, .extra = disk_flag(image, "readonly=on")});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("blk: write status=1"));
    CHECK(image.read(0, kSector) == data);
}

TEST_CASE("virtio-blk: two disks at once, each with its own contents", "[kvm][virtio][virtio-blk]")
{
    if (!kvm_available()) {
        return;
    }
    TempImage first(1 * kMiB), second(2 * kMiB);
    const auto a = pattern(8 * kSector, 11), b = pattern(8 * kSector, 12);
    first.write(0, a);
    second.write(0, b);
    const auto result = run_test_guest(GuestImage::BzImage, "test=blk-multi",
                                       {.mem = "128M", .cpus = 1,
                                        .extra = concat(disk_flag(first), disk_flag(second, "readonly=on"))});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains(fmt::format("blk: disk=0 capacity=2048 crc32={:08x}", crc32(as_string(a)))));
    CHECK_THAT(result.out, Catch::Contains(fmt::format("blk: disk=1 capacity=4096 crc32={:08x}", crc32(as_string(b)))));
    CHECK_THAT(result.out, Catch::Contains("blk: disks=2"));
}

TEST_CASE("virtio-blk: read past the end, unknown types, discard and write-zeroes", "[kvm][virtio][virtio-blk]")
{
    if (!kvm_available()) {
        return;
    }
    TempImage image(1 * kMiB);
    image.write(0, pattern(1 * kMiB, 5));
    const auto result = run_test_guest(GuestImage::Elf, "test=blk-ops", {.mem = "128M", .cpus = 1, .extra = disk_flag(image)});
    CHECK(result.exit_code == 0);
    for (const char* op : {"read-past-end status=1 ok", "unknown status=2 ok", "discard status=0 ok",
                           "write-zeroes status=0 ok"}) {
        CHECK_THAT(result.out, Catch::Contains(fmt::format("blk: op={}", op)));
    }
}

TEST_CASE("virtio-blk: a hostile driver gets DEVICE_NEEDS_RESET and minivmm keeps running", "[kvm][virtio][virtio-blk]")
{
    if (!kvm_available()) {
        return;
    }
    TempImage image(1 * kMiB);
    const auto result = run_test_guest(GuestImage::Elf, "test=hostile case=all indirect=0",
                                       {.mem = "128M", .cpus = 1, .extra = disk_flag(image)});
    CHECK(result.exit_code == 0);
    for (const char* name : {"loop", "next-range", "head-range", "avail-jump", "outside-ram", "read-after-write",
                             "indirect-unnegotiated", "nested-indirect", "bad-indirect-len"}) {
        CHECK_THAT(result.out, Catch::Contains(fmt::format("hostile: case={} needs_reset=1", name)));
        CHECK_THAT(result.out, Catch::Contains(fmt::format("hostile: case={} recovered", name)));
    }
    CHECK_THAT(result.out, Catch::Contains("hostile: 9 of 9 cases passed"));
    // minivmm logged each protocol violation (once per device reset cycle).
    CHECK_THAT(result.err, Catch::Contains("device needs reset"));
}

TEST_CASE("virtio-blk: a disk locked by another process is refused before boot", "[kvm][virtio][virtio-blk]")
{
    if (!kvm_available()) {
        return;
    }
    TempImage image(1 * kMiB);
    const int fd = ::open(image.path.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    struct flock lock{};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    REQUIRE(::fcntl(fd, F_OFD_SETLK, &lock) == 0);
    const auto result = run_process(concat({MINIVMM_BINARY, "--kernel", MINIVMM_TEST_GUEST_ELF, "--cmdline", "test=boot",
                                            "--mem", "64M"},
                                           disk_flag(image)),
                                    std::chrono::seconds(60));
    ::close(fd);
    CHECK(result.exit_code == 125);
    CHECK_THAT(result.err, Catch::Contains(image.path.string()));
    CHECK_THAT(result.err, Catch::Contains("in use"));
}

namespace {

// Where a cache=none (O_DIRECT) disk can live: a file in the temporary directory if its
// filesystem takes O_DIRECT, else a brd RAM block device (/dev/ram0: the nested harness loads
// brd, as its tmpfs overlay has no O_DIRECT), else nowhere (nullopt).
std::optional<std::filesystem::path> direct_io_dir_or_device()
{
    const auto dir = std::filesystem::temp_directory_path();
    TempImage probe(4096, dir);
    if (const int fd = ::open(probe.path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC); fd >= 0) {
        ::close(fd);
        return dir;
    }
    if (const int fd = ::open("/dev/ram0", O_RDWR | O_DIRECT | O_CLOEXEC); fd >= 0) {
        ::close(fd);
        return std::filesystem::path("/dev/ram0");
    }
    return std::nullopt;
}

} // namespace

TEST_CASE("virtio-blk: what the guest flushed is in the image even when minivmm is killed at once",
          "[kvm][virtio][virtio-blk]")
{
    if (!kvm_available()) {
        return;
    }
    // SIGKILL right after the guest heard its flush complete: minivmm gets no chance to finish
    // anything at exit, so every byte must already have reached the image when the flush
    // completed, for both back ends and both cache modes.
    const auto [aio, cache] = GENERATE(std::pair{"io_uring", "writeback"}, std::pair{"io_uring", "none"},
                                       std::pair{"sync", "writeback"}, std::pair{"sync", "none"});
    INFO("aio=" << aio << " cache=" << cache);
    const uint32_t seed = 0x5eed1234;
    const uint64_t start = 16, sectors = 1000;
    std::optional<TempImage> file;
    std::filesystem::path disk;
    if (std::string(cache) == "none") {
        const auto where = direct_io_dir_or_device();
        if (!where) {
            WARN("SKIPPED aio=" << aio << " cache=none: neither the temporary directory nor /dev/ram0 takes O_DIRECT");
            return;
        }
        if (std::filesystem::is_block_file(*where)) {
            disk = *where;
            const std::vector<std::byte> zeros((start + sectors) * kSector);
            const int fd = ::open(disk.c_str(), O_WRONLY | O_CLOEXEC);
            REQUIRE(fd >= 0);
            REQUIRE(::pwrite(fd, zeros.data(), zeros.size(), 0) == static_cast<ssize_t>(zeros.size()));
            REQUIRE(::fsync(fd) == 0);
            ::close(fd);
        } else {
            file.emplace(4 * kMiB, *where);
            disk = file->path;
        }
    } else {
        file.emplace(4 * kMiB);
        disk = file->path;
    }
    const std::vector<std::string> argv{MINIVMM_BINARY,
                                        "--kernel",
                                        image_path(GuestImage::Elf),
                                        "--cmdline",
                                        fmt::format("test=blk-write seed={} sectors={} start={} hold=1", seed,
                                                    sectors, start),
                                        "--mem",
                                        "128M",
                                        "--timeout",
                                        "120s",
                                        "--disk",
                                        fmt::format("path={},cache={},aio={}", disk.string(), cache, aio)};
    const auto result =
        run_process(argv, std::chrono::seconds(180), "", SignalOnOutput{"blk: holding after the flush", SIGKILL});
    INFO("minivmm stdout:\n" << result.out << "\nminivmm stderr:\n" << result.err);
    REQUIRE_FALSE(result.timed_out);
    REQUIRE_THAT(result.out, Catch::Contains("blk: flush status=0"));
    CHECK(result.exit_code == 128 + SIGKILL);
    const auto expected = xorshift_pattern(seed, sectors * kSector);
    CHECK(read_file_range(disk, start * kSector, expected.size()) == expected);
}
