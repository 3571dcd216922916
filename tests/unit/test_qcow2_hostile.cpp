// Hostile and broken qcow2 images: every offset, size, count and flag the file gives is
// checked before use, and what minivmm cannot use is one ConfigError line naming the file
// (exit 125 from the command), never a crash or a read outside the file. Images are made by
// qemu-img and then patched.
#include "backends/block/qcow2/qcow2_format.hpp"
#include "support/config_error.hpp"
#include "support/qcow2_disk.hpp"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

using namespace minivmm;
using namespace minivmm::test;
namespace qcow2 = minivmm::backends::qcow2;

namespace {

std::string open_error(const std::filesystem::path& path, bool readonly = false)
{
    return config_error([&] { (void)backends::DiskImage::open(disk_options(path, readonly ? Access::ReadOnly : Access::ReadWrite)); });
}

uint64_t read_be(const std::filesystem::path& path, uint64_t offset, std::size_t width)
{
    const auto bytes = read_file_range(path, offset, width);
    return qcow2::load_be(bytes, 0, width);
}

void patch_be(const std::filesystem::path& path, uint64_t offset, std::size_t width, uint64_t value)
{
    std::vector<std::byte> bytes(width);
    qcow2::store_be(bytes, 0, width, value);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, bytes.data(), width, static_cast<off_t>(offset)) == static_cast<ssize_t>(width));
    ::close(fd);
}

// A 16 MiB v3 image with data in its first cluster and at 8 MiB.
std::filesystem::path good_image(const TempDir& dir, const std::string& name = "image.qcow2",
                                 const std::string& extra = "")
{
    const auto image = dir / name;
    qemu_img({"create", "-f", "qcow2", "-o", "cluster_size=65536" + extra, image.string(), "16M"});
    qemu_io(image, "qcow2", {"write -P 0x7e 0 64k", "write -P 0x7f 8M 64k"});
    return image;
}

uint64_t l2_table(const std::filesystem::path& image)
{
    const uint64_t l1 = read_be(image, 40, 8);
    return read_be(image, l1, 8) & qcow2::kOffsetMask;
}

std::string quoted(const std::filesystem::path& p) { return "disk '" + p.string() + "'"; }

} // namespace

TEST_CASE("qcow2 hostile headers: sizes, offsets and counts out of range", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    TempDir dir;
    const auto image = good_image(dir);
    const auto name = quoted(image);
    struct Case {
        std::size_t offset;
        std::size_t width;
        uint64_t value;
        std::string message;
    };
    const std::vector<Case> cases{
        {20, 4, 8, "has cluster_bits 8 (9 to 21: clusters of 512 bytes to 2 MiB)"},
        {20, 4, 22, "has cluster_bits 22 (9 to 21: clusters of 512 bytes to 2 MiB)"},
        {4, 4, 4, "has qcow2 version 4 (2 and 3 are supported)"},
        {36, 4, 0x10000000, "has an L1 table of 268435456 entries (at most 4194304)"},
        {36, 4, 0, "has an L1 table of 0 entries, too small for its virtual size of 16777216 bytes (1 needed)"},
        {24, 8, 1ULL << 62, "has a virtual size of 4611686018427387904 bytes, too large for 65536-byte clusters"},
        {40, 8, 0x40000000, "has its L1 table at 0x40000000+8 past the end of the file (458752 bytes)"},
        {40, 8, 0x30200, "has its L1 table at 0x30200, not a cluster boundary past the header"},
        {48, 8, 0, "has its refcount table at 0x0, not a cluster boundary past the header"},
        {48, 8, 0x30000, "has its refcount table at 0x30000 overlapping other metadata (cluster 0x30000)"},
        {56, 4, 1000, "has a refcount table of 1000 clusters (1 to 8388608 bytes)"},
        {60, 4, 3, "has a snapshot table that ends inside entry 0"},
        {100, 4, 100, "has header_length 100 (a multiple of 8, at least 104, within the first cluster)"},
        {96, 4, 7, "has refcount_order 7 (at most 6: 64-bit refcounts)"},
        {72, 8, 1ULL << 5, "uses incompatible features minivmm does not know: bit 5"},
        {72, 8, qcow2::kIncompatExternalData, "uses an external data file (incompatible feature 'external data file'), "
                                              "which minivmm does not support"},
        {32, 4, 2, "is encrypted (LUKS), which minivmm does not support"},
        {16, 4, 2000, "has a backing file name of 2000 bytes (1 to 1023)"},
        // The offset plus the size wraps (found by fuzz_qcow2: it read before the header).
        {8, 8, ~0ULL, "has its backing file name at 0xffffffffffffffff+16, outside the header cluster"},
        {112, 4, qcow2::kExtEncryption, "has an encryption header extension (encrypted images are not supported)"},
    };
    const auto original = file_bytes(image);
    for (const auto& c : cases) {
        INFO("patch " << c.width << " bytes at " << c.offset << " to " << c.value);
        write_file(image, original);
        if (c.offset == 16) {
            patch_be(image, 8, 8, 0x200); // a backing file name at 0x200, of the size patched next
        }
        if (c.offset == 8) {
            patch_be(image, 16, 4, 16); // a backing file name of 16 bytes, at the offset patched next
        }
        if (c.offset == 112) {
            patch_be(image, 116, 4, 16); // the extension's length: an offset and a size
        }
        if (c.offset == 60) {
            patch_be(image, 64, 8, 0x60000); // a snapshot table in the last clusters of the file
        }
        patch_be(image, c.offset, c.width, c.value);
        CHECK(open_error(image) == name + " " + c.message);
        CHECK(open_error(image, true) == name + " " + c.message);
    }
}

