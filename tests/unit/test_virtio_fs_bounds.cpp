// virtio-fs against a driver that fills both queues with requests that stay in flight (SETLKWs
// parked behind a held lock, each cut into as many buffers as its chain may have): the host
// memory the device holds stays under VirtioFs::kMaxBytesHeld, and a reset gives it back.
#include "fuse_fixture.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>

#include <vector>

using namespace minivmm;
using namespace minivmm::test;

TEST_CASE("virtio-fs: requests parked on both queues with the longest chains stay under kMaxBytesHeld, "
          "and a reset frees them",
          "[unit][virtio-fs][bounds]")
{
    FsFixture f;
    f.dir.write("db", "x");
    const auto node = f.node(kRoot, "db");
    const auto holder = f.open(node, O_RDWR);
    const auto other = f.open(node, O_RDWR);
    const uint64_t at_start = f.client.device->bytes_held();
    CHECK(at_start <= virtio::VirtioFs::kMaxBytesHeld);
    const fuse_file_lock whole{0, INT64_MAX, F_WRLCK, 1};
    REQUIRE(f.client.wait(f.client.submit_setlk(node, holder, 1, whole, false)).error == 0);
    // Every request: one byte a buffer (header and arguments: 88 buffers; the reply's room:
    // 24), in an indirect table so that each takes one ring entry.
    const FuseShape shape{1, 1, true};
    std::vector<uint64_t> parked;
    for (unsigned q : {virtio::VirtioFs::kRequestQueue, virtio::VirtioFs::kHiprioQueue}) {
        for (uint16_t i = 0; i < FuseClient::kQueueSize - 1; ++i) {
            parked.push_back(f.client.submit(FUSE_SETLKW, node,
                                             FuseArgs().add(fuse_lk_in{other, 2, whole, 0, 0}).bytes(), 8, q, shape));
        }
    }
    REQUIRE(eventually([&] { return f.client.device->server().parked_locks() == parked.size(); }));
    const uint64_t busy = f.client.device->bytes_held();
    INFO("held " << busy << " bytes with " << parked.size() << " requests parked");
    CHECK(busy > at_start + parked.size() * 100 * sizeof(iovec)); // the iovecs are counted
    CHECK(busy <= virtio::VirtioFs::kMaxBytesHeld);
    CHECK(f.client.device->requests_in_flight() == parked.size());
    // A reset drops them unanswered; the slots' long iovec lists and the parked copies go.
    f.client.restart();
    CHECK(f.client.device->server().parked_locks() == 0);
    CHECK(f.client.device->requests_in_flight() == 0);
    CHECK(f.client.device->bytes_held() <= at_start + 4096);
    // And the device serves again.
    f.client.init();
    CHECK(f.client.getattr(kRoot).error == 0);
}
