// virtio-blk against a hostile driver: a request costs the host at most queue-size
// buffers (the bound in virtio_block.hpp), so a longer chain is a driver error.
#include "support/virtio_blk_driver.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <vector>

using namespace minivmm;
using namespace minivmm::test;

TEST_CASE("virtio-blk: a request of queue-size buffers is served, a longer chain needs a reset",
          "[unit][virtio-blk][bounds]")
{
    constexpr uint16_t kSize = 32;
    constexpr uint32_t kSector = 512;
    TempImage file(1024 * 1024);
    auto h = BlkHarness::make(file.config(), TestBackend::Synchronous, virtio::VirtioBlock::kQueueSize, kSize);
    REQUIRE(h);
    // header + `pieces` one-sector data buffers + status, in an indirect table.
    const auto offer_write = [&](uint32_t pieces) {
        const memory::GuestAddress header = h->driver.alloc(16);
        h->driver.memory.write_obj(header, virtio::BlkReqHeader{virtio::kBlkTOut, 0, 0});
        std::vector<VirtioDriver::Buffer> buffers{{header, 16, false}};
        for (uint32_t i = 0; i < pieces; ++i) {
            const memory::GuestAddress data = h->driver.alloc(kSector, kSector);
            h->driver.memory.write(data, pattern(kSector, i));
            buffers.push_back({data, kSector, false});
        }
        const memory::GuestAddress status = h->driver.alloc(1);
        h->driver.memory.write_obj(status, uint8_t{0xee});
        buffers.push_back({status, 1, true});
        h->driver.offer(buffers, true);
        return status;
    };

    const auto status = offer_write(kSize - 2);
    const auto used = h->run_until(1);
    REQUIRE(used.size() == 1);
    CHECK(h->driver.memory.read_obj<uint8_t>(status) == virtio::kBlkSOk);
    CHECK(file.read((kSize - 3) * uint64_t{kSector}, kSector) == pattern(kSector, kSize - 3));
    CHECK(h->context.errors.empty());

    offer_write(kSize - 1); // 33 buffers in a 32-entry queue (2.7.5.3.1)
    h->kick();
    CHECK(h->driver.take_used().empty());
    REQUIRE(h->context.errors.size() == 1);
}

TEST_CASE("virtio-blk: the worst requests a driver may post stay under kMaxBytesHeld, also after a reset",
          "[unit][virtio-blk][bounds]")
{
    // Every slot busy with the largest request of each kind: 254 data buffers (indirect
    // tables, so all 256 chains fit in the ring at once), 16 discard segments, and unaligned
    // 4 MiB requests that grow every bounce buffer (cache=none).
    constexpr uint16_t kQ = virtio::VirtioBlock::kQueueSize;
    constexpr uint32_t kSector = 512;
    TempImage file(64 * 1024 * 1024, "/var/tmp");
    std::unique_ptr<BlkHarness> h;
    try {
        h = BlkHarness::make(file.config(false, DiskCache::None), TestBackend::Synchronous, kQ, kQ);
    } catch (const ConfigError& e) {
        WARN("no O_DIRECT on /var/tmp, skipping: " << e.what());
        return;
    }
    REQUIRE(h);
    auto& d = h->driver;
    const auto held = [&] {
        INFO("bytes held " << h->device->bytes_held() << ", bound " << virtio::VirtioBlock::kMaxBytesHeld);
        CHECK(h->device->bytes_held() <= virtio::VirtioBlock::kMaxBytesHeld);
    };
    held();

    const auto data = d.alloc(uint64_t{kQ} * kSector, 4096);
    const auto offer_round = [&](const std::function<std::vector<VirtioDriver::Buffer>(uint16_t)>& make, int count) {
        for (int i = 0; i < count; ++i) {
            d.offer(make(static_cast<uint16_t>(i)), true);
        }
        REQUIRE(h->run_until(static_cast<std::size_t>(count)).size() == static_cast<std::size_t>(count));
        held();
    };
    const auto header = [&](uint32_t type, uint64_t sector) {
        const auto at = d.alloc(16);
        d.memory.write_obj(at, virtio::BlkReqHeader{type, 0, sector});
        return at;
    };
    // IN of kQ - 2 one-sector buffers.
    offer_round(
        [&](uint16_t i) {
            std::vector<VirtioDriver::Buffer> buffers{{header(virtio::kBlkTIn, i), 16, false}};
            for (uint32_t b = 0; b + 2 < kQ; ++b) {
                buffers.push_back({data + uint64_t{b} * kSector, kSector, true});
            }
            buffers.push_back({d.alloc(1), 1, true});
            return buffers;
        },
        kQ);
    // DISCARD of 16 segments.
    offer_round(
        [&](uint16_t i) {
            const auto segments = d.alloc(virtio::VirtioBlock::kMaxDiscardSeg * 16);
            for (uint32_t s = 0; s < virtio::VirtioBlock::kMaxDiscardSeg; ++s) {
                d.memory.write_obj(segments + s * 16ULL, virtio::BlkDiscardSegment{(i * 16ULL + s) * 8, 8, 0});
            }
            return std::vector<VirtioDriver::Buffer>{{header(virtio::kBlkTDiscard, 0), 16, false},
                                                     {segments, virtio::VirtioBlock::kMaxDiscardSeg * 16, false},
                                                     {d.alloc(1), 1, true}};
        },
        kQ);
    // Unaligned IN of the largest size a bounce buffer takes, more of them than there are buffers.
    const auto unaligned = d.alloc(virtio::VirtioBlock::kMaxBounceBytes + 1, 4096) + 1;
    offer_round(
        [&](uint16_t) {
            return std::vector<VirtioDriver::Buffer>{
                {header(virtio::kBlkTIn, 0), 16, false},
                {unaligned, static_cast<uint32_t>(virtio::VirtioBlock::kMaxBounceBytes), true},
                {d.alloc(1), 1, true}};
        },
        static_cast<int>(virtio::VirtioBlock::kBounceBuffers) + 4);

    h->device->reset(); // keeps what it grew, for reuse
    held();
}
