// The virtio-blk device end to end on the mock driver: data checked byte for byte in the
// image file, on both disk backends (io_uring is skipped with a WARN where unavailable).
#include "support/virtio_blk_driver.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstring>

using namespace minivmm;
using namespace minivmm::virtio;
using namespace minivmm::test;

namespace {

constexpr uint64_t kImageSize = 1024 * 1024;

// An OUT request with `data` in the given layout.
BlkChain offer_write(VirtioDriver& d, uint64_t sector, std::span<const std::byte> data, Layout layout = Layout::Separate)
{
    // The data is written before the chain is published, as a driver would.
    const auto c = offer_blk(d, kBlkTOut, sector, static_cast<uint32_t>(data.size()), false, layout);
    d.memory.write(c.data, data);
    return c;
}

BlkChain offer_segments(VirtioDriver& d, uint32_t type, std::vector<BlkDiscardSegment> segments)
{
    BlkChain c;
    const memory::GuestAddress h = d.alloc(16);
    d.memory.write_obj(h, BlkReqHeader{type, 0, 0});
    c.data = d.alloc(segments.size() * 16);
    d.memory.write(c.data, std::as_bytes(std::span(segments)));
    c.status = d.alloc(1);
    d.memory.write_obj(c.status, uint8_t{0xee});
    c.head = d.offer({{h, 16, false}, {c.data, static_cast<uint32_t>(segments.size() * 16), false}, {c.status, 1, true}});
    return c;
}

uint32_t used_len_of(const std::vector<VirtioDriver::Used>& used, uint16_t head)
{
    auto it = std::find_if(used.begin(), used.end(), [head](const auto& u) { return u.id == head; });
    REQUIRE(it != used.end());
    return it->len;
}

} // namespace

TEST_CASE("virtio-blk offers its features and configuration", "[unit][virtio-blk]")
{
    TempImage file(kImageSize + 100);
    auto h = BlkHarness::make(file.config(), TestBackend::Synchronous);
    const uint64_t features = h->device->device_features();
    CHECK(features == (kBlkFSegMax | kBlkFBlkSize | kBlkFFlush | kBlkFDiscard | kBlkFWriteZeroes));
    CHECK(h->device->device_id() == kDeviceIdBlock);
    CHECK(h->device->queue_max_sizes() == std::vector<uint16_t>{256});
    CHECK(h->device->name() == "virtio-blk " + file.path.string());

    std::array<uint8_t, sizeof(BlkConfig)> raw{};
    h->device->read_config(0, raw);
    BlkConfig config{};
    std::memcpy(&config, raw.data(), raw.size());
    CHECK(config.capacity == kImageSize / 512);
    CHECK(config.seg_max == 254);
    CHECK(config.blk_size == 512);
    CHECK(config.max_discard_sectors == VirtioBlock::kMaxDiscardSectors);
    CHECK(config.max_discard_seg == VirtioBlock::kMaxDiscardSeg);
    CHECK(config.discard_sector_alignment == 8);
    CHECK(config.max_write_zeroes_sectors == VirtioBlock::kMaxWriteZeroesSectors);
    CHECK(config.max_write_zeroes_seg == VirtioBlock::kMaxWriteZeroesSeg);
    CHECK(config.write_zeroes_may_unmap == 1);

    std::array<uint8_t, 4> part{};
    h->device->read_config(20, part);
    CHECK(part == std::array<uint8_t, 4>{0, 2, 0, 0}); // blk_size 512, little-endian
    std::array<uint8_t, 8> beyond{};
    h->device->read_config(200, beyond);
    CHECK(beyond == std::array<uint8_t, 8>{});
    h->device->write_config(0, std::array<uint8_t, 8>{1, 2, 3, 4, 5, 6, 7, 8});
    h->device->read_config(0, beyond);
    CHECK(beyond[1] == 8); // capacity 2048 unchanged

    TempImage ro_file(4096);
    auto ro = BlkHarness::make(ro_file.config(true), TestBackend::Synchronous);
    CHECK((ro->device->device_features() & kBlkFRo) != 0);
}

