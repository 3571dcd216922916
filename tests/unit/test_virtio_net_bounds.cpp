// virtio-net against a hostile driver and a hostile peer: what the guest can make the host
// hold stays under VirtioNet::kMaxBytesHeld (and a reset gives it back), and a frame larger
// than any the device takes is dropped without stalling the receive loop.
#include "devices/virtio/mmio_registers.hpp"
#include "devices/virtio/net/net_header.hpp"
#include "devices/virtio/net/virtio_net.hpp"
#include "support/socket_pair_backend.hpp"
#include "support/virtio_mmio_driver.hpp"

#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

using namespace minivmm;
using namespace minivmm::virtio;
using minivmm::test::MmioDriver;

namespace {

constexpr uint16_t kNext = 1;
constexpr uint16_t kWrite = 2;
constexpr uint16_t kIndirect = 4;
constexpr uint64_t kTable = 0x40'0000; // indirect tables
constexpr uint64_t kData = 0x60'0000;  // receive buffers
constexpr size_t kHdr = sizeof(NetHeader);
constexpr uint16_t kQ = VirtioNet::kQueueSize;
const backends::MacAddress kMac(backends::MacAddress::Bytes{0x52, 0x54, 0x00, 0x12, 0x34, 0x56});

using Bytes = std::vector<uint8_t>;

Bytes frame(size_t payload_len, uint8_t seed)
{
    Bytes bytes(kHdr + payload_len, 0); // an all-zero header: nothing to offload
    for (size_t i = 0; i < payload_len; ++i) {
        bytes[kHdr + i] = static_cast<uint8_t>(seed + i * 13);
    }
    return bytes;
}

struct Fixture {
    test::SocketPair pair = test::make_socket_pair();
    int backend_fd = pair.device.get();
    VirtioNet* net = nullptr;
    MmioDriver driver{[this](memory::GuestMemory& memory) {
                          auto device = std::make_unique<VirtioNet>(
                              memory, std::make_unique<test::SocketPairBackend>(std::move(pair.device)), kMac);
                          net = device.get();
                          return device;
                      },
                      32ULL << 20};