TEST_CASE("qcow2 hostile tables: entries outside the file, on metadata, malformed", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    TempDir dir;
    const auto image = good_image(dir);
    const auto name = quoted(image);
    const auto original = file_bytes(image);
    const uint64_t l1 = read_be(image, 40, 8);
    const uint64_t l2 = l2_table(image);
    const uint64_t reftable = read_be(image, 48, 8);
    SECTION("an L1 entry past the end of the file")
    {
        patch_be(image, l1, 8, 0x8000000000000000ULL | 0x7f0000);
        CHECK(open_error(image) == name + " has its L2 table 0 at 0x7f0000+65536 past the end of the file (" +
                                       std::to_string(original.size()) + " bytes)");
    }
    SECTION("an L1 entry pointing at the header")
    {
        patch_be(image, l1, 8, 0x8000000000000000ULL);
        CHECK(open_error(image) == name + " has an invalid L1 entry 0 (0x8000000000000000)");
    }
    SECTION("an L1 entry pointing at the refcount table")
    {
        patch_be(image, l1, 8, 0x8000000000000000ULL | reftable);
        CHECK_THAT(open_error(image), Catch::StartsWith(name + " has its ") &&
                                          Catch::Contains("overlapping other metadata"));
    }
    SECTION("data past the end of the file")
    {
        patch_be(image, l2, 8, 0x8000000000000000ULL | 0x10000000);
        CHECK(open_error(image) == name + " maps guest offset 0x0 to 0x10000000, past the end of the file (truncated?)");
        CHECK(open_error(image, true) == open_error(image));
    }
    SECTION("data on top of the L1 table")
    {
        patch_be(image, l2, 8, 0x8000000000000000ULL | l1);
        CHECK(open_error(image) == name + fmt::format(" maps guest offset 0x0 to 0x{:x}, which holds metadata", l1));
    }
    SECTION("reserved bits in an L2 entry")
    {
        patch_be(image, l2 + 8, 8, 0x0100000000000000ULL);
        CHECK(open_error(image) == name + fmt::format(" has an invalid entry 1 (0x0100000000000000) in L2 table 0 at "
                                                      "0x{:x}",
                                                      l2));
    }
    SECTION("compressed data past the end of the file")
    {
        patch_be(image, l2 + 16, 8, 0x4000000000000000ULL | 0x3fff0000ULL);
        CHECK(open_error(image) ==
              name + " maps guest offset 0x20000 to compressed data at 0x3fff0000, outside the file");
    }
    SECTION("compressed data on top of the L1 table")
    {
        patch_be(image, l2 + 16, 8, 0x4000000000000000ULL | (l1 + 0x40));
        const auto expected = name + fmt::format(" maps guest offset 0x20000 to compressed data at 0x{:x} in cluster "
                                                 "0x{:x}, which holds metadata",
                                                 l1 + 0x40, l1);
        CHECK(open_error(image) == expected);
        CHECK(open_error(image, true) == expected);
    }
    SECTION("compressed data on top of a refcount block, counted in its refcount")
    {
        // What fuzz_qcow2 found: the block's refcount (1) covers the compressed cluster's
        // reference, and nothing else counts the block; writing guest cluster 2 would free
        // the compressed cluster and leave the block in use with a refcount of 0, for the
        // next allocation to hand out (QEMU opens this image and does just that; `qemu-img
        // check` reports it before and after).
        const uint64_t block = read_be(image, reftable, 8);
        patch_be(image, l2 + 16, 8, 0x4000000000000000ULL | (block + 0x200));
        CHECK(open_error(image) == name + fmt::format(" maps guest offset 0x20000 to compressed data at 0x{:x} in "
                                                      "cluster 0x{:x}, which holds metadata",
                                                      block + 0x200, block));
    }
    SECTION("the same cluster used twice as this image's own")
    {
        const uint64_t first = read_be(image, l2, 8);
        patch_be(image, l2 + 24, 8, first);
        CHECK_THAT(open_error(image), Catch::EndsWith("which another guest cluster uses too"));
        // Reading alone does not care who else reads a cluster.
        CHECK_NOTHROW(backends::DiskImage::open(disk_options(image, Access::ReadOnly)));
    }
    SECTION("a cluster in use whose refcount is 0")
    {
        const uint64_t block = read_be(image, reftable, 8);
        const uint64_t data = read_be(image, l2, 8) & qcow2::kOffsetMask;
        patch_be(image, block + 2 * (data >> 16), 2, 0);
        CHECK(open_error(image) == name + fmt::format(" maps guest offset 0x0 to 0x{:x} whose refcount is 0 (qemu-img "
                                                      "check -r all repairs it)",
                                                      data));
        CHECK_NOTHROW(backends::DiskImage::open(disk_options(image, Access::ReadOnly)));
    }
    SECTION("a cluster that more guest clusters map than its refcount says")
    {
        // Guest cluster 3 shares guest cluster 0's data (not as COPIED) with its refcount
        // still 1: writing either (a copy-on-write) would free a cluster the other still maps.
        const uint64_t block = read_be(image, reftable, 8);
        const uint64_t data = read_be(image, l2, 8) & qcow2::kOffsetMask;
        patch_be(image, l2 + 24, 8, data);
        CHECK(open_error(image) == name + fmt::format(" maps guest offset 0x30000 to 0x{:x}, which more guest clusters "
                                                      "use than its refcount says (qemu-img check -r all repairs it)",
                                                      data));
        CHECK_NOTHROW(backends::DiskImage::open(disk_options(image, Access::ReadOnly)));
        // Shared as QEMU shares it (refcount 2, neither COPIED), it opens for writing.
        patch_be(image, l2, 8, data);
        patch_be(image, block + 2 * (data >> 16), 2, 2);
        CHECK_NOTHROW(backends::DiskImage::open(disk_options(image, Access::ReadWrite)));
    }
    SECTION("a file cut short inside its tables")
    {
        std::filesystem::resize_file(image, l2 + 100);
        CHECK_THAT(open_error(image), Catch::StartsWith(name + " has its L2 table 0 at 0x") &&
                                          Catch::Contains("past the end of the file"));
    }
}