TEST_CASE("virtio-blk moves data between guest and image", "[unit][virtio-blk]")
{
    const auto backend = GENERATE(TestBackend::Synchronous, TestBackend::IoUring);
    const auto layout = GENERATE(Layout::Separate, Layout::Merged, Layout::Split, Layout::Indirect);
    INFO(to_string(backend) << " backend, " << to_string(layout) << " layout");
    TempImage file(kImageSize);
    auto h = BlkHarness::make(file.config(), backend);
    if (!h) {
        return;
    }
    auto& d = h->driver;

    SECTION("a pattern written by the guest lands in the image")
    {
        const auto data = pattern(4096 + 512, 1);
        const auto c = offer_write(d, 8, data, layout);
        const auto used = h->run_until(1);
        REQUIRE(used.size() == 1);
        CHECK(used[0].id == c.head);
        CHECK(used[0].len == 1); // only the status byte was written
        CHECK(h->status(c) == kBlkSOk);
        CHECK(file.read(8 * 512, data.size()) == data);
        CHECK(file.read(0, 8 * 512) == std::vector<std::byte>(8 * 512)); // nothing before it
        CHECK(file.read(8 * 512 + data.size(), 512) == std::vector<std::byte>(512));
        CHECK_FALSE(h->context.notified.empty());
        CHECK(h->context.errors.empty());
    }
    SECTION("a pattern written by the host reads back")
    {
        const auto data = pattern(8192, 2);
        file.write(100 * 512, data);
        const auto c = offer_blk(d, kBlkTIn, 100, 8192, true, layout);
        const auto used = h->run_until(1);
        REQUIRE(used.size() == 1);
        CHECK(used[0].len == 8192 + 1);
        CHECK(h->status(c) == kBlkSOk);
        CHECK(h->data(c) == data);
    }
    SECTION("flush after writes: the data is in the file")
    {
        const auto a = offer_write(d, 0, pattern(512, 3), layout);
        const auto b = offer_write(d, 2047, pattern(512, 4), layout);
        const auto f = offer_blk(d, kBlkTFlush, 0, 0, false, layout);
        const auto used = h->run_until(3);
        REQUIRE(used.size() == 3);
        CHECK(h->status(a) == kBlkSOk);
        CHECK(h->status(b) == kBlkSOk);
        CHECK(h->status(f) == kBlkSOk);
        CHECK(used_len_of(used, f.head) == 1);
        CHECK(file.read(0, 512) == pattern(512, 3));
        CHECK(file.read(2047 * 512, 512) == pattern(512, 4));
    }
    SECTION("GET_ID returns the serial, zero-padded")
    {
        const auto c = offer_blk(d, kBlkTGetId, 0, 20, true, layout);
        d.memory.fill(c.data, 20, std::byte{0x55});
        const auto used = h->run_until(1);
        REQUIRE(used.size() == 1);
        CHECK(used[0].len == 21);
        CHECK(h->status(c) == kBlkSOk);
        std::vector<std::byte> expect(20);
        const std::string serial = "minivmm-test-serial";
        std::transform(serial.begin(), serial.end(), expect.begin(), [](char ch) { return static_cast<std::byte>(ch); });
        CHECK(h->data(c) == expect);
    }
    SECTION("errors: beyond the end, unsupported type, not a multiple of 512")
    {
        const auto beyond = offer_write(d, 2047, pattern(1024, 5), layout);
        const auto unknown = offer_blk(d, 42, 0, 512, true, layout);
        const auto odd = offer_blk(d, kBlkTIn, 0, 1000, true, layout);
        const auto used = h->run_until(3);
        REQUIRE(used.size() == 3);
        CHECK(h->status(beyond) == kBlkSIoErr);
        CHECK(h->status(unknown) == kBlkSUnsupp);
        CHECK(h->status(odd) == kBlkSIoErr);
        CHECK(used_len_of(used, beyond.head) == 1);
        CHECK(used_len_of(used, odd.head) == 1);
        CHECK(file.read(2047 * 512, 512) == std::vector<std::byte>(512)); // nothing written
        CHECK(h->context.errors.empty());
    }
}

