// The user-mode network back end against libslirp itself, without a guest: the test plays the
// guest's network stack with hand-made frames (support/guest_frames.hpp) and the host side
// with ordinary sockets on 127.0.0.1, while the back end runs on a real event loop.
#include "backends/net/packet_headers.hpp"
#include "backends/net/slirp_backend.hpp"
#include "backends/net/vnet_header.hpp"
#include "support/guest_frames.hpp"
#include "support/loopback_socket.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

using namespace minivmm;
using namespace minivmm::backends;
using namespace std::chrono_literals;
namespace frames = minivmm::test::frames;

namespace {

const frames::Mac kGatewayMac{0x52, 0x55, 10, 0, 2, 2}; // libslirp's: 52:55 + the IPv4 address

// A back end running on its own event loop thread, and the guest's side of it.
class Network final {
public:
    explicit Network(UserNetOptions options = {}) : backend(std::move(options))
    {
        backend.attach(loop);
        thread = std::thread([this] { loop.run(); });
    }
    ~Network()
    {
        loop.stop();
        thread.join();
    }

    void send(frames::Bytes frame, const VnetHeader& header = {})
    {
        const iovec iov[2] = {{const_cast<VnetHeader*>(&header), sizeof(header)}, {frame.data(), frame.size()}};
        const auto result = backend.write_frame(iov);
        REQUIRE(result.error == 0);
        REQUIRE(result.bytes == sizeof(header) + frame.size());
    }

    // The next frame for the guest within `limit`, its header in `header`.
    std::optional<frames::Bytes> receive(std::chrono::milliseconds limit = 5s, VnetHeader* header = nullptr)
    {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        std::vector<uint8_t> buffer(70000);
        VnetHeader h{};
        for (;;) {
            const iovec iov[2] = {{&h, sizeof(h)}, {buffer.data(), buffer.size()}};
            const auto result = backend.read_frame(iov);
            if (result.error == 0) {
                buffer.resize(result.bytes - sizeof(h));
                if (header != nullptr) {
                    *header = h;
                }
                return buffer;
            }
            REQUIRE(result.error == EAGAIN);
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                                    std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return std::nullopt;
            }
            pollfd pfd{backend.fd(), POLLIN, 0};
            ::poll(&pfd, 1, static_cast<int>(left.count())); // readable while frames wait
        }
    }

    // The next TCP segment to the guest, skipping anything else (ARP, IPv6 announcements).
    std::optional<frames::ReceivedTcp> receive_tcp(std::chrono::milliseconds limit = 5s)
    {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto frame = receive(std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now()));
            if (!frame) {
                break;
            }
            if (auto tcp = frames::parse_tcp4(*frame)) {
                return tcp;
            }
        }
        return std::nullopt;
    }

    // ARP for the gateway: libslirp answers and learns the guest's MAC address.
    void introduce()
    {
        send(frames::arp_request(frames::kGuestMac, frames::kGuestIp, frames::kHostIp));
        for (;;) {
            const auto reply = receive();
            REQUIRE(reply);
            if (packet::ether_type(*reply) == packet::kEtherTypeArp) {
                CHECK(std::equal(kGatewayMac.begin(), kGatewayMac.end(), reply->begin() + 6));
                CHECK(reply->at(21) == 2); // ARP reply
                return;
            }
        }
    }

    util::EventLoop loop;
    SlirpBackend backend;
    std::thread thread;
};

using HostSocket = test::LoopbackSocket;

uint16_t free_port()
{
    const HostSocket probe(SOCK_STREAM);
    return probe.port(); // closed again: free for the back end's forward (unless the race is lost)
}

frames::Bytes pattern(size_t size, unsigned seed)
{
    frames::Bytes bytes(size);
    for (size_t i = 0; i < size; ++i) {
        bytes[i] = static_cast<uint8_t>((i * 2654435761U + seed) >> 13);
    }
    return bytes;
}

frames::Bytes guest_tcp(uint16_t host_port, uint32_t seq, uint32_t ack, uint8_t flags, frames::Bytes payload = {},
                        const frames::Ipv4& to = frames::kHostIp)
{
    return frames::tcp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, to,
                        {40000, host_port, seq, ack, flags, 65535, std::move(payload)});
}

} // namespace