TEST_CASE("qcow2 images minivmm refuses to write, and reads", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    TempDir dir;
    SECTION("dirty (lazy refcounts, not closed cleanly)")
    {
        const auto image = good_image(dir, "image.qcow2", ",lazy_refcounts=on");
        patch_be(image, 72, 8, qcow2::kIncompatDirty);
        CHECK(open_error(image) == quoted(image) + " is dirty: it was not closed cleanly while using lazy refcounts, "
                                                   "so its refcounts cannot be trusted for writing (qemu-img check -r "
                                                   "all repairs it; readonly=on or snapshot=on can use it as is)");
        CHECK_NOTHROW(backends::DiskImage::open(disk_options(image, Access::ReadOnly)));
    }
    SECTION("marked corrupt")
    {
        const auto image = good_image(dir);
        patch_be(image, 72, 8, qcow2::kIncompatCorrupt);
        CHECK_THAT(open_error(image), Catch::Contains("is marked corrupt"));
        CHECK_NOTHROW(backends::DiskImage::open(disk_options(image, Access::ReadOnly)));
    }
    SECTION("extended L2 entries")
    {
        const auto image = dir / "image.qcow2";
        qemu_img({"create", "-f", "qcow2", "-o", "extended_l2=on", image.string(), "16M"});
        CHECK(open_error(image, true) == quoted(image) + " uses extended L2 entries (subclusters, incompatible feature "
                                                         "'extended L2'), which minivmm does not support");
    }
    SECTION("an external data file")
    {
        const auto image = dir / "image.qcow2";
        qemu_img({"create", "-f", "qcow2", "-o", "data_file=" + (dir / "data.raw").string(), image.string(), "16M"});
        CHECK_THAT(open_error(image, true), Catch::Contains("external data file"));
    }
}

