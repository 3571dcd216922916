// virtio-console with MULTIPORT (devices/virtio/multiport_console.hpp) behind the virtio-mmio
// transport, driven as Linux's virtio_console.c drives it: the control handshake and port
// names, bytes both ways between guest buffers and host socket pairs, nothing read before the
// guest opens a port, back-pressure without loss, a host end that closes, hostile control
// messages, and the device without MULTIPORT.
#include "support/random_data.hpp"
#include "backends/stream/socket_stream.hpp"
#include "devices/virtio/mmio_registers.hpp"
#include "devices/virtio/multiport_console.hpp"
#include "support/virtio_mmio_driver.hpp"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

using namespace minivmm;
using namespace minivmm::virtio;
using minivmm::test::MmioDriver;
using minivmm::util::UniqueFd;

namespace {

constexpr uint16_t kWrite = 2;
constexpr uint16_t kQueue = 16;
constexpr uint64_t kBuffers = 0x40'0000; // guest buffers: 64 KiB per (queue, descriptor)

struct Fixture {
    std::vector<UniqueFd> host; // the host's ends, one per port
    MultiportConsole* device = nullptr;
    MmioDriver driver;
    std::map<uint32_t, uint16_t> next_desc;
    uint16_t control_seen = 0;

    explicit Fixture(std::vector<std::string> names = {"minivmm.control", "minivmm.stdin", "minivmm.stdout"},
                     int host_buffer = 0)
        : driver([&](memory::GuestMemory& memory) {
              std::vector<MultiportConsole::Port> ports;
              for (const auto& name : names) {
                  int pair[2];
                  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
                  if (host_buffer > 0) {
                      ::setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &host_buffer, sizeof(host_buffer));
                      ::setsockopt(pair[0], SOL_SOCKET, SO_RCVBUF, &host_buffer, sizeof(host_buffer));
                      ::setsockopt(pair[1], SOL_SOCKET, SO_SNDBUF, &host_buffer, sizeof(host_buffer));
                      ::setsockopt(pair[1], SOL_SOCKET, SO_RCVBUF, &host_buffer, sizeof(host_buffer));
                  }
                  host.emplace_back(pair[0]);
                  ports.push_back({name, std::make_unique<backends::SocketStream>(UniqueFd(pair[1]))});
              }
              auto d = std::make_unique<MultiportConsole>(memory, std::move(ports));
              device = d.get();
              return d;
          })
    {
    }

    uint64_t buffer(uint32_t queue, uint16_t desc) const { return kBuffers + (queue * kQueue + desc) * 0x10000ULL; }

    // Posts a chain of one buffer on `queue`; returns the descriptor index.
    uint16_t post(uint32_t queue, uint32_t len, bool writable, const std::string& data = "")
    {
        const uint16_t d = next_desc[queue]++ % kQueue;
        driver.memory.write(memory::GuestAddress{buffer(queue, d)}, std::as_bytes(std::span(data.data(), data.size())));
        driver.desc(queue, d, buffer(queue, d), len, writable ? kWrite : 0);
        driver.offer(queue, d);
        return d;
    }

    void send_control(uint32_t id, ConsoleEvent event, uint16_t value)
    {
        const ConsoleControl message{id, static_cast<uint16_t>(event), value};
        std::string bytes(sizeof(message), '\0');
        std::memcpy(bytes.data(), &message, sizeof(message));
        post(kConsoleControlTransmitQueue, sizeof(message), false, bytes);
        driver.kick(kConsoleControlTransmitQueue);
    }

    struct Received {
        ConsoleControl header{};
        std::string text;
    };

    // The control messages the device put in the driver's buffers since the last call.
    std::vector<Received> control_messages()
    {
        std::vector<Received> out;
        for (; control_seen != driver.used_idx(kConsoleControlReceiveQueue); ++control_seen) {
            const auto [id, len] = used(kConsoleControlReceiveQueue, control_seen);
            std::string bytes(len, '\0');
            driver.memory.read(memory::GuestAddress{buffer(kConsoleControlReceiveQueue, static_cast<uint16_t>(id))},
                               std::as_writable_bytes(std::span(bytes.data(), bytes.size())));
            Received r;
            REQUIRE(len >= 8);
            std::memcpy(&r.header, bytes.data(), 8);
            r.text = bytes.substr(8);
            out.push_back(r);
            post(kConsoleControlReceiveQueue, 4096, true); // Linux re-posts each buffer
        }
        return out;
    }

    std::pair<uint32_t, uint32_t> used(uint32_t queue, uint16_t slot)
    {
        const uint64_t at = MmioDriver::ring_addr(queue) + 0x2000 + 4 + (slot % kQueue) * 8ULL;
        return {driver.memory.read_obj<uint32_t>(memory::GuestAddress{at}),
                driver.memory.read_obj<uint32_t>(memory::GuestAddress{at + 4})};
    }