TEST_CASE("slirp back end: DHCP hands out dhcpstart, the gateway and the DNS server", "[unit][user-net][slirp]")
{
    Network net;
    net.send(frames::dhcp_message(frames::kGuestMac, 0x1234));
    auto offer = net.receive();
    REQUIRE(offer);
    auto reply = frames::parse_dhcp_reply(*offer);
    REQUIRE(reply);
    CHECK(reply->type == 2); // OFFER
    CHECK(reply->xid == 0x1234);
    CHECK(reply->your_address == frames::kGuestIp);
    CHECK(reply->router == frames::kHostIp);
    CHECK(reply->dns == frames::kDnsIp);
    CHECK(reply->server == frames::kHostIp);
    CHECK(reply->netmask == frames::Ipv4{255, 255, 255, 0});
    CHECK(frames::parse_udp4(*offer)->checksum_ok);

    net.send(frames::dhcp_message(frames::kGuestMac, 0x1235, frames::kGuestIp, frames::kHostIp));
    auto ack = net.receive();
    REQUIRE(ack);
    reply = frames::parse_dhcp_reply(*ack);
    REQUIRE(reply);
    CHECK(reply->type == 5); // ACK
    CHECK(reply->your_address == frames::kGuestIp);
    CHECK(net.backend.stats().tx_frames == 2);
}

TEST_CASE("slirp back end: another network's addresses are the ones DHCP gives", "[unit][user-net][slirp]")
{
    UserNetOptions options;
    options.network = {192, 168, 76, 0};
    options.host = {192, 168, 76, 1};
    options.dns = {192, 168, 76, 53};
    options.dhcp_start = {192, 168, 76, 100};
    options.ipv6 = false;
    Network net(options);
    net.send(frames::dhcp_message(frames::kGuestMac, 7));
    const auto offer = net.receive();
    REQUIRE(offer);
    const auto reply = frames::parse_dhcp_reply(*offer);
    REQUIRE(reply);
    CHECK(reply->your_address == frames::Ipv4{192, 168, 76, 100});
    CHECK(reply->router == frames::Ipv4{192, 168, 76, 1});
    CHECK(reply->dns == frames::Ipv4{192, 168, 76, 53});
}

TEST_CASE("slirp back end: TCP to the gateway reaches the host's loopback, TSO and partial checksums included",
          "[unit][user-net][slirp]")
{
    const HostSocket listener(SOCK_STREAM);
    Network net;
    REQUIRE(net.backend.set_offloads({true, true, true}));
    net.introduce();

    // Handshake, as the guest.
    const uint32_t isn = 1000;
    net.send(guest_tcp(listener.port(), isn, 0, packet::kTcpSyn));
    const auto syn_ack = net.receive_tcp();
    REQUIRE(syn_ack);
    CHECK(syn_ack->checksum_ok);
    REQUIRE(syn_ack->segment.flags == (packet::kTcpSyn | packet::kTcpAck));
    CHECK(syn_ack->segment.acknowledgment == isn + 1);
    CHECK(syn_ack->source == frames::kHostIp);
    const uint32_t host_isn = syn_ack->segment.sequence;
    net.send(guest_tcp(listener.port(), isn + 1, host_isn + 1, packet::kTcpAck));
    REQUIRE(listener.readable(5000));
    const int conn = ::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(conn >= 0);

    // 20000 bytes as one TSO frame with a partial checksum (what Linux's virtio_net driver
    // sends with HOST_TSO4): libslirp checks every checksum, so the bytes arrive only if the
    // segments were built right.
    const auto data = pattern(20000, 1);
    auto tso = guest_tcp(listener.port(), isn + 1, host_isn + 1, packet::kTcpAck | packet::kTcpPsh, data);
    frames::make_checksum_partial(tso, true);
    net.send(tso, frames::tso_header(kVnetGsoTcpv4, 1448, 34));
    CHECK(HostSocket::read_exactly(conn, data.size()) == data);
    CHECK(net.backend.stats().tx_packets == 4); // ARP, SYN, ACK, and the TSO frame as one IPv4 packet
    CHECK(net.backend.stats().tx_malformed == 0);

    // And the other way: the host writes, the guest receives intact segments marked DATA_VALID.
    const auto reply = pattern(3000, 2);
    REQUIRE(::write(conn, reply.data(), reply.size()) == static_cast<ssize_t>(reply.size()));
    frames::Bytes received;
    uint32_t next = host_isn + 1;
    while (received.size() < reply.size()) {
        VnetHeader rx{};
        const auto frame = net.receive(5s, &rx);
        REQUIRE(frame);
        const auto tcp = frames::parse_tcp4(*frame);
        if (!tcp || tcp->segment.payload.empty()) {
            continue;
        }
        CHECK(tcp->checksum_ok);
        CHECK(rx.flags == kVnetFlagDataValid);
        CHECK(rx.gso_type == kVnetGsoNone);
        CHECK(frame->size() <= 1514);
        REQUIRE(tcp->segment.sequence == next);
        received.insert(received.end(), tcp->segment.payload.begin(), tcp->segment.payload.end());
        next += static_cast<uint32_t>(tcp->segment.payload.size());
        net.send(guest_tcp(listener.port(), isn + 1 + static_cast<uint32_t>(data.size()), next, packet::kTcpAck));
    }
    CHECK(received == reply);
    ::close(conn);
}