TEST_CASE("virtio-blk read-only disk", "[unit][virtio-blk]")
{
    const auto backend = GENERATE(TestBackend::Synchronous, TestBackend::IoUring);
    INFO(to_string(backend));
    TempImage file(kImageSize);
    file.write(0, pattern(1024, 6));
    auto h = BlkHarness::make(file.config(true), backend);
    if (!h) {
        return;
    }
    auto& d = h->driver;
    const auto write = offer_write(d, 0, pattern(512, 7));
    const auto discard = offer_segments(d, kBlkTDiscard, {{0, 2, 0}});
    const auto zero = offer_segments(d, kBlkTWriteZeroes, {{0, 2, 0}});
    const auto read = offer_blk(d, kBlkTIn, 0, 1024, true);
    const auto flush = offer_blk(d, kBlkTFlush, 0, 0, false);
    REQUIRE(h->run_until(5).size() == 5);
    CHECK(h->status(write) == kBlkSIoErr);
    CHECK(h->status(discard) == kBlkSIoErr);
    CHECK(h->status(zero) == kBlkSIoErr);
    CHECK(h->status(read) == kBlkSOk);
    CHECK(h->status(flush) == kBlkSOk);
    CHECK(h->data(read) == pattern(1024, 6));
    CHECK(file.read(0, 1024) == pattern(1024, 6));
}

TEST_CASE("virtio-blk discard and write-zeroes", "[unit][virtio-blk]")
{
    const auto backend = GENERATE(TestBackend::Synchronous, TestBackend::IoUring);
    // /dev/shm is tmpfs: no FALLOC_FL_ZERO_RANGE there, so zeros are written instead.
    const std::string dir = GENERATE(std::string("/var/tmp"), std::string("/dev/shm"));
    INFO(to_string(backend) << " backend, image in " << dir);
    if (!std::filesystem::is_directory(dir)) {
        WARN(dir << " missing, skipping");
        return;
    }
    TempImage file(kImageSize, dir);
    const auto data = pattern(kImageSize, 8);
    file.write(0, data);
    auto h = BlkHarness::make(file.config(), backend);
    if (!h) {
        return;
    }
    auto& d = h->driver;
    // Two zeroed ranges, one with unmap, around an untouched one; a discard elsewhere.
    const auto zero = offer_segments(d, kBlkTWriteZeroes, {{16, 16, 0}, {64, 24, kBlkDiscardFUnmap}});
    const auto discard = offer_segments(d, kBlkTDiscard, {{512, 64, 0}});
    const auto unmap_discard = offer_segments(d, kBlkTDiscard, {{512, 64, kBlkDiscardFUnmap}});
    REQUIRE(h->run_until(3).size() == 3);
    CHECK(h->status(zero) == kBlkSOk);
    CHECK(h->status(discard) == kBlkSOk);
    CHECK(h->status(unmap_discard) == kBlkSUnsupp);

    const auto image = file.read(0, kImageSize);
    auto range = [&](uint64_t sector, uint64_t count) {
        return std::vector<std::byte>(image.begin() + static_cast<long>(sector * 512),
                                      image.begin() + static_cast<long>((sector + count) * 512));
    };
    auto expect = [&](uint64_t sector, uint64_t count) {
        return std::vector<std::byte>(data.begin() + static_cast<long>(sector * 512),
                                      data.begin() + static_cast<long>((sector + count) * 512));
    };
    CHECK(range(0, 16) == expect(0, 16));
    CHECK(range(16, 16) == std::vector<std::byte>(16 * 512));
    CHECK(range(32, 32) == expect(32, 32));
    CHECK(range(64, 24) == std::vector<std::byte>(24 * 512));
    CHECK(range(88, 424) == expect(88, 424));
    CHECK(range(576, 1472) == expect(576, 1472));
}