    // Linux's probe with MULTIPORT: queues up, control buffers posted, DEVICE_READY; then
    // PORT_READY for each port announced.
    void bring_up(unsigned ports)
    {
        driver.bring_up(2 * (ports + 1), kQueue, kConsoleFMultiport);
        for (int i = 0; i < 4; ++i) {
            post(kConsoleControlReceiveQueue, 4096, true);
        }
        driver.kick(kConsoleControlReceiveQueue);
        send_control(0xffffffff, ConsoleEvent::DeviceReady, 1);
    }

    std::string host_read(size_t port, size_t want)
    {
        std::string out;
        while (out.size() < want) {
            std::string chunk(want - out.size(), '\0');
            const ssize_t n = ::recv(host[port].get(), chunk.data(), chunk.size(), MSG_DONTWAIT);
            if (n <= 0) {
                break;
            }
            out.append(chunk.data(), static_cast<size_t>(n));
        }
        return out;
    }
};

} // namespace

TEST_CASE("multiport console: config space and features", "[unit][virtio-console]")
{
    Fixture f;
    CHECK(f.driver.reg(mmio::kDeviceId) == kDeviceIdConsole);
    CHECK((f.driver.device_features() & kConsoleFMultiport) != 0);
    std::array<uint8_t, 8> config{};
    f.driver.transport.read(mmio::kConfig, config);
    CHECK(config == std::array<uint8_t, 8>{0, 0, 0, 0, 3, 0, 0, 0}); // max_nr_ports 3
}

TEST_CASE("multiport console: the handshake announces, names and opens every port", "[unit][virtio-console]")
{
    Fixture f;
    f.bring_up(3);
    auto messages = f.control_messages();
    REQUIRE(messages.size() == 3);
    for (uint32_t i = 0; i < 3; ++i) {
        CHECK(messages[i].header.id == i);
        CHECK(messages[i].header.event == static_cast<uint16_t>(ConsoleEvent::DeviceAdd));
    }
    f.send_control(2, ConsoleEvent::PortReady, 1);
    messages = f.control_messages();
    REQUIRE(messages.size() == 2);
    CHECK(messages[0].header.id == 2);
    CHECK(messages[0].header.event == static_cast<uint16_t>(ConsoleEvent::PortName));
    CHECK(messages[0].text == "minivmm.stdout");
    CHECK(messages[1].header.event == static_cast<uint16_t>(ConsoleEvent::PortOpen));
    CHECK(messages[1].header.value == 1);
}

TEST_CASE("multiport console: guest writes reach the port's host socket in order", "[unit][virtio-console]")
{
    Fixture f;
    f.bring_up(3);
    f.send_control(2, ConsoleEvent::PortReady, 1);
    f.send_control(2, ConsoleEvent::PortOpen, 1);
    const uint32_t txq = console_transmit_queue(2);
    f.post(txq, 5, false, "hello");
    f.post(txq, 7, false, ", world");
    f.driver.kick(txq);
    CHECK(f.host_read(2, 12) == "hello, world");
    CHECK(f.driver.used_idx(txq) == 2);
    CHECK(f.device->stats(2).from_guest == 12);
    CHECK(f.host_read(1, 1).empty()); // other ports saw nothing
}

TEST_CASE("multiport console: host bytes wait until the guest opens the port", "[unit][virtio-console]")
{
    Fixture f;
    f.bring_up(3);
    f.send_control(1, ConsoleEvent::PortReady, 1);
    const uint32_t rxq = console_receive_queue(1);
    f.post(rxq, 4096, true);
    f.driver.kick(rxq);
    REQUIRE(::write(f.host[1].get(), "input", 5) == 5);
    f.driver.run_io();
    CHECK(f.driver.used_idx(rxq) == 0); // Linux would drop bytes for a port nobody opened
    f.send_control(1, ConsoleEvent::PortOpen, 1);
    f.driver.run_io();
    REQUIRE(f.driver.used_idx(rxq) == 1);
    const auto [id, len] = f.used(rxq, 0);
    CHECK(len == 5);
    std::string got(5, '\0');
    f.driver.memory.read(memory::GuestAddress{f.buffer(rxq, static_cast<uint16_t>(id))},
                         std::as_writable_bytes(std::span(got.data(), got.size())));
    CHECK(got == "input");
    CHECK(f.device->guest_open(1));
}

TEST_CASE("multiport console: a full host socket holds the guest's chain, and nothing is lost",
          "[unit][virtio-console]")
{
    Fixture f({"a", "b"}, 4096);
    f.bring_up(2);
    f.send_control(1, ConsoleEvent::PortReady, 1);
    f.send_control(1, ConsoleEvent::PortOpen, 1);
    const uint32_t txq = console_transmit_queue(1);
    const auto data = test::random_string(3 * 60000, 5);
    for (int i = 0; i < 3; ++i) {
        f.post(txq, 60000, false, data.substr(static_cast<size_t>(i) * 60000, 60000));
    }
    f.driver.kick(txq);
    CHECK(f.driver.used_idx(txq) < 3); // the socket cannot take 180 KB at once
    std::string got;
    for (int round = 0; round < 10000 && got.size() < data.size(); ++round) {
        got += f.host_read(1, data.size() - got.size());
        f.driver.run_io(); // EPOLLOUT: the held chain goes on
    }
    CHECK(got.size() == data.size());
    CHECK(got == data);
    CHECK(f.driver.used_idx(txq) == 3);
}

