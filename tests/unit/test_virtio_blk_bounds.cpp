// virtio-blk against a hostile driver: a request costs the host at most queue-size
// buffers (the bound in virtio_block.hpp), so a longer chain is a driver error.
#include "support/virtio_blk_driver.hpp"

#include <catch2/catch.hpp>

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