TEST_CASE("slirp back end: UDP to the gateway reaches the host's loopback and back", "[unit][user-net][slirp]")
{
    const HostSocket server(SOCK_DGRAM);
    Network net;
    net.introduce();
    const auto ping = pattern(500, 3);
    net.send(frames::udp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, frames::kHostIp, 40001, server.port(), ping));
    REQUIRE(server.readable(5000));
    uint8_t buffer[2048];
    sockaddr_in from{};
    socklen_t from_len = sizeof(from);
    const ssize_t n = ::recvfrom(server.fd(), buffer, sizeof(buffer), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    REQUIRE(n == static_cast<ssize_t>(ping.size()));
    CHECK(std::equal(ping.begin(), ping.end(), buffer));
    CHECK(from.sin_addr.s_addr == htonl(INADDR_LOOPBACK));

    const auto pong = pattern(700, 4);
    REQUIRE(::sendto(server.fd(), pong.data(), pong.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len) ==
            static_cast<ssize_t>(pong.size()));
    for (;;) {
        const auto frame = net.receive();
        REQUIRE(frame);
        const auto udp = frames::parse_udp4(*frame);
        if (!udp) {
            continue;
        }
        CHECK(udp->checksum_ok);
        CHECK(udp->source == frames::kHostIp);
        CHECK(udp->source_port == server.port());
        CHECK(udp->destination_port == 40001);
        CHECK(udp->payload == pong);
        break;
    }
}

TEST_CASE("slirp back end: a host forward turns a host connection into a SYN to the guest", "[unit][user-net][slirp]")
{
    UserNetOptions options;
    const uint16_t port = free_port();
    options.forwards.push_back({false, {127, 0, 0, 1}, port, {}, 8080});
    Network net(options);
    net.introduce();
    const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    REQUIRE(client >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int rc = ::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    REQUIRE((rc == 0 || errno == EINPROGRESS));
    const auto syn = net.receive_tcp();
    REQUIRE(syn);
    CHECK(syn->checksum_ok);
    CHECK(syn->segment.flags == packet::kTcpSyn);
    CHECK(syn->destination == frames::kGuestIp); // dhcpstart: the default guest address
    CHECK(syn->segment.destination_port == 8080);
    CHECK(syn->source == frames::kHostIp); // a connection from the host's loopback comes from the gateway
    ::close(client);
}

TEST_CASE("slirp back end: restrict=on resets connections elsewhere, lets the host through", "[unit][user-net][slirp]")
{
    const HostSocket listener(SOCK_STREAM);
    UserNetOptions options;
    options.restrict = true;
    Network net(options);
    net.introduce();

    net.send(guest_tcp(443, 5000, 0, packet::kTcpSyn, {}, {192, 0, 2, 1}));
    const auto reset = net.receive_tcp(2s);
    REQUIRE(reset);
    CHECK(reset->segment.flags == (packet::kTcpRst | packet::kTcpAck));
    CHECK(reset->segment.acknowledgment == 5001);
    CHECK(reset->source == frames::Ipv4{192, 0, 2, 1});
    net.send(frames::udp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, frames::kDnsIp, 40002, 53, pattern(30, 5)));
    CHECK(net.backend.stats().tx_restricted == 2);

    net.send(guest_tcp(listener.port(), 6000, 0, packet::kTcpSyn));
    const auto syn_ack = net.receive_tcp();
    REQUIRE(syn_ack);
    CHECK(syn_ack->segment.flags == (packet::kTcpSyn | packet::kTcpAck));
    CHECK(net.backend.stats().tx_restricted == 2);
}