TEST_CASE("multiport console: host to guest in many buffers, as fast as the guest posts them",
          "[unit][virtio-console]")
{
    Fixture f({"in"});
    f.bring_up(1);
    f.send_control(0, ConsoleEvent::PortReady, 1);
    f.send_control(0, ConsoleEvent::PortOpen, 1);
    const auto data = test::random_string(100000, 6);
    REQUIRE(::write(f.host[0].get(), data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    std::string got;
    uint16_t seen = 0;
    const uint32_t rxq = console_receive_queue(0);
    for (int round = 0; round < 1000 && got.size() < data.size(); ++round) {
        f.post(rxq, 4096, true);
        f.driver.kick(rxq);
        for (; seen != f.driver.used_idx(rxq); ++seen) {
            const auto [id, len] = f.used(rxq, seen);
            std::string chunk(len, '\0');
            f.driver.memory.read(memory::GuestAddress{f.buffer(rxq, static_cast<uint16_t>(id))},
                                 std::as_writable_bytes(std::span(chunk.data(), chunk.size())));
            got += chunk;
        }
    }
    CHECK(got == data);
    CHECK(f.device->stats(0).to_guest == data.size());
}

TEST_CASE("multiport console: a host end that closes is PORT_OPEN 0, and the guest's writes are dropped",
          "[unit][virtio-console]")
{
    Fixture f({"x", "y"});
    f.bring_up(2);
    f.send_control(1, ConsoleEvent::PortReady, 1);
    f.send_control(1, ConsoleEvent::PortOpen, 1);
    (void)f.control_messages();
    const uint32_t rxq = console_receive_queue(1);
    f.post(rxq, 4096, true);
    f.driver.kick(rxq);
    f.host[1].reset();
    f.driver.run_io();
    const auto messages = f.control_messages();
    REQUIRE(messages.size() == 1);
    CHECK(messages[0].header.id == 1);
    CHECK(messages[0].header.event == static_cast<uint16_t>(ConsoleEvent::PortOpen));
    CHECK(messages[0].header.value == 0);
    const uint32_t txq = console_transmit_queue(1);
    f.post(txq, 3, false, "bye");
    f.driver.kick(txq);
    CHECK(f.driver.used_idx(txq) == 1); // completed, not held for ever
    CHECK(f.device->stats(1).dropped == 3);
    CHECK(f.driver.poller.events(f.host.size()) == std::nullopt); // the dead stream is not polled
}

TEST_CASE("multiport console: hostile control messages are ignored and bounded", "[unit][virtio-console]")
{
    Fixture f;
    f.driver.bring_up(8, kQueue, kConsoleFMultiport);
    // No control receive buffers: messages wait, at most kMaxPendingControl of them.
    for (int i = 0; i < 200; ++i) {
        f.send_control(0, ConsoleEvent::DeviceReady, 1);
    }
    f.send_control(99, ConsoleEvent::PortReady, 1);    // no such port
    f.send_control(0, ConsoleEvent::ConsolePort, 1);   // a device-to-driver event
    f.send_control(0, static_cast<ConsoleEvent>(77), 1);
    f.post(kConsoleControlTransmitQueue, 4, false, "abcd"); // short
    f.driver.kick(kConsoleControlTransmitQueue);
    CHECK((f.driver.reg(mmio::kStatus) & mmio::kStatusNeedsReset) == 0);
    for (int i = 0; i < 16; ++i) {
        f.post(kConsoleControlReceiveQueue, 4096, true);
    }
    f.driver.kick(kConsoleControlReceiveQueue);
    CHECK(f.driver.used_idx(kConsoleControlReceiveQueue) == 16);
    // A control receive buffer too small for PORT_NAME is returned empty, not overrun.
    Fixture g;
    g.driver.bring_up(8, kQueue, kConsoleFMultiport);
    g.post(kConsoleControlReceiveQueue, 4096, true);
    g.post(kConsoleControlReceiveQueue, 4096, true);
    g.post(kConsoleControlReceiveQueue, 4096, true);
    g.post(kConsoleControlReceiveQueue, 10, true);
    g.driver.kick(kConsoleControlReceiveQueue);
    g.send_control(0xffffffff, ConsoleEvent::DeviceReady, 1);
    g.send_control(0, ConsoleEvent::PortReady, 1);
    CHECK(g.used(kConsoleControlReceiveQueue, 3).second == 0);
}

TEST_CASE("multiport console: without MULTIPORT port 0 is a plain open port", "[unit][virtio-console]")
{
    Fixture f({"only"});
    f.driver.bring_up(2, kQueue, 0);
    f.post(1, 3, false, "abc");
    f.driver.kick(1);
    CHECK(f.host_read(0, 3) == "abc");
    REQUIRE(::write(f.host[0].get(), "xyz", 3) == 3);
    f.post(0, 4096, true);
    f.driver.kick(0);
    CHECK(f.driver.used_idx(0) == 1);
}