    void host_send(const Bytes& bytes)
    {
        REQUIRE(::send(pair.host.get(), bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
    }
    bool backend_readable()
    {
        pollfd p{backend_fd, POLLIN, 0};
        return ::poll(&p, 1, 0) == 1;
    }
    void table_entry(uint64_t table, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
    {
        driver.memory.write_obj(memory::GuestAddress{table + i * 16ULL},
                                MmioDriver::virtio_desc{addr, len, flags, next});
    }
    Bytes get(uint64_t addr, size_t len)
    {
        Bytes bytes(len);
        driver.memory.read(memory::GuestAddress{addr}, std::as_writable_bytes(std::span(bytes)));
        return bytes;
    }
    void set_avail_idx(uint16_t idx)
    {
        driver.memory.write_obj(memory::GuestAddress{MmioDriver::ring_addr(0) + 0x1000 + 2}, idx);
    }
};

} // namespace

TEST_CASE("virtio-net: the 5.4 GiB shape (every slot one huge table of empty buffers) is refused",
          "[unit][virtio-net][bounds]")
{
    // The reported attack, scaled down: every avail slot names descriptor 0, an indirect
    // table of 4095 zero-length writable entries and one 12-byte entry, offered twice over.
    // Each chain used to cost a 64 KiB host buffer list and the device held one per slot
    // offered (512 here, 5464 with a 1 MiB table) hoping for room for a 64 KiB frame.
    constexpr uint32_t kEntries = 4096;
    Fixture f;
    f.driver.bring_up(2, kQ, kNetFMrgRxbuf | kFIndirectDesc);
    for (uint32_t i = 0; i + 1 < kEntries; ++i) {
        f.table_entry(kTable, i, kData, 0, kWrite | kNext, static_cast<uint16_t>(i + 1));
    }
    f.table_entry(kTable, kEntries - 1, kData, kHdr, kWrite, 0);
    f.driver.desc(0, 0, kTable, kEntries * 16, kIndirect);
    for (int round = 0; round < 2; ++round) {
        for (uint16_t slot = 0; slot < kQ; ++slot) {
            f.driver.offer(0, 0);
        }
        f.driver.kick(0);
        CHECK(f.net->bytes_held() <= VirtioNet::kMaxBytesHeld);
    }
    // An indirect table longer than the queue is a driver error (2.7.5.3.1).
    CHECK(f.driver.transport.needs_reset());
}

TEST_CASE("virtio-net: the worst chains a driver may post stay under kMaxBytesHeld, and a reset frees them",
          "[unit][virtio-net][bounds]")
{
    // The most storage a receive chain may cost: queue-size buffers, none empty (here 244
    // one-byte readable ones, which receive ignores, and 12 one-byte writable ones). With 12
    // bytes of room per chain the device never has room for a maximal frame, so it holds
    // every chain it gets; the driver offers every slot twice, re-using heads in flight.
    constexpr uint32_t kWritable = kHdr;
    Fixture f;
    f.driver.bring_up(2, kQ, kNetFMrgRxbuf | kFIndirectDesc);
    const uint64_t at_start = f.net->bytes_held();
    CHECK(at_start <= VirtioNet::kMaxBytesHeld);
    for (uint32_t i = 0; i < kQ; ++i) {
        const bool last = i + 1 == kQ;
        const auto write = static_cast<uint16_t>(i >= kQ - kWritable ? kWrite : 0);
        f.table_entry(kTable, i, kData + i, 1, static_cast<uint16_t>(write | (last ? 0 : kNext)),
                      static_cast<uint16_t>(i + 1));
    }
    f.driver.desc(0, 0, kTable, kQ * 16, kIndirect);
    for (int round = 0; round < 2; ++round) {
        for (uint16_t slot = 0; slot < kQ; ++slot) {
            f.driver.offer(0, 0);
        }
        f.driver.kick(0);
        CHECK(f.net->bytes_held() <= VirtioNet::kMaxBytesHeld);
    }
    CHECK_FALSE(f.driver.transport.needs_reset());

    // Still a working NIC: 1012 bytes with the header spread over 85 of the held chains.
    f.host_send(frame(1000, 3));
    f.driver.poller.run_ready();
    REQUIRE(f.driver.used_idx(0) == 85);
    CHECK(f.driver.used_len(0, 0) == kWritable);
    CHECK(f.driver.used_len(0, 84) == 1012 - 84 * kWritable);
    CHECK(f.net->stats().rx_frames == 1);
    CHECK(f.net->bytes_held() <= VirtioNet::kMaxBytesHeld);

    // More than the queue-size chains the device may hold can take: dropped, not waited for.
    f.host_send(frame(4000, 4));
    f.driver.poller.run_ready();
    CHECK(f.driver.used_idx(0) == 85);
    CHECK(f.net->stats().rx_dropped == 1);
    CHECK_FALSE(f.backend_readable());
    CHECK(f.net->bytes_held() <= VirtioNet::kMaxBytesHeld);

    // A reset gives back what the guest made the device allocate.
    f.driver.set(mmio::kStatus, 0);
    CHECK(f.net->bytes_held() == at_start);
}

TEST_CASE("virtio-net: a frame larger than any the device takes is dropped, the loop returns",
          "[unit][virtio-net][bounds]")
{
    // 4 KiB receive buffers, more posted than the device holds at once, so a device that
    // waits for room a frame can never get would spin with buffers still in the ring.
    constexpr uint32_t kBuffer = 4096;
    constexpr uint16_t kPosted = 40;
    constexpr uint16_t kHeld = (VirtioNet::kMaxFrameRoom + kBuffer - 1) / kBuffer; // 17
    Fixture f;
    f.driver.bring_up(2, 64, kNetFMrgRxbuf);
    for (uint16_t i = 0; i < kPosted; ++i) {
        f.driver.desc(0, i, kData + i * uint64_t{kBuffer}, kBuffer, kWrite);
        f.driver.offer(0, i);
    }
    f.driver.kick(0);
    REQUIRE(f.driver.used_idx(0) == 0);

    f.host_send(frame(70000 - kHdr, 1)); // 70000 bytes with the header: over 65562
    const Bytes normal = frame(1500, 2);
    f.host_send(normal);

    std::atomic<bool> returned{false};
    std::thread io([&] {
        f.driver.poller.run_ready();
        returned = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!returned && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const bool spun = !returned;
    if (spun) {
        // Withdraw the buffers the device has not taken: a spinning device re-checks the
        // ring, finds nothing and stops, so the thread can be joined.
        f.set_avail_idx(kHeld);
    }
    io.join();
    REQUIRE_FALSE(spun);

    CHECK(f.net->stats().rx_dropped == 1);
    CHECK(f.net->stats().rx_frames == 1);
    REQUIRE(f.driver.used_idx(0) == 1);
    CHECK(f.driver.used_len(0, 0) == normal.size());
    CHECK(f.get(kData + kHdr, normal.size() - kHdr) == Bytes(normal.begin() + kHdr, normal.end()));
    CHECK_FALSE(f.backend_readable());
    CHECK(f.net->bytes_held() <= VirtioNet::kMaxBytesHeld);
}
