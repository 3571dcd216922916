// virtio-net (virtio 1.2 section 5.1) behind the virtio-mmio transport, on a socket-pair
// back end that keeps frame boundaries and truncates like a TAP: header handling, mergeable
// receive buffers, offload negotiation, back-pressure both ways, reset, a lost back end.
#include "devices/virtio/net/net_header.hpp"
#include "backends/net/tap.hpp"
#include "devices/virtio/net/virtio_net.hpp"
#include "support/socket_pair_backend.hpp"
#include "devices/virtio/mmio_registers.hpp"
#include "support/virtio_mmio_driver.hpp"
#include "util/log_rate_limit.hpp"
#include "util/unique_fd.hpp"

#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <numeric>
#include <vector>

using namespace minivmm;
using namespace minivmm::virtio;
using namespace minivmm::virtio::mmio;
using minivmm::test::MmioDriver;

namespace {

constexpr uint16_t kNext = 1;
constexpr uint16_t kWrite = 2;
constexpr uint64_t kData = 0x20'0000;
constexpr size_t kHdr = sizeof(virtio::NetHeader);
const backends::MacAddress kMac(backends::MacAddress::Bytes{0x52, 0x54, 0x00, 0x12, 0x34, 0x56});

using Bytes = std::vector<uint8_t>;

using test::make_socket_pair;
using test::SocketPair;
using test::SocketPairBackend;

Bytes payload(size_t len, uint8_t seed)
{
    Bytes bytes(len);
    for (size_t i = 0; i < len; ++i) {
        bytes[i] = static_cast<uint8_t>(seed + i * 7);
    }
    return bytes;
}

Bytes header_bytes(const virtio::NetHeader& header)
{
    Bytes bytes(kHdr);
    std::memcpy(bytes.data(), &header, kHdr);
    return bytes;
}

Bytes concat(Bytes a, const Bytes& b)
{
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

virtio::NetHeader gso_header(uint8_t gso_type)
{
    virtio::NetHeader header{};
    header.flags = kNetHdrFNeedsCsum;
    header.gso_type = gso_type;
    header.hdr_len = 54;
    header.gso_size = 1448;
    header.csum_start = 34;
    header.csum_offset = 16;
    return header;
}

struct Fixture {
    SocketPair pair = make_socket_pair();
    int backend_fd = pair.device.get();
    std::shared_ptr<std::vector<backends::Offloads>> offloads = std::make_shared<std::vector<backends::Offloads>>();
    virtio::VirtioNet* net = nullptr;
    MmioDriver driver{[this](memory::GuestMemory& memory) {
        auto device = std::make_unique<virtio::VirtioNet>(
            memory, std::make_unique<SocketPairBackend>(std::move(pair.device), offloads), kMac);
        net = device.get();
        return device;
    }};

    // --- the host side ---
    void host_send(const Bytes& frame)
    {
        REQUIRE(::send(pair.host.get(), frame.data(), frame.size(), 0) == static_cast<ssize_t>(frame.size()));
    }
    std::optional<Bytes> host_recv()
    {
        Bytes frame(128 * 1024);
        const ssize_t n = ::recv(pair.host.get(), frame.data(), frame.size(), MSG_DONTWAIT);
        if (n < 0) {
            return std::nullopt;
        }
        frame.resize(static_cast<size_t>(n));
        return frame;
    }
    bool backend_readable()
    {
        pollfd p{backend_fd, POLLIN, 0};
        return ::poll(&p, 1, 0) == 1;
    }

    // --- the guest side ---
    void put(uint64_t addr, const Bytes& bytes)
    {
        driver.memory.write(memory::GuestAddress{addr}, std::as_bytes(std::span(bytes)));
    }
    Bytes get(uint64_t addr, size_t len)
    {
        Bytes bytes(len);
        driver.memory.read(memory::GuestAddress{addr}, std::as_writable_bytes(std::span(bytes)));
        return bytes;
    }
    virtio::NetHeader header_at(uint64_t addr)
    {
        return driver.memory.read_obj<virtio::NetHeader>(memory::GuestAddress{addr});
    }
    // One writable descriptor as a receive chain, offered to the device.
    void post_rx(uint16_t index, uint64_t addr, uint32_t len)
    {
        driver.desc(0, index, addr, len, kWrite);
        driver.offer(0, index);
    }
    // A transmit chain of one readable descriptor per part, from descriptor `first` on.
    void post_tx(uint16_t first, const std::vector<Bytes>& parts, uint64_t addr = kData + 0x10'0000)
    {
        for (size_t i = 0; i < parts.size(); ++i) {
            const auto index = static_cast<uint16_t>(first + i);
            put(addr, parts[i]);
            const bool last = i + 1 == parts.size();
            driver.desc(1, index, addr, static_cast<uint32_t>(parts[i].size()), last ? 0 : kNext,
                        static_cast<uint16_t>(index + 1));
            addr += 0x1'0000;
        }
        driver.offer(1, first);
    }
    uint32_t used_id(uint32_t queue, uint16_t slot)
    {
        return driver.memory.read_obj<uint32_t>(
            memory::GuestAddress{MmioDriver::ring_addr(queue) + 0x2000 + 4 + (slot % driver.sizes[queue]) * 8ULL});
    }
    uint16_t used_flags(uint32_t queue)
    {
        return driver.memory.read_obj<uint16_t>(memory::GuestAddress{MmioDriver::ring_addr(queue) + 0x2000});
    }
    uint16_t avail_event(uint32_t queue)
    {
        return driver.memory.read_obj<uint16_t>(
            memory::GuestAddress{MmioDriver::ring_addr(queue) + 0x2000 + 4 + driver.sizes[queue] * 8ULL});
    }
    uint32_t watched() { return driver.poller.events(backend_fd).value_or(0xdead); }
};

} // namespace

TEST_CASE("virtio-net: device type, offered features, MAC and link status", "[unit][virtio-net]")
{
    Fixture f;
    CHECK(f.driver.reg(kDeviceId) == kDeviceIdNet);
    const uint64_t features = f.driver.device_features();
    for (const uint64_t bit : {kNetFMac, kNetFStatus, kNetFMrgRxbuf, kNetFCsum, kNetFGuestCsum, kNetFHostTso4,
                               kNetFHostTso6, kNetFGuestTso4, kNetFGuestTso6, kFVersion1, kFEventIdx}) {
        CAPTURE(bit);
        CHECK((features & bit) != 0);
    }
    // No UFO, no ECN, no control queue.
    for (const uint64_t bit : {kNetFGuestUfo, kNetFHostUfo, kNetFGuestEcn, kNetFHostEcn, uint64_t{1} << 17}) {
        CAPTURE(bit);
        CHECK((features & bit) == 0);
    }
    std::array<uint8_t, 12> config{};
    f.driver.transport.read(kConfig, config);
    CHECK(config == std::array<uint8_t, 12>{0x52, 0x54, 0x00, 0x12, 0x34, 0x56, kNetSLinkUp, 0, 1, 0, 0, 0});
    // 5.1.4: read-only for a 1.x driver.
    f.driver.transport.write(kConfig, std::array<uint8_t, 6>{2, 2, 2, 2, 2, 2});
    CHECK(f.net->mac() == kMac);
    CHECK(f.net->name() == "virtio-net pair0");
}

TEST_CASE("virtio-net: a transmitted chain reaches the back end as one frame", "[unit][virtio-net]")
{
    Fixture f;
    f.driver.bring_up(2, 16);
    const Bytes frame = payload(100, 1);
    // Header alone, then the frame in two pieces (how Linux lays out a TX chain).
    f.post_tx(0, {header_bytes({}), Bytes(frame.begin(), frame.begin() + 40), Bytes(frame.begin() + 40, frame.end())});
    f.driver.kick(1);
    CHECK(f.host_recv() == concat(header_bytes({}), frame));
    CHECK(f.driver.used_idx(1) == 1);
    CHECK(f.driver.used_len(1, 0) == 0);
    CHECK(f.net->stats().tx_frames == 1);
    CHECK(f.net->stats().tx_bytes == 100);
    CHECK(f.driver.irq->count >= 1);

    // Header and frame in one buffer; DATA_VALID is the device's to set and never leaves.
    virtio::NetHeader header{};
    header.flags = kNetHdrFDataValid;
    f.post_tx(5, {concat(header_bytes(header), frame)});
    f.driver.kick(1);
    CHECK(f.host_recv() == concat(header_bytes({}), frame));
    CHECK(f.driver.used_idx(1) == 2);
    CHECK_FALSE(f.host_recv().has_value());
}

TEST_CASE("virtio-net: TX headers are checked against the negotiated features", "[unit][virtio-net]")
{
    SECTION("a GSO frame without HOST_TSO4 is dropped, and its chain still completes")
    {
        Fixture f;
        f.driver.bring_up(2, 16, kNetFCsum);
        f.post_tx(0, {header_bytes(gso_header(kNetHdrGsoTcpV4)), payload(3000, 2)});
        f.driver.kick(1);
        CHECK_FALSE(f.host_recv().has_value());
        CHECK(f.driver.used_idx(1) == 1);
        CHECK(f.net->stats().tx_dropped == 1);
    }
    SECTION("with CSUM and HOST_TSO4/6 the GSO header passes through unchanged")
    {
        Fixture f;
        f.driver.bring_up(2, 16, kNetFCsum | kNetFHostTso4 | kNetFHostTso6);
        const Bytes frame = payload(3000, 3);
        for (const uint8_t type : {kNetHdrGsoTcpV4, kNetHdrGsoTcpV6}) {
            f.post_tx(type == kNetHdrGsoTcpV4 ? 0 : 4, {header_bytes(gso_header(type)), frame});
            f.driver.kick(1);
            CHECK(f.host_recv() == concat(header_bytes(gso_header(type)), frame));
        }
        CHECK(f.net->stats().tx_frames == 2);
    }
    SECTION("NEEDS_CSUM without CSUM, UFO, ECN, and GSO without NEEDS_CSUM are refused")
    {
        Fixture f;
        f.driver.bring_up(2, 16, kNetFHostTso4);
        virtio::NetHeader csum{};
        csum.flags = kNetHdrFNeedsCsum;
        virtio::NetHeader no_csum = gso_header(kNetHdrGsoTcpV4);
        no_csum.flags = 0;
        const std::vector<virtio::NetHeader> bad{csum, gso_header(kNetHdrGsoUdp),
                                                 gso_header(kNetHdrGsoTcpV4 | kNetHdrGsoEcn), no_csum};
        for (size_t i = 0; i < bad.size(); ++i) {
            f.post_tx(static_cast<uint16_t>(i * 2), {header_bytes(bad[i]), payload(64, 4)},
                      kData + 0x10'0000 + i * 0x2'0000);
        }
        f.driver.kick(1);
        CHECK_FALSE(f.host_recv().has_value());
        CHECK(f.driver.used_idx(1) == 4);
        CHECK(f.net->stats().tx_dropped == 4);
    }
    SECTION("a chain shorter than the header is dropped")
    {
        Fixture f;
        f.driver.bring_up(2, 16);
        f.post_tx(0, {Bytes(8, 0)});
        f.driver.kick(1);
        CHECK_FALSE(f.host_recv().has_value());
        CHECK(f.driver.used_idx(1) == 1);
        CHECK(f.net->stats().tx_dropped == 1);
    }
}

TEST_CASE("virtio-net: header rules of 5.1.6.2 and 5.1.6.3", "[unit][virtio-net]")
{
    virtio::NetHeader valid{};
    valid.flags = kNetHdrFDataValid | 0x40;
    valid.num_buffers = 9;
    const auto tx = sanitize_tx_header(valid, 0);
    REQUIRE(tx);
    CHECK(tx->flags == 0);
    CHECK(tx->num_buffers == 0);

    // Receive side: without GUEST_CSUM flags become zero, NEEDS_CSUM cannot be delivered.
    CHECK(sanitize_rx_header(valid, 0)->flags == 0);
    CHECK(sanitize_rx_header(valid, kNetFGuestCsum)->flags == kNetHdrFDataValid);
    virtio::NetHeader partial{};
    partial.flags = kNetHdrFNeedsCsum;
    CHECK_FALSE(sanitize_rx_header(partial, 0));
    CHECK(sanitize_rx_header(partial, kNetFGuestCsum));
    // GSO needs the matching GUEST_TSO bit; UFO and ECN are never negotiated.
    CHECK_FALSE(sanitize_rx_header(gso_header(kNetHdrGsoTcpV4), kNetFGuestCsum));
    CHECK(sanitize_rx_header(gso_header(kNetHdrGsoTcpV4), kNetFGuestCsum | kNetFGuestTso4));
    CHECK_FALSE(sanitize_rx_header(gso_header(kNetHdrGsoTcpV6), kNetFGuestCsum | kNetFGuestTso4));
    CHECK(sanitize_rx_header(gso_header(kNetHdrGsoTcpV6), kNetFGuestCsum | kNetFGuestTso6));
    CHECK_FALSE(sanitize_rx_header(gso_header(kNetHdrGsoUdp), kNetFGuestCsum | kNetFGuestTso4 | kNetFGuestUfo));
    CHECK_FALSE(sanitize_rx_header(gso_header(kNetHdrGsoTcpV4 | kNetHdrGsoEcn),
                                   kNetFGuestCsum | kNetFGuestTso4 | kNetFGuestEcn));
}

TEST_CASE("virtio-net: without MRG_RXBUF a frame fills one chain and num_buffers is 1", "[unit][virtio-net]")
{
    Fixture f;
    f.driver.bring_up(2, 16);
    f.put(kData + 10, Bytes{0xff, 0xff}); // stale num_buffers: the device must overwrite it
    f.post_rx(0, kData, 1526);
    // Linux's "big packets" layout: the header in its own descriptor.
    f.driver.desc(0, 1, kData + 0x1000, kHdr, kWrite | kNext, 2);
    f.driver.desc(0, 2, kData + 0x2000, 1514, kWrite);
    f.driver.offer(0, 1);

    const Bytes first = payload(100, 5);
    const Bytes second = payload(1514, 6);
    f.host_send(concat(header_bytes({}), first));
    f.host_send(concat(header_bytes({}), second));
    f.driver.kick(0);
    REQUIRE(f.driver.used_idx(0) == 2);
    CHECK(f.used_id(0, 0) == 0);
    CHECK(f.driver.used_len(0, 0) == kHdr + 100);
    CHECK(f.header_at(kData).num_buffers == 1);
    CHECK(f.get(kData + kHdr, 100) == first);
    CHECK(f.used_id(0, 1) == 1);
    CHECK(f.driver.used_len(0, 1) == kHdr + 1514);
    CHECK(f.header_at(kData + 0x1000).num_buffers == 1);
    CHECK(f.get(kData + 0x2000, 1514) == second);
    CHECK(f.net->stats().rx_frames == 2);
    CHECK(f.net->stats().rx_bytes == 1614);
}

TEST_CASE("virtio-net: MRG_RXBUF spreads a frame over several chains", "[unit][virtio-net]")
{
    Fixture f;
    f.driver.bring_up(2, 16, kNetFMrgRxbuf);
    for (uint16_t i = 0; i < 4; ++i) {
        f.post_rx(i, kData + i * 0x1000ULL, 64);
    }
    const Bytes big = payload(180, 7); // 192 bytes with the header: three 64-byte buffers
    f.host_send(concat(header_bytes({}), big));
    f.driver.kick(0);
    REQUIRE(f.driver.used_idx(0) == 3);
    for (uint16_t slot = 0; slot < 3; ++slot) {
        CHECK(f.used_id(0, slot) == slot);
        CHECK(f.driver.used_len(0, slot) == 64);
    }
    CHECK(f.header_at(kData).num_buffers == 3);
    const Bytes received =
        concat(concat(f.get(kData + kHdr, 52), f.get(kData + 0x1000, 64)), f.get(kData + 0x2000, 64));
    CHECK(received == big);

    // The fourth chain is still held and takes the next frame on its own.
    const Bytes small = payload(30, 8);
    f.host_send(concat(header_bytes({}), small));
    f.driver.poller.run_ready();
    REQUIRE(f.driver.used_idx(0) == 4);
    CHECK(f.used_id(0, 3) == 3);
    CHECK(f.driver.used_len(0, 3) == kHdr + 30);
    CHECK(f.header_at(kData + 0x3000).num_buffers == 1);
    CHECK(f.get(kData + 0x3000 + kHdr, 30) == small);
    CHECK(f.net->stats().rx_frames == 2);
    CHECK(f.net->stats().rx_dropped == 0);
}

TEST_CASE("virtio-net: MRG_RXBUF with multi-descriptor chains and an exact fit", "[unit][virtio-net]")
{
    Fixture f;
    f.driver.bring_up(2, 16, kNetFMrgRxbuf);
    // Chain 0: 10 + 30 bytes (the header straddles the two descriptors); chain 2: 50 bytes.
    f.driver.desc(0, 0, kData, 10, kWrite | kNext, 1);
    f.driver.desc(0, 1, kData + 0x1000, 30, kWrite);
    f.driver.offer(0, 0);
    f.post_rx(2, kData + 0x2000, 50);
    const Bytes frame = payload(78, 9); // 90 bytes with the header: 40 + 50
    f.host_send(concat(header_bytes({}), frame));
    f.driver.kick(0);
    REQUIRE(f.driver.used_idx(0) == 2);
    CHECK(f.driver.used_len(0, 0) == 40);
    CHECK(f.used_id(0, 1) == 2);
    CHECK(f.driver.used_len(0, 1) == 50);
    const Bytes header = concat(f.get(kData, 10), f.get(kData + 0x1000, 2));
    virtio::NetHeader parsed{};
    std::memcpy(&parsed, header.data(), kHdr);
    CHECK(parsed.num_buffers == 2);
    CHECK(concat(f.get(kData + 0x1000 + 2, 28), f.get(kData + 0x2000, 50)) == frame);
}

TEST_CASE("virtio-net: without MRG_RXBUF a frame larger than the posted buffer is dropped, never overflows",
          "[unit][virtio-net]")
{
    Fixture f;
    f.driver.bring_up(2, 16, 0);
    const Bytes canary(256, 0xaa);
    f.put(kData + 64, canary);
    f.post_rx(0, kData, 64);
    f.host_send(concat(header_bytes({}), payload(100, 10)));
    f.host_send(concat(header_bytes({}), payload(40, 11)));
    f.driver.kick(0);
    CHECK(f.net->stats().rx_dropped == 1);
    CHECK(f.get(kData + 64, 256) == canary);
    // The buffer was kept for the next frame, which fits.
    REQUIRE(f.driver.used_idx(0) == 1);
    CHECK(f.used_id(0, 0) == 0);
    CHECK(f.driver.used_len(0, 0) == kHdr + 40);
    CHECK(f.get(kData + kHdr, 40) == payload(40, 11));
}

TEST_CASE("virtio-net: with MRG_RXBUF a frame larger than the posted buffers waits for more, in order",
          "[unit][virtio-net]")
{
    Fixture f;
    f.driver.bring_up(2, 16, kNetFMrgRxbuf);
    const Bytes canary(256, 0xaa);
    f.put(kData + 64, canary);
    f.put(kData + 0x1000 + 64, canary);
    f.post_rx(0, kData, 64);
    f.post_rx(1, kData + 0x1000, 64);
    const Bytes big = payload(200, 10); // 212 bytes with the header: four 64-byte buffers
    f.host_send(concat(header_bytes({}), big));
    f.host_send(concat(header_bytes({}), payload(40, 11)));
    f.driver.kick(0);
    // Nothing delivered, nothing dropped, nothing written past the buffers.
    CHECK(f.driver.used_idx(0) == 0);
    CHECK(f.net->stats().rx_dropped == 0);
    CHECK(f.get(kData + 64, 256) == canary);
    CHECK(f.get(kData + 0x1000 + 64, 256) == canary);
    // Two more buffers: the big frame goes out across all four, then the small one waits.
    f.post_rx(2, kData + 0x2000, 64);
    f.post_rx(3, kData + 0x3000, 64);
    f.driver.kick(0);
    REQUIRE(f.driver.used_idx(0) == 4);
    CHECK(f.header_at(kData).num_buffers == 4);
    CHECK(f.driver.used_len(0, 3) == 212 - 3 * 64);
    CHECK(concat(concat(f.get(kData + kHdr, 64 - kHdr), f.get(kData + 0x1000, 64)),
                 concat(f.get(kData + 0x2000, 64), f.get(kData + 0x3000, 212 - 3 * 64))) == big);
    f.post_rx(4, kData + 0x4000, 64);
    f.driver.kick(0);
    REQUIRE(f.driver.used_idx(0) == 5);
    CHECK(f.driver.used_len(0, 4) == kHdr + 40);
    CHECK(f.get(kData + 0x4000 + kHdr, 40) == payload(40, 11));
    CHECK(f.net->stats().rx_dropped == 0);
}

TEST_CASE("virtio-net: chains with more buffers than readv takes neither spin nor overflow", "[unit][virtio-net]")
{
    // A chain has at most queue-size buffers (256 here, below IOV_MAX), but the chains the
    // device holds for one mergeable frame can have more: 17 chains of 256 16-byte buffers,
    // 4352 in all, of which one read fills at most 1022.
    constexpr uint16_t kIndirect = 4;
    constexpr uint16_t kQueue = 256;
    constexpr uint16_t kChains = 20;
    constexpr uint64_t kTables = 0x40'0000;
    Fixture f;
    f.driver.bring_up(2, kQueue, kNetFMrgRxbuf | kFIndirectDesc);
    const auto table = [&](uint64_t at, uint64_t data, uint16_t entries, uint16_t flags) {
        for (uint32_t i = 0; i < entries; ++i) {
            const bool last = i + 1 == entries;
            f.driver.memory.write_obj(memory::GuestAddress{at + i * 16ULL},
                                      MmioDriver::virtio_desc{data + i * 16ULL, 16,
                                                              static_cast<uint16_t>(flags | (last ? 0 : kNext)),
                                                              static_cast<uint16_t>(i + 1)});
        }
    };
    // Chain c: 4 KiB of buffers at kData + c * 4 KiB, so the chains' buffers are contiguous.
    for (uint16_t c = 0; c < kChains; ++c) {
        table(kTables + c * 0x1000ULL, kData + c * 0x1000ULL, kQueue, kWrite);
        f.driver.desc(0, c, kTables + c * 0x1000ULL, kQueue * 16, kIndirect);
        f.driver.offer(0, c);
    }
    f.driver.kick(0);
    // More than one read can take: read whole, then spread over five chains. Then a small one.
    const Bytes big = payload(17000, 30);
    f.host_send(concat(header_bytes({}), big));
    f.host_send(concat(header_bytes({}), payload(100, 31)));
    CHECK(f.driver.poller.run_ready() == 1);
    CHECK(f.net->stats().rx_dropped == 0);
    REQUIRE(f.driver.used_idx(0) == 6);
    CHECK(f.header_at(kData).num_buffers == 5);
    CHECK(f.driver.used_len(0, 0) == 4096);
    CHECK(f.driver.used_len(0, 4) == kHdr + 17000 - 4 * 4096);
    CHECK(f.get(kData + kHdr, 17000) == big);
    CHECK(f.used_id(0, 5) == 5);
    CHECK(f.driver.used_len(0, 5) == kHdr + 100);
    CHECK(f.get(kData + 5 * 0x1000 + kHdr, 100) == payload(100, 31));
    CHECK_FALSE(f.backend_readable());
    CHECK_FALSE(f.driver.transport.needs_reset());

    // A transmit chain of queue-size 16-byte buffers (the header in the first) goes out whole.
    const Bytes sent = concat(header_bytes({}), payload(kQueue * 16 - kHdr, 40));
    f.put(kData + 0x10'0000, sent);
    table(kTables + kChains * 0x1000ULL, kData + 0x10'0000, kQueue, 0);
    f.driver.desc(1, 0, kTables + kChains * 0x1000ULL, kQueue * 16, kIndirect);
    f.driver.offer(1, 0);
    f.driver.kick(1);
    CHECK(f.driver.used_idx(1) == 1);
    CHECK(f.net->stats().tx_dropped == 0);
    CHECK(f.host_recv() == sent);
}

TEST_CASE("virtio-net: a chain longer than the queue size needs a reset", "[unit][virtio-net]")
{
    // 2.7.5.3.1; a longer chain (or indirect table) used to cost host memory per entry.
    constexpr uint16_t kIndirect = 4;
    Fixture f;
    f.driver.bring_up(2, 16, kFIndirectDesc);
    for (uint32_t i = 0; i < 17; ++i) {
        f.driver.memory.write_obj(memory::GuestAddress{0x40'0000 + i * 16ULL},
                                  MmioDriver::virtio_desc{kData + i * 16ULL, 16,
                                                          static_cast<uint16_t>(kWrite | (i < 16 ? kNext : 0)),
                                                          static_cast<uint16_t>(i + 1)});
    }
    f.driver.desc(0, 0, 0x40'0000, 17 * 16, kIndirect);
    f.driver.offer(0, 0);
    f.driver.kick(0);
    CHECK(f.driver.transport.needs_reset());
}

TEST_CASE("virtio-net: RX frames needing offloads the driver lacks are dropped", "[unit][virtio-net]")
{
    Fixture f;
    f.driver.bring_up(2, 16, kNetFMrgRxbuf | kNetFGuestCsum | kNetFGuestTso4);
    for (uint16_t i = 0; i < 8; ++i) {
        f.post_rx(i, kData + i * 0x1000ULL, 0x1000);
    }
    f.host_send(concat(header_bytes(gso_header(kNetHdrGsoTcpV6)), payload(3000, 12))); // no GUEST_TSO6
    f.host_send(concat(header_bytes(gso_header(kNetHdrGsoTcpV4)), payload(3000, 13)));
    f.driver.kick(0);
    CHECK(f.net->stats().rx_dropped == 1);
    REQUIRE(f.driver.used_idx(0) == 1);
    virtio::NetHeader expected = gso_header(kNetHdrGsoTcpV4);
    expected.num_buffers = 1;
    CHECK(header_bytes(f.header_at(kData)) == header_bytes(expected));
    CHECK(f.driver.used_len(0, 0) == kHdr + 3000);
}

TEST_CASE("virtio-net: RX with no buffers stops polling and resumes on the driver's notification", "[unit][virtio-net]")
{
    for (const bool event_idx : {false, true}) {
        CAPTURE(event_idx);
        Fixture f;
        f.driver.bring_up(2, 16, event_idx ? kFEventIdx : 0);
        // No buffers: not polled for input, and the driver is asked to notify.
        CHECK((f.watched() & EPOLLIN) == 0);
        if (event_idx) {
            CHECK(f.avail_event(0) == 0);
        } else {
            CHECK(f.used_flags(0) == 0);
        }
        f.host_send(concat(header_bytes({}), payload(60, 14)));
        f.host_send(concat(header_bytes({}), payload(61, 15)));
        // Input waits in the back end: no handler runs, however often the loop turns.
        for (int i = 0; i < 3; ++i) {
            CHECK(f.driver.poller.run_ready() == 0);
        }
        CHECK(f.backend_readable());
        CHECK(f.driver.used_idx(0) == 0);

        // Two buffers and a notification: the first frame arrives, polling goes on.
        f.post_rx(0, kData, 1526);
        f.post_rx(1, kData + 0x1000, 1526);
        f.driver.kick(0);
        CHECK(f.driver.used_idx(0) == 2);
        CHECK(f.get(kData + kHdr, 60) == payload(60, 14));
        CHECK(f.get(kData + 0x1000 + kHdr, 61) == payload(61, 15));
        // Out of buffers again: polling off, notifications re-armed at the avail index.
        CHECK((f.watched() & EPOLLIN) == 0);
        if (event_idx) {
            CHECK(f.avail_event(0) == 2);
        } else {
            CHECK(f.used_flags(0) == 0);
        }
        CHECK_FALSE(f.backend_readable());

        // While the device holds a buffer it polls and does not need notifications.
        f.post_rx(2, kData + 0x2000, 1526);
        f.driver.kick(0);
        CHECK((f.watched() & EPOLLIN) != 0);
        if (!event_idx) {
            CHECK(f.used_flags(0) == virtio::kVirtqUsedFNoNotify);
        }
        f.host_send(concat(header_bytes({}), payload(62, 16)));
        CHECK(f.driver.poller.run_ready() == 1);
        CHECK(f.driver.used_idx(0) == 3);
        CHECK((f.watched() & EPOLLIN) == 0);
    }
}

TEST_CASE("virtio-net: a full back end keeps the TX chain unused until it is writable", "[unit][virtio-net]")
{
    Fixture f;
    f.driver.bring_up(2, 16);
    // Fill the socket as a TAP fills under load.
    const Bytes filler = concat(header_bytes({}), payload(1000, 17));
    size_t queued = 0;
    while (::send(f.backend_fd, filler.data(), filler.size(), MSG_DONTWAIT) > 0) {
        ++queued;
    }
    REQUIRE(errno == EAGAIN);
    REQUIRE(queued > 0);

    const Bytes first = payload(70, 18);
    const Bytes second = payload(80, 19);
    f.post_tx(0, {header_bytes({}), first});
    f.driver.kick(1);
    CHECK(f.driver.used_idx(1) == 0); // not written, so not used
    CHECK((f.watched() & EPOLLOUT) != 0);
    CHECK(f.used_flags(1) == virtio::kVirtqUsedFNoNotify);
    // More chains and notifications change nothing, and nothing spins.
    f.post_tx(4, {header_bytes({}), second}, kData + 0x20'0000);
    f.driver.kick(1);
    CHECK(f.driver.poller.run_ready() == 0);
    CHECK(f.driver.used_idx(1) == 0);
    CHECK(f.net->stats().tx_frames == 0);

    // The host drains the queue: EPOLLOUT sends both frames, in order.
    for (size_t i = 0; i < queued; ++i) {
        REQUIRE(f.host_recv() == filler);
    }
    CHECK(f.driver.poller.run_ready() == 1);
    CHECK(f.driver.used_idx(1) == 2);
    CHECK(f.used_id(1, 0) == 0);
    CHECK(f.used_id(1, 1) == 4);
    CHECK((f.watched() & EPOLLOUT) == 0);
    CHECK(f.used_flags(1) == 0);
    CHECK(f.host_recv() == concat(header_bytes({}), first));
    CHECK(f.host_recv() == concat(header_bytes({}), second));
    CHECK(f.net->stats().tx_frames == 2);
    CHECK(f.net->stats().tx_dropped == 0);
}

TEST_CASE("virtio-net: GUEST_* features set the back end's offloads at activation", "[unit][virtio-net]")
{
    struct Case {
        uint64_t features;
        backends::Offloads offloads;
        unsigned tun_flags;
    };
    const std::vector<Case> cases{
        {0, {}, 0},
        {kNetFGuestCsum, {true, false, false}, 0x1},
        {kNetFGuestCsum | kNetFGuestTso4, {true, true, false}, 0x3},
        {kNetFGuestCsum | kNetFGuestTso4 | kNetFGuestTso6, {true, true, true}, 0x7},
        {kNetFGuestTso4 | kNetFGuestTso6, {}, 0},           // TSO depends on GUEST_CSUM (5.1.3.1)
        {kNetFCsum | kNetFHostTso4 | kNetFHostTso6, {}, 0}, // host-side features do not matter
    };
    for (const auto& c : cases) {
        CAPTURE(c.features);
        Fixture f;
        f.driver.bring_up(2, 16, c.features);
        REQUIRE(f.offloads->size() == 1);
        CHECK(f.offloads->back() == c.offloads);
        CHECK(virtio::VirtioNet::guest_offloads(c.features) == c.offloads);
        CHECK(backends::Tap::tun_offload_flags(c.offloads) == c.tun_flags);
        // A reset takes them back.
        f.driver.set(kStatus, 0);
        CHECK(f.offloads->back() == backends::Offloads{});
    }
}

TEST_CASE("virtio-net: reset stops touching guest memory, activate starts again", "[unit][virtio-net]")
{
    Fixture f;
    f.driver.bring_up(2, 16);
    f.post_rx(0, kData, 1526);
    f.driver.kick(0);
    CHECK((f.watched() & EPOLLIN) != 0);

    f.driver.set(kStatus, 0);
    CHECK(f.watched() == 0);
    f.put(kData, Bytes(64, 0x5a));
    f.host_send(concat(header_bytes({}), payload(50, 20)));
    CHECK(f.driver.poller.run_ready() == 0);
    CHECK(f.get(kData, 64) == Bytes(64, 0x5a));
    CHECK(f.backend_readable()); // the frame waits in the back end, which stays open

    // A fresh driver: new rings, the frame arrives.
    f.driver.memory.fill(memory::GuestAddress{MmioDriver::ring_addr(0)}, 2 * MmioDriver::kRingStride, std::byte{0});
    f.driver.avail_idx.clear();
    f.driver.bring_up(2, 16);
    f.post_rx(0, kData, 1526);
    f.driver.kick(0);
    REQUIRE(f.driver.used_idx(0) == 1);
    CHECK(f.get(kData + kHdr, 50) == payload(50, 20));
}

TEST_CASE("virtio-net: a receive buffer smaller than the header needs a reset", "[unit][virtio-net]")
{
    Fixture f;
    f.driver.bring_up(2, 16, kNetFMrgRxbuf);
    f.post_rx(0, kData, 8);
    f.driver.kick(0);
    CHECK(f.driver.transport.needs_reset());
    CHECK(f.watched() == 0);
}

TEST_CASE("virtio-net: a back end that hangs up takes the link down", "[unit][virtio-net]")
{
    Fixture f;
    f.driver.bring_up(2, 16);
    const int interrupts = f.driver.irq->count;
    f.pair.host.reset();
    f.driver.poller.run_ready();
    CHECK_FALSE(f.driver.poller.events(f.backend_fd).has_value()); // no longer polled
    std::array<uint8_t, 8> config{};
    f.driver.transport.read(kConfig, config);
    CHECK((config[6] & kNetSLinkUp) == 0);
    CHECK(f.driver.irq->count > interrupts);
    CHECK((f.driver.reg(kInterruptStatus) & kInterruptConfig) != 0);
    // Frames sent now are dropped, but their chains complete.
    f.post_tx(0, {header_bytes({}), payload(60, 21)});
    f.driver.kick(1);
    CHECK(f.driver.used_idx(1) == 1);
    CHECK(f.net->stats().tx_dropped == 1);
}

TEST_CASE("virtio-net: MAC addresses", "[unit][virtio-net]")
{
    const auto mac = backends::MacAddress::parse("52:54:00:aB:Cd:0f");
    REQUIRE(mac);
    CHECK(mac->bytes() == backends::MacAddress::Bytes{0x52, 0x54, 0x00, 0xab, 0xcd, 0x0f});
    CHECK(mac->to_string() == "52:54:00:ab:cd:0f");
    CHECK_FALSE(mac->is_multicast());
    CHECK(backends::MacAddress::parse("01:00:5e:00:00:01")->is_multicast());
    CHECK(backends::MacAddress::parse("00:00:00:00:00:00")->is_zero());
    for (const char* bad : {"", "52:54:00:ab:cd", "52:54:00:ab:cd:0f:00", "52:54:00:ab:cd:0g", "52.54.00.ab.cd.0f",
                            "5:254:00:ab:cd:0f", " 52:54:00:ab:cd:f"}) {
        CAPTURE(bad);
        CHECK_FALSE(backends::MacAddress::parse(bad));
    }
    // Random ones: locally administered unicast under 52:54:00, and not all the same.
    const auto a = backends::MacAddress::random_local();
    bool differs = false;
    for (int i = 0; i < 8 && !differs; ++i) {
        differs = backends::MacAddress::random_local() != a;
    }
    CHECK(differs);
    CHECK((a.bytes()[0] & 2) != 0);
    CHECK_FALSE(a.is_multicast());
    CHECK(a.to_string().starts_with("52:54:00:"));
}

TEST_CASE("guest-triggered log lines are rate-limited", "[unit][virtio-net]")
{
    using namespace std::chrono_literals;
    util::LogRateLimit limit(2, 1s);
    const auto t0 = util::LogRateLimit::Clock::time_point{} + 10s;
    uint64_t suppressed = 99;
    CHECK(limit.allow(t0, suppressed));
    CHECK(suppressed == 0);
    CHECK(limit.allow(t0 + 1ms, suppressed));
    CHECK_FALSE(limit.allow(t0 + 2ms, suppressed));
    CHECK_FALSE(limit.allow(t0 + 3ms, suppressed));
    CHECK(limit.allow(t0 + 1s + 2ms, suppressed));
    CHECK(suppressed == 2);
}
