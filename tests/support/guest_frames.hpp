// Ethernet frames as a guest's network stack would send them, made by hand for tests and fuzz
// seeds of the user-mode network (no guest needed): ARP, IPv4/IPv6 with TCP or UDP, DHCP
// (RFC 2131) DISCOVER/REQUEST, and readers for what comes back. Checksums are complete unless
// a builder says otherwise; libslirp checks them, so a wrong one fails the test that sends it.
#pragma once

#include "backends/net/vnet_header.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace minivmm::test::frames {

using Mac = std::array<uint8_t, 6>;
using Ipv4 = std::array<uint8_t, 4>;
using Ipv6 = std::array<uint8_t, 16>;
using Bytes = std::vector<uint8_t>;

inline constexpr Mac kGuestMac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
inline constexpr Mac kBroadcastMac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
inline constexpr Ipv4 kGuestIp{10, 0, 2, 15};
inline constexpr Ipv4 kHostIp{10, 0, 2, 2};
inline constexpr Ipv4 kDnsIp{10, 0, 2, 3};

struct TcpSegment {
    uint16_t source_port = 0;
    uint16_t destination_port = 0;
    uint32_t sequence = 0;
    uint32_t acknowledgment = 0;
    uint8_t flags = 0;
    uint16_t window = 65535;
    Bytes payload;
};

// "who has `target`? tell `sender`"
[[nodiscard]] Bytes arp_request(const Mac& sender_mac, const Ipv4& sender, const Ipv4& target);
// An IPv4 packet of `protocol` carrying `l4` in a frame from `src_mac` to `dst_mac`.
[[nodiscard]] Bytes ipv4_frame(const Mac& src_mac, const Mac& dst_mac, const Ipv4& src, const Ipv4& dst,
                               uint8_t protocol, std::span<const uint8_t> l4, uint16_t id = 1);
[[nodiscard]] Bytes udp4(const Mac& src_mac, const Mac& dst_mac, const Ipv4& src, const Ipv4& dst, uint16_t sport,
                         uint16_t dport, std::span<const uint8_t> payload);
[[nodiscard]] Bytes tcp4(const Mac& src_mac, const Mac& dst_mac, const Ipv4& src, const Ipv4& dst,
                         const TcpSegment& segment);
[[nodiscard]] Bytes tcp6(const Mac& src_mac, const Mac& dst_mac, const Ipv6& src, const Ipv6& dst,
                         const TcpSegment& segment);
// The virtio-net header of a TSO frame (type kVnetGsoTcpv4/6) whose TCP header starts at
// `l4_offset`, with a partial checksum (make_checksum_partial), as Linux's driver sends it.
[[nodiscard]] backends::VnetHeader tso_header(uint8_t type, uint16_t mss, size_t l4_offset);

// ICMPv6 router solicitation (RFC 4861 4.1) from `source`: libslirp learns the guest's MAC
// address for `source` from it, as from ARP for IPv4.
[[nodiscard]] Bytes router_solicitation(const Mac& mac, const Ipv6& source);
// The TCP or UDP checksum field replaced by the pseudo-header sum only, as a driver leaves it
// for VIRTIO_NET_HDR_F_NEEDS_CSUM (csum_start = the TCP/UDP header, csum_offset = 16 or 6). With
// `gso_length_zero` the length in that sum is 0, as Linux fills it for a TSO frame.
void make_checksum_partial(Bytes& frame, bool gso_length_zero = false);

// DHCP DISCOVER (`requested` empty) or REQUEST for `requested` from server `server`.
[[nodiscard]] Bytes dhcp_message(const Mac& client, uint32_t xid, std::optional<Ipv4> requested = std::nullopt,
                                 std::optional<Ipv4> server = std::nullopt);

// A DHCP reply as the guest reads it.
struct DhcpReply {
    uint8_t type = 0; // option 53: 2 OFFER, 5 ACK, 6 NAK
    uint32_t xid = 0;
    Ipv4 your_address{};
    std::optional<Ipv4> router;
    std::optional<Ipv4> dns;
    std::optional<Ipv4> server;
    std::optional<Ipv4> netmask;
};
[[nodiscard]] std::optional<DhcpReply> parse_dhcp_reply(std::span<const uint8_t> frame);

// A TCP segment to the guest (IPv4), checksum verified.
struct ReceivedTcp {
    Ipv4 source{};
    Ipv4 destination{};
    TcpSegment segment;
    bool checksum_ok = false;
};
[[nodiscard]] std::optional<ReceivedTcp> parse_tcp4(std::span<const uint8_t> frame);

// A TCP segment to the guest over IPv6, checksum verified.
struct ReceivedTcp6 {
    TcpSegment segment;
    bool checksum_ok = false;
};
[[nodiscard]] std::optional<ReceivedTcp6> parse_tcp6(std::span<const uint8_t> frame);

struct ReceivedUdp {
    Ipv4 source{};
    Ipv4 destination{};
    uint16_t source_port = 0;
    uint16_t destination_port = 0;
    Bytes payload;
    bool checksum_ok = false;
};
[[nodiscard]] std::optional<ReceivedUdp> parse_udp4(std::span<const uint8_t> frame);

} // namespace minivmm::test::frames