TEST_CASE("slirp back end: malformed frames are refused, and the queue to the guest is bounded",
          "[unit][user-net][slirp]")
{
    UserNetOptions options;
    options.ipv6 = false; // no router advertisements among the frames counted below
    Network net(options);
    VnetHeader header{};
    header.flags = kVnetFlagNeedsCsum;
    header.csum_start = 2000;
    auto frame = guest_tcp(80, 1, 0, packet::kTcpSyn);
    const iovec iov[2] = {{&header, sizeof(header)}, {frame.data(), frame.size()}};
    CHECK(net.backend.write_frame(iov).error == EINVAL);
    const iovec tiny[1] = {{&header, sizeof(header)}};
    CHECK(net.backend.write_frame(tiny).error == EINVAL);
    CHECK(net.backend.stats().tx_malformed == 2);

    // Every ARP request gets a reply; nobody reads them: the queue stops at its bound.
    const auto arp = frames::arp_request(frames::kGuestMac, frames::kGuestIp, frames::kHostIp);
    for (size_t i = 0; i < SlirpBackend::kMaxQueuedFrames + 100; ++i) {
        net.send(arp);
    }
    const auto stats = net.backend.stats();
    CHECK(stats.rx_frames == SlirpBackend::kMaxQueuedFrames);
    CHECK(stats.rx_dropped == 100);
    size_t read = 0;
    while (net.receive(100ms)) {
        ++read;
    }
    CHECK(read == stats.rx_frames);
}

TEST_CASE("slirp back end: a host peer that went away does not end the process with SIGPIPE",
          "[unit][user-net][slirp]")
{
    const HostSocket listener(SOCK_STREAM);
    Network net;
    net.introduce();
    net.send(guest_tcp(listener.port(), 1000, 0, packet::kTcpSyn));
    const auto syn_ack = net.receive_tcp();
    REQUIRE(syn_ack);
    const uint32_t host_seq = syn_ack->segment.sequence + 1;
    net.send(guest_tcp(listener.port(), 1001, host_seq, packet::kTcpAck));
    REQUIRE(listener.readable(5000));
    const int conn = ::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(conn >= 0);
    ::close(conn);
    std::this_thread::sleep_for(100ms); // libslirp reads the FIN
    // Back to back: the first write is answered by a reset, the second fails with ECONNRESET,
    // the third with EPIPE, which raises SIGPIPE in the thread that wrote.
    uint32_t seq = 1001;
    for (int i = 0; i < 6; ++i) {
        net.send(guest_tcp(listener.port(), seq, host_seq, packet::kTcpAck | packet::kTcpPsh, pattern(1000, 6)));
        seq += 1000;
    }
    std::this_thread::sleep_for(200ms);
    // Still here (SIGPIPE's default action would have ended the test run): libslirp saw EPIPE
    // and closed the connection towards the guest.
    bool closed = false;
    while (const auto tcp = net.receive_tcp(2s)) {
        if ((tcp->segment.flags & (packet::kTcpFin | packet::kTcpRst)) != 0) {
            closed = true;
        }
    }
    CHECK(closed);
}

