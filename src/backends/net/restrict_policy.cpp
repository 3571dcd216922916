#include "backends/net/restrict_policy.hpp"

#include <algorithm>

namespace minivmm::backends {
namespace {

using namespace packet;
using Verdict = RestrictPolicy::Verdict;

constexpr uint16_t kDhcpServerPort = 67;
constexpr uint16_t kDhcpv6ServerPort = 547;
constexpr std::array<uint8_t, 4> kBroadcast{255, 255, 255, 255};
// ff02::1:2, All_DHCP_Relay_Agents_and_Servers (RFC 8415 7.1)
constexpr std::array<uint8_t, 16> kAllDhcpServers{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2};
// ICMPv6 router solicitation .. redirect (RFC 4861 4): neighbour discovery
constexpr uint8_t kIcmpv6FirstNdp = 133;
constexpr uint8_t kIcmpv6LastNdp = 137;

template <size_t N>
bool same_address(const IpAddressBytes& address, const std::array<uint8_t, N>& other)
{
    return std::equal(other.begin(), other.end(), address.begin());
}

Verdict judge_udp(const RestrictPolicy& policy, std::span<const uint8_t> frame, const IpPacket& ip)
{
    const auto udp = parse_udp(frame, ip);
    if (!udp) {
        return Verdict::Drop;
    }
    if (ip.ipv6) {
        const bool dhcpv6 = udp->destination_port == kDhcpv6ServerPort && same_address(ip.destination, kAllDhcpServers);
        return dhcpv6 ? Verdict::Allow : Verdict::Drop;
    }
    if (udp->destination_port == kDhcpServerPort && same_address(ip.destination, kBroadcast)) {
        return Verdict::Allow;
    }
    for (const auto& forward : policy.udp_forwards) {
        if (udp->source_port == forward.guest_port && same_address(ip.source, forward.guest_address)) {
            return Verdict::Allow;
        }
    }
    return Verdict::Drop;
}

} // namespace

Verdict RestrictPolicy::judge(std::span<const uint8_t> frame) const
{
    const auto type = ether_type(frame);
    if (type == kEtherTypeArp) {
        return Verdict::Allow;
    }
    const auto ip = parse_ip(frame);
    if (!ip) {
        return Verdict::Drop;
    }
    if (ip->ipv6) {
        if (host6 && same_address(ip->destination, *host6)) {
            return Verdict::Allow;
        }
        if (ip->protocol == kProtocolIcmpv6) {
            const bool ndp = ip->end > ip->l4_offset && frame[ip->l4_offset] >= kIcmpv6FirstNdp &&
                             frame[ip->l4_offset] <= kIcmpv6LastNdp;
            return ndp ? Verdict::Allow : Verdict::Drop;
        }
    } else {
        if (same_address(ip->destination, host)) {
            return Verdict::Allow;
        }
        if (ip->fragment) {
            return Verdict::Drop;
        }
    }
    if (ip->protocol == kProtocolTcp) {
        const auto tcp = parse_tcp(frame, *ip);
        if (!tcp) {
            return Verdict::Drop;
        }
        return (tcp->flags & (kTcpSyn | kTcpAck | kTcpRst)) == kTcpSyn ? Verdict::Reset : Verdict::Allow;
    }
    if (ip->protocol == kProtocolUdp) {
        return judge_udp(*this, frame, *ip);
    }
    return Verdict::Drop;
}

bool make_tcp_reset(std::span<const uint8_t> syn, std::vector<uint8_t>& out)
{
    const auto ip = parse_ip(syn);
    if (!ip) {
        return false;
    }
    const auto tcp = parse_tcp(syn, *ip);
    if (!tcp) {
        return false;
    }
    const size_t l3 = ip->l3_offset;
    const size_t ip_header = ip->ipv6 ? kIpv6HeaderSize : kIpv4MinHeaderSize;
    const size_t l4 = l3 + ip_header;
    out.assign(l4 + kTcpMinHeaderSize, 0);
    const std::span<uint8_t> frame(out);
    // Ethernet: back to the sender, from the address it sent to.
    std::copy_n(syn.begin() + 6, 6, frame.begin());
    std::copy_n(syn.begin(), 6, frame.begin() + 6);
    write_be16(frame, 12, ip->ipv6 ? kEtherTypeIpv6 : kEtherTypeIpv4);
    IpPacket reply = *ip;
    reply.source = ip->destination;
    reply.destination = ip->source;
    const size_t n = ip->address_size();
    if (ip->ipv6) {
        frame[l3] = 0x60;
        write_be16(frame, l3 + kIpv6PayloadLength, kTcpMinHeaderSize);
        frame[l3 + 6] = kProtocolTcp;
        frame[l3 + 7] = 64; // hop limit
        std::copy_n(reply.source.begin(), n, frame.begin() + static_cast<std::ptrdiff_t>(l3 + 8));
        std::copy_n(reply.destination.begin(), n, frame.begin() + static_cast<std::ptrdiff_t>(l3 + 24));
    } else {
        frame[l3] = 0x45;
        write_be16(frame, l3 + kIpv4TotalLength, kIpv4MinHeaderSize + kTcpMinHeaderSize);
        frame[l3 + 8] = 64; // TTL
        frame[l3 + 9] = kProtocolTcp;
        std::copy_n(reply.source.begin(), n, frame.begin() + static_cast<std::ptrdiff_t>(l3 + 12));
        std::copy_n(reply.destination.begin(), n, frame.begin() + static_cast<std::ptrdiff_t>(l3 + 16));
        write_be16(frame, l3 + kIpv4Checksum, checksum_finish(checksum_add(frame.subspan(l3, kIpv4MinHeaderSize))));
    }
    // TCP: RST|ACK acknowledging the SYN (and any data with it), RFC 9293 3.10.7.1.
    const auto payload = static_cast<uint32_t>(ip->end - tcp->offset - tcp->header_size);
    write_be16(frame, l4, tcp->destination_port);
    write_be16(frame, l4 + 2, tcp->source_port);
    write_be32(frame, l4 + kTcpAcknowledgment, tcp->sequence + 1 + payload);
    frame[l4 + 12] = (kTcpMinHeaderSize / 4) << 4;
    frame[l4 + kTcpFlags] = kTcpRst | kTcpAck;
    reply.protocol = kProtocolTcp;
    const uint32_t sum = checksum_add(frame.subspan(l4), pseudo_header_sum(reply, kTcpMinHeaderSize));
    write_be16(frame, l4 + kTcpChecksum, checksum_finish(sum));
    return true;
}

} // namespace minivmm::backends
