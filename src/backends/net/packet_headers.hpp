// The headers of an Ethernet frame, as far as the user-mode network looks into the frames a
// guest sends: Ethernet II (IEEE 802.3 with an EtherType; no VLAN tag, which libslirp does
// not take either), IPv4 (RFC 791, options allowed), IPv6 (RFC 8200; an extension header
// ends the parse: libslirp takes none), and the fixed part of TCP (RFC 9293) and UDP (RFC
// 768) headers; plus the Internet checksum (RFC 1071). Pure functions on spans: every
// offset and length is checked against the frame, which is guest data.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace minivmm::backends::packet {

inline constexpr size_t kEthernetHeaderSize = 14;
inline constexpr size_t kIpv4MinHeaderSize = 20;
inline constexpr size_t kIpv6HeaderSize = 40;
inline constexpr size_t kTcpMinHeaderSize = 20;
inline constexpr size_t kUdpHeaderSize = 8;

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;

inline constexpr uint8_t kProtocolIcmp = 1;
inline constexpr uint8_t kProtocolTcp = 6;
inline constexpr uint8_t kProtocolUdp = 17;
inline constexpr uint8_t kProtocolIcmpv6 = 58;

// TCP header flags (RFC 9293 3.1, with CWR/ECE of RFC 3168).
inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpCwr = 0x80;

// Offsets inside the headers.
inline constexpr size_t kIpv4TotalLength = 2;
inline constexpr size_t kIpv4Id = 4;
inline constexpr size_t kIpv4Checksum = 10;
inline constexpr size_t kIpv6PayloadLength = 4;
inline constexpr size_t kTcpSequence = 4;
inline constexpr size_t kTcpAcknowledgment = 8;
inline constexpr size_t kTcpFlags = 13;
inline constexpr size_t kTcpChecksum = 16;

using IpAddressBytes = std::array<uint8_t, 16>; // an IPv4 address uses the first 4

// An IP packet inside an Ethernet frame; offsets count from the frame's first byte.
struct IpPacket {
    bool ipv6 = false;
    size_t l3_offset = kEthernetHeaderSize;
    size_t l4_offset = 0;  // the upper-layer header
    size_t end = 0;        // where the IP packet ends (the frame may be longer: padding)
    uint8_t protocol = 0;  // IPv4 protocol or IPv6 next header
    bool fragment = false; // IPv4 with MF set or a fragment offset: l4 may not be there
    IpAddressBytes source{};
    IpAddressBytes destination{};

    [[nodiscard]] size_t address_size() const { return ipv6 ? 16 : 4; }
};

struct TcpHeader {
    size_t offset = 0;     // in the frame
    size_t header_size = 0; // data offset x 4, options included
    uint16_t source_port = 0;
    uint16_t destination_port = 0;
    uint32_t sequence = 0;
    uint8_t flags = 0;
};

struct UdpHeader {
    size_t offset = 0;
    uint16_t source_port = 0;
    uint16_t destination_port = 0;
};

[[nodiscard]] uint16_t read_be16(std::span<const uint8_t> bytes, size_t offset);
[[nodiscard]] uint32_t read_be32(std::span<const uint8_t> bytes, size_t offset);
void write_be16(std::span<uint8_t> bytes, size_t offset, uint16_t value);
void write_be32(std::span<uint8_t> bytes, size_t offset, uint32_t value);

// The EtherType; nullopt for a frame shorter than an Ethernet header.
[[nodiscard]] std::optional<uint16_t> ether_type(std::span<const uint8_t> frame);
// The IPv4 or IPv6 packet of the frame; nullopt when it is neither, or its headers do not
// fit the frame or contradict each other (a total length shorter than the header...).
[[nodiscard]] std::optional<IpPacket> parse_ip(std::span<const uint8_t> frame);
// The TCP/UDP header of `ip` (protocol checked; nullopt for a fragment or a header that does
// not fit inside the IP packet).
[[nodiscard]] std::optional<TcpHeader> parse_tcp(std::span<const uint8_t> frame, const IpPacket& ip);
[[nodiscard]] std::optional<UdpHeader> parse_udp(std::span<const uint8_t> frame, const IpPacket& ip);

// RFC 1071: the 32-bit running one's-complement sum of `bytes` as big-endian 16-bit words
// (an odd last byte padded with zero), added to `sum`.
[[nodiscard]] uint32_t checksum_add(std::span<const uint8_t> bytes, uint32_t sum = 0);
// The sum folded to 16 bits and complemented: the value a checksum field holds.
[[nodiscard]] uint16_t checksum_finish(uint32_t sum);
// The pseudo-header sum of TCP/UDP over IPv4 (RFC 9293 3.1) or IPv6 (RFC 8200 8.1) for an
// upper-layer packet of `length` bytes.
[[nodiscard]] uint32_t pseudo_header_sum(const IpPacket& ip, uint32_t length);

} // namespace minivmm::backends::packet
