#include "backends/net/packet_headers.hpp"

#include <algorithm>

namespace minivmm::backends::packet {

uint16_t read_be16(std::span<const uint8_t> bytes, size_t offset)
{
    return static_cast<uint16_t>((bytes[offset] << 8) | bytes[offset + 1]);
}

uint32_t read_be32(std::span<const uint8_t> bytes, size_t offset)
{
    return (uint32_t{read_be16(bytes, offset)} << 16) | read_be16(bytes, offset + 2);
}

void write_be16(std::span<uint8_t> bytes, size_t offset, uint16_t value)
{
    bytes[offset] = static_cast<uint8_t>(value >> 8);
    bytes[offset + 1] = static_cast<uint8_t>(value);
}

void write_be32(std::span<uint8_t> bytes, size_t offset, uint32_t value)
{
    write_be16(bytes, offset, static_cast<uint16_t>(value >> 16));
    write_be16(bytes, offset + 2, static_cast<uint16_t>(value));
}

std::optional<uint16_t> ether_type(std::span<const uint8_t> frame)
{
    if (frame.size() < kEthernetHeaderSize) {
        return std::nullopt;
    }
    return read_be16(frame, 12);
}

namespace {

std::optional<IpPacket> parse_ipv4(std::span<const uint8_t> frame)
{
    IpPacket ip;
    const size_t l3 = ip.l3_offset;
    if (frame.size() < l3 + kIpv4MinHeaderSize || (frame[l3] >> 4) != 4) {
        return std::nullopt;
    }
    const size_t header = size_t{frame[l3] & 0x0fU} * 4;
    const size_t total = read_be16(frame, l3 + kIpv4TotalLength);
    if (header < kIpv4MinHeaderSize || total < header || l3 + total > frame.size()) {
        return std::nullopt;
    }
    const uint16_t fragment = read_be16(frame, l3 + 6);
    ip.fragment = (fragment & 0x3fffU) != 0; // MF, or a fragment offset
    ip.protocol = frame[l3 + 9];
    ip.l4_offset = l3 + header;
    ip.end = l3 + total;
    std::copy_n(frame.begin() + static_cast<std::ptrdiff_t>(l3 + 12), 4, ip.source.begin());
    std::copy_n(frame.begin() + static_cast<std::ptrdiff_t>(l3 + 16), 4, ip.destination.begin());
    return ip;
}

std::optional<IpPacket> parse_ipv6(std::span<const uint8_t> frame)
{
    IpPacket ip;
    ip.ipv6 = true;
    const size_t l3 = ip.l3_offset;
    if (frame.size() < l3 + kIpv6HeaderSize || (frame[l3] >> 4) != 6) {
        return std::nullopt;
    }
    const size_t payload = read_be16(frame, l3 + kIpv6PayloadLength);
    if (l3 + kIpv6HeaderSize + payload > frame.size()) {
        return std::nullopt; // also a jumbogram (payload length 0 and a hop-by-hop option): not ours
    }
    ip.protocol = frame[l3 + 6];
    ip.l4_offset = l3 + kIpv6HeaderSize;
    ip.end = ip.l4_offset + payload;
    std::copy_n(frame.begin() + static_cast<std::ptrdiff_t>(l3 + 8), 16, ip.source.begin());
    std::copy_n(frame.begin() + static_cast<std::ptrdiff_t>(l3 + 24), 16, ip.destination.begin());
    return ip;
}

} // namespace

std::optional<IpPacket> parse_ip(std::span<const uint8_t> frame)
{
    const auto type = ether_type(frame);
    if (type == kEtherTypeIpv4) {
        return parse_ipv4(frame);
    }
    if (type == kEtherTypeIpv6) {
        return parse_ipv6(frame);
    }
    return std::nullopt;
}

std::optional<TcpHeader> parse_tcp(std::span<const uint8_t> frame, const IpPacket& ip)
{
    if (ip.protocol != kProtocolTcp || ip.fragment || ip.end - ip.l4_offset < kTcpMinHeaderSize) {
        return std::nullopt;
    }
    TcpHeader tcp;
    tcp.offset = ip.l4_offset;
    tcp.header_size = static_cast<size_t>(frame[tcp.offset + 12] >> 4) * 4;
    if (tcp.header_size < kTcpMinHeaderSize || tcp.header_size > ip.end - tcp.offset) {
        return std::nullopt;
    }
    tcp.source_port = read_be16(frame, tcp.offset);
    tcp.destination_port = read_be16(frame, tcp.offset + 2);
    tcp.sequence = read_be32(frame, tcp.offset + kTcpSequence);
    tcp.flags = frame[tcp.offset + kTcpFlags];
    return tcp;
}

std::optional<UdpHeader> parse_udp(std::span<const uint8_t> frame, const IpPacket& ip)
{
    if (ip.protocol != kProtocolUdp || ip.fragment || ip.end - ip.l4_offset < kUdpHeaderSize) {
        return std::nullopt;
    }
    return UdpHeader{ip.l4_offset, read_be16(frame, ip.l4_offset), read_be16(frame, ip.l4_offset + 2)};
}

uint32_t checksum_add(std::span<const uint8_t> bytes, uint32_t sum)
{
    // 64-bit accumulator over 16-bit words: no carry is lost for any frame size minivmm sees.
    uint64_t acc = sum;
    size_t i = 0;
    for (; i + 1 < bytes.size(); i += 2) {
        acc += (uint32_t{bytes[i]} << 8) | bytes[i + 1];
    }
    if (i < bytes.size()) {
        acc += uint32_t{bytes[i]} << 8;
    }
    while ((acc >> 32) != 0) {
        acc = (acc & 0xffffffffU) + (acc >> 32);
    }
    return static_cast<uint32_t>(acc);
}

uint16_t checksum_finish(uint32_t sum)
{
    while ((sum >> 16) != 0) {
        sum = (sum & 0xffffU) + (sum >> 16);
    }
    return static_cast<uint16_t>(~sum);
}

uint32_t pseudo_header_sum(const IpPacket& ip, uint32_t length)
{
    const size_t n = ip.address_size();
    uint32_t sum = checksum_add(std::span(ip.source).first(n));
    sum = checksum_add(std::span(ip.destination).first(n), sum);
    // IPv4: zero, protocol, 16-bit length; IPv6: 32-bit length, three zeros, next header.
    // As 16-bit words both come to protocol + length (halves of the 32-bit length).
    sum = checksum_add(std::array<uint8_t, 8>{static_cast<uint8_t>(length >> 24), static_cast<uint8_t>(length >> 16),
                                              static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length), 0, 0,
                                              0, ip.protocol},
                       sum);
    return sum;
}

} // namespace minivmm::backends::packet