TEST_CASE("qcow2 backing chains that are refused", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    TempDir dir;
    const auto a = dir / "a.qcow2";
    const auto b = dir / "b.qcow2";
    SECTION("a loop")
    {
        qemu_img({"create", "-f", "qcow2", "-u", "-b", "b.qcow2", "-F", "qcow2", a.string(), "16M"});
        qemu_img({"create", "-f", "qcow2", "-u", "-b", "a.qcow2", "-F", "qcow2", b.string(), "16M"});
        CHECK(open_error(a) == quoted(a) + ": the backing chain loops: '" + b.string() + "' is backed by '" +
                                   (dir / "a.qcow2").string() + "', which is already in the chain");
    }
    SECTION("an image that is its own backing file")
    {
        qemu_img({"create", "-f", "qcow2", "-u", "-b", "a.qcow2", "-F", "qcow2", a.string(), "16M"});
        CHECK_THAT(open_error(a, true), Catch::Contains("the backing chain loops"));
    }
    SECTION("longer than 16 images")
    {
        write_file(dir / "0.raw", std::vector<std::byte>(1024 * 1024));
        for (int i = 1; i <= 16; ++i) {
            qemu_img({"create", "-f", "qcow2", "-b", std::to_string(i - 1) + (i == 1 ? ".raw" : ".qcow2"), "-F",
                      i == 1 ? "raw" : "qcow2", (dir / (std::to_string(i) + ".qcow2")).string()});
        }
        CHECK_NOTHROW(backends::DiskImage::open(disk_options(dir / "15.qcow2"))); // 16 images
        CHECK(open_error(dir / "16.qcow2") ==
              quoted(dir / "16.qcow2") + ": the backing chain is longer than 16 images (at '0.raw')");
    }
    SECTION("a missing backing file")
    {
        qemu_img({"create", "-f", "qcow2", "-u", "-b", "gone.qcow2", "-F", "qcow2", a.string(), "16M"});
        CHECK(open_error(a) == quoted(a) + ": backing file 'gone.qcow2' does not exist");
    }
    SECTION("protocols and json: names")
    {
        for (const std::string name : {"nbd://localhost/x", "json:{\"driver\":\"raw\"}", "http://example.com/a"}) {
            qemu_img({"create", "-f", "qcow2", "-u", "-b", name, "-F", "raw", a.string(), "16M"});
            CHECK(open_error(a) == quoted(a) + ": backing file '" + name +
                                       "' is not a plain file name (QEMU protocols and json: names are not supported)");
        }
    }
    SECTION("a backing format minivmm does not read")
    {
        qemu_img({"create", "-f", "vmdk", b.string(), "16M"});
        qemu_img({"create", "-f", "qcow2", "-u", "-b", "b.qcow2", "-F", "vmdk", a.string(), "16M"});
        CHECK(open_error(a) == quoted(a) + ": backing file 'b.qcow2' has format 'vmdk' (minivmm reads raw and qcow2)");
    }
    SECTION("a broken backing file")
    {
        const auto base = good_image(dir, "b.qcow2");
        patch_be(base, 20, 4, 30);
        qemu_img({"create", "-f", "qcow2", "-u", "-b", "b.qcow2", "-F", "qcow2", a.string(), "16M"});
        CHECK(open_error(a) == quoted(a) + ": backing file 'b.qcow2' has cluster_bits 30 (9 to 21: clusters of 512 "
                                           "bytes to 2 MiB)");
    }
}

