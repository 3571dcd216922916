// qcow2 images made by qemu-img and qemu-io, read through the virtio-blk device: every byte
// equals what `qemu-img convert -O raw` makes of the image. Versions 2 and 3, clusters of
// 4 KiB, 64 KiB and 2 MiB, zero clusters, compressed clusters (deflate and zstd), backing
// chains of qcow2 and raw files with relative names, and both I/O backends.
#include "support/qcow2_disk.hpp"

#include <catch2/catch.hpp>

using namespace minivmm;
using namespace minivmm::test;

namespace {

// A raw file of `size` bytes: patterned stretches among zeros, so images made from it have
// allocated, unallocated and (converted) all-zero clusters.
std::filesystem::path make_raw(const TempDir& dir, const std::string& name, uint64_t size, unsigned seed)
{
    std::vector<std::byte> data(size);
    for (uint64_t at = 0; at < size; at += 3 * kMiB) {
        const auto p = pattern(std::min<uint64_t>(kMiB + 4096 * seed, size - at), seed + static_cast<unsigned>(at / kMiB));
        std::copy(p.begin(), p.end(), data.begin() + static_cast<std::ptrdiff_t>(at));
    }
    const auto path = dir / name;
    write_file(path, data);
    return path;
}

void check_reads_like_qemu(const TempDir& dir, const std::filesystem::path& image, TestBackend backend)
{
    const auto expected = qemu_raw(image, dir / "expected.raw");
    DeviceDisk disk(disk_options(image, Access::ReadOnly), backend);
    REQUIRE(disk.size == expected.size());
    const auto got = disk.read(0, expected.size());
    REQUIRE(got.size() == expected.size());
    for (uint64_t at = 0; at < got.size(); at += 4096) {
        const auto n = static_cast<std::ptrdiff_t>(std::min<uint64_t>(4096, got.size() - at));
        if (!std::equal(got.begin() + static_cast<std::ptrdiff_t>(at), got.begin() + static_cast<std::ptrdiff_t>(at) + n,
                        expected.begin() + static_cast<std::ptrdiff_t>(at))) {
            FAIL("first difference in the 4 KiB at byte " << at);
        }
    }
}

// Turns the backing-format header extension into one of an unknown type, which readers skip:
// an image as old QEMU versions made them (qemu-img insists on -F now).
void strip_backing_format(const std::filesystem::path& image)
{
    auto bytes = file_bytes(image);
    const std::array<std::byte, 4> type{std::byte{0xe2}, std::byte{0x79}, std::byte{0x2a}, std::byte{0xca}};
    const auto it = std::search(bytes.begin(), bytes.begin() + 4096, type.begin(), type.end());
    REQUIRE(it != bytes.begin() + 4096);
    *it = std::byte{0x7e};
    write_file(image, bytes);
}

TestBackend backend_under_test()
{
    return GENERATE(TestBackend::Synchronous, TestBackend::IoUring);
}

} // namespace

TEST_CASE("qcow2: images of every version and cluster size read as qemu-img converts them", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    const std::string compat = GENERATE(as<std::string>{}, "0.10", "1.1");
    const std::string cluster = GENERATE(as<std::string>{}, "4096", "65536", "2097152");
    const auto backend = backend_under_test();
    INFO("compat=" << compat << " cluster_size=" << cluster << " " << to_string(backend));
    TempDir dir;
    const auto raw = make_raw(dir, "source.raw", 12 * kMiB, 3);
    const auto image = dir / "image.qcow2";
    qemu_img({"convert", "-O", "qcow2", "-o", "compat=" + compat + ",cluster_size=" + cluster, raw.string(),
              image.string()});
    // Rewrite parts after the conversion: data in place, data in new clusters, and (v3) zero clusters.
    std::vector<std::string> commands{"write -P 0x5a 100k 8k", "write -P 0xc3 10M 1M"};
    if (compat == "1.1") {
        commands.push_back("write -z 0 2M");
        commands.push_back("write -z -u 6M 4M");
    }
    qemu_io(image, "qcow2", commands);
    check_reads_like_qemu(dir, image, backend);
}

TEST_CASE("qcow2: compressed clusters (deflate and zstd) read as qemu-img converts them", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    const std::string type = GENERATE(as<std::string>{}, "zlib", "zstd");
    const std::string cluster = GENERATE(as<std::string>{}, "4096", "65536", "2097152");
    const auto backend = backend_under_test();
    INFO("compression_type=" << type << " cluster_size=" << cluster << " " << to_string(backend));
    TempDir dir;
    const auto raw = make_raw(dir, "source.raw", 12 * kMiB, 5);
    const auto image = dir / "image.qcow2";
    qemu_img({"convert", "-c", "-O", "qcow2", "-o", "compression_type=" + type + ",cluster_size=" + cluster,
              raw.string(), image.string()});
    // Some clusters rewritten uncompressed, so both kinds sit side by side.
    qemu_io(image, "qcow2", {"write -P 0x11 4M 64k"});
    check_reads_like_qemu(dir, image, backend);
}

TEST_CASE("qcow2: backing chains of qcow2 and raw files read through to the bottom", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    const auto backend = backend_under_test();
    TempDir dir;
    std::filesystem::create_directory(dir / "base");
    make_raw(dir, "base/base.raw", 16 * kMiB, 7);
    // mid names its backing file relative to its own directory; top is larger than both.
    const auto mid = dir / "base" / "mid.qcow2";
    qemu_img({"create", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "base.raw", "-F", "raw", mid.string()});
    qemu_io(mid, "qcow2", {"write -P 0x21 1M 64k", "write -z 2M 1M", "write -P 0x22 14M 2M"});
    const auto top = dir / "top.qcow2";
    qemu_img({"create", "-f", "qcow2", "-b", "base/mid.qcow2", "-F", "qcow2", top.string(), "24M"});
    qemu_io(top, "qcow2", {"write -P 0x31 1056k 4k", "write -z 5M 64k", "write -P 0x32 20M 1M"});
    check_reads_like_qemu(dir, top, backend);
}

TEST_CASE("qcow2: a backing file without a backing format is probed", "[unit][qcow2]")
{
    if (!have_qemu_tools()) {
        return;
    }
    TempDir dir;
    make_raw(dir, "base.raw", 4 * kMiB, 9);
    const auto mid = dir / "mid.qcow2";
    qemu_img({"create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", mid.string()});
    qemu_io(mid, "qcow2", {"write -P 0x41 64k 64k"});
    const auto top = dir / "top.qcow2";
    qemu_img({"create", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", top.string()});
    // Without backing format extensions mid is probed (qcow2) and base too (raw).
    strip_backing_format(top);
    strip_backing_format(mid);
    check_reads_like_qemu(dir, top, TestBackend::Synchronous);
}