TEST_CASE("slirp back end: a TSO frame over IPv6 arrives as segments libslirp takes", "[unit][user-net][slirp]")
{
    // A listener on the host's ::1, which the guest reaches as fec0::2.
    const int listener = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) { // sockaddr_in6 is a sockaddr
        ::close(listener);
        WARN("SKIPPED: no IPv6 loopback here");
        return;
    }
    REQUIRE(::listen(listener, 1) == 0);
    socklen_t len = sizeof(addr);
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    const uint16_t port = ntohs(addr.sin6_port);

    const frames::Ipv6 guest{0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x15};
    const frames::Ipv6 host{0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
    const frames::Mac host_mac{0x52, 0x56, 0, 0, 0, 2}; // any: libslirp does not look at it
    Network net;
    net.send(frames::router_solicitation(frames::kGuestMac, guest)); // libslirp learns our MAC
    const auto tcp6 = [&](uint32_t seq, uint32_t ack, uint8_t flags, frames::Bytes payload = {}) {
        return frames::tcp6(frames::kGuestMac, host_mac, guest, host, {40000, port, seq, ack, flags, 65535, payload});
    };
    const auto receive_tcp6 = [&]() -> std::optional<frames::ReceivedTcp6> {
        while (const auto frame = net.receive()) {
            if (auto tcp = frames::parse_tcp6(*frame)) {
                return tcp;
            }
        }
        return std::nullopt;
    };
    net.send(tcp6(100, 0, packet::kTcpSyn));
    const auto syn_ack = receive_tcp6();
    REQUIRE(syn_ack);
    CHECK(syn_ack->checksum_ok);
    REQUIRE(syn_ack->segment.flags == (packet::kTcpSyn | packet::kTcpAck));
    const uint32_t host_seq = syn_ack->segment.sequence + 1;
    net.send(tcp6(101, host_seq, packet::kTcpAck));
    pollfd pfd{listener, POLLIN, 0};
    REQUIRE(::poll(&pfd, 1, 5000) == 1);
    const int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(conn >= 0);

    const auto data = pattern(9000, 7);
    auto tso = tcp6(101, host_seq, packet::kTcpAck | packet::kTcpPsh, data);
    frames::make_checksum_partial(tso, true);
    const auto before = net.backend.stats().tx_packets;
    net.send(tso, frames::tso_header(kVnetGsoTcpv6, 1428, 54));
    CHECK(net.backend.stats().tx_packets - before == 7); // 6 x 1428 + 432: libslirp's IPv6 takes no more than its MTU
    CHECK(HostSocket::read_exactly(conn, data.size()) == data);
    ::close(conn);
    ::close(listener);
}

TEST_CASE("slirp back end: two stacks in one process, each on its own loop thread", "[unit][user-net][slirp]")
{
    // libslirp has process-wide state: the back ends serialise their calls into it.
    const HostSocket server(SOCK_DGRAM);
    Network first;
    Network second;
    const auto run = [&](Network& net, unsigned seed) {
        for (int i = 0; i < 50; ++i) {
            net.send(frames::udp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, frames::kHostIp,
                                  static_cast<uint16_t>(41000 + seed), server.port(), pattern(100, seed)));
        }
    };
    first.introduce();
    second.introduce();
    std::thread a([&] { run(first, 1); });
    std::thread b([&] { run(second, 2); });
    a.join();
    b.join();
    size_t datagrams = 0;
    while (server.readable(1000)) {
        uint8_t buffer[2048];
        if (::recv(server.fd(), buffer, sizeof(buffer), 0) == 100) {
            ++datagrams;
        }
    }
    CHECK(datagrams == 100);
}

TEST_CASE("slirp back end: the guest's host sockets are bounded; beyond, new connections are reset",
          "[unit][user-net][slirp]")
{
    const HostSocket listener(SOCK_STREAM);
    UserNetOptions options;
    options.max_host_sockets = 3;
    options.ipv6 = false;
    Network net(options);
    net.introduce();
    std::vector<int> accepted;
    for (uint16_t i = 0; i < 3; ++i) {
        net.send(frames::tcp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, frames::kHostIp,
                              {static_cast<uint16_t>(40100 + i), listener.port(), 1000, 0, packet::kTcpSyn, 65535, {}}));
        const auto syn_ack = net.receive_tcp();
        REQUIRE(syn_ack);
        CHECK(syn_ack->segment.flags == (packet::kTcpSyn | packet::kTcpAck));
    }
    net.send(frames::tcp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, frames::kHostIp,
                          {40200, listener.port(), 1000, 0, packet::kTcpSyn, 65535, {}}));
    const auto reset = net.receive_tcp();
    REQUIRE(reset);
    CHECK(reset->segment.flags == (packet::kTcpRst | packet::kTcpAck));
    CHECK(reset->segment.destination_port == 40200);
    CHECK(net.backend.stats().tx_refused == 1);
}