TEST_CASE("probing: qcow2 by its header, other formats refused, format= overrides", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    TempDir dir;
    const auto vmdk = dir / "disk.vmdk";
    qemu_img({"create", "-f", "vmdk", vmdk.string(), "16M"});
    CHECK(open_error(vmdk) == quoted(vmdk) + " is a VMDK image; minivmm reads raw and qcow2 (format=raw uses its bytes "
                                             "as they are)");
    auto raw = disk_options(vmdk);
    raw.format = backends::DiskFormat::Raw;
    CHECK(backends::DiskImage::open(raw).format() == backends::DiskFormat::Raw);

    const auto v1 = dir / "disk.qcow";
    qemu_img({"create", "-f", "qcow", v1.string(), "16M"});
    CHECK(open_error(v1) == quoted(v1) + " is a qcow (version 1) image; minivmm reads raw and qcow2 (format=raw uses "
                                         "its bytes as they are)");
    auto as_qcow2 = disk_options(v1);
    as_qcow2.format = backends::DiskFormat::Qcow2;
    CHECK(config_error([&] { (void)backends::DiskImage::open(as_qcow2); }) ==
          quoted(v1) + " is a qcow version 1 image, which minivmm does not support (qemu-img convert -O qcow2 makes a "
                       "v3 image)");

    const auto plain = dir / "disk.raw";
    write_file(plain, std::vector<std::byte>(1024 * 1024));
    auto forced = disk_options(plain);
    forced.format = backends::DiskFormat::Qcow2;
    CHECK(config_error([&] { (void)backends::DiskImage::open(forced); }) == quoted(plain) + " has no qcow2 magic");
    const auto probed = backends::DiskImage::open(disk_options(plain));
    CHECK(probed.format() == backends::DiskFormat::Raw);
    CHECK(probed.probed_raw());
}

TEST_CASE("a hostile image on the command line is one line and exit 125", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    TempDir dir;
    const auto image = good_image(dir);
    patch_be(image, 36, 4, 0x10000000);
    const auto a = dir / "a.qcow2";
    qemu_img({"create", "-f", "qcow2", "-u", "-b", "a.qcow2", "-F", "qcow2", a.string(), "16M"});
    for (const auto& [disk, mention] : {std::pair{image, std::string("L1 table of 268435456 entries")},
                                        std::pair{a, std::string("backing chain loops")}}) {
        const auto r = run_process({MINIVMM_BINARY, "--kernel", MINIVMM_TEST_GUEST_ELF, "--disk",
                                    "path=" + disk.string()},
                                   std::chrono::seconds(30));
        INFO("stderr: " << r.err);
        CHECK(r.exit_code == 125);
        CHECK_THAT(r.err, Catch::StartsWith("minivmm: error: disk '" + disk.string() + "'") && Catch::Contains(mention));
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    }
}
