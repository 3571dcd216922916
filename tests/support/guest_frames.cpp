#include "support/guest_frames.hpp"

#include <algorithm>

namespace minivmm::test::frames {
namespace {

// An implementation of its own (RFC 1071), not the code under test's.
uint32_t sum16(std::span<const uint8_t> bytes, uint32_t sum = 0)
{
    for (size_t i = 0; i < bytes.size(); i += 2) {
        sum += static_cast<uint32_t>(bytes[i] << 8) | (i + 1 < bytes.size() ? bytes[i + 1] : 0U);
    }
    return sum;
}

uint16_t fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(~sum & 0xffff);
}

void put16(Bytes& b, size_t at, uint16_t v)
{
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}

void put32(Bytes& b, size_t at, uint32_t v)
{
    put16(b, at, static_cast<uint16_t>(v >> 16));
    put16(b, at + 2, static_cast<uint16_t>(v));
}

uint16_t get16(std::span<const uint8_t> b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }
uint32_t get32(std::span<const uint8_t> b, size_t at) { return uint32_t{get16(b, at)} << 16 | get16(b, at + 2); }

Bytes ethernet(const Mac& src, const Mac& dst, uint16_t type)
{
    Bytes frame(14);
    std::copy(dst.begin(), dst.end(), frame.begin());
    std::copy(src.begin(), src.end(), frame.begin() + 6);
    put16(frame, 12, type);
    return frame;
}

template <size_t N>
uint32_t pseudo_sum(const std::array<uint8_t, N>& src, const std::array<uint8_t, N>& dst, uint8_t protocol,
                    uint32_t length)
{
    uint32_t sum = sum16(src) + sum16(dst);
    return sum + protocol + (length >> 16) + (length & 0xffff);
}

Bytes tcp_header(const TcpSegment& s)
{
    Bytes tcp(20 + s.payload.size());
    put16(tcp, 0, s.source_port);
    put16(tcp, 2, s.destination_port);
    put32(tcp, 4, s.sequence);
    put32(tcp, 8, s.acknowledgment);
    tcp[12] = 5 << 4;
    tcp[13] = s.flags;
    put16(tcp, 14, s.window);
    std::copy(s.payload.begin(), s.payload.end(), tcp.begin() + 20);
    return tcp;
}

} // namespace

Bytes arp_request(const Mac& sender_mac, const Ipv4& sender, const Ipv4& target)
{
    Bytes frame = ethernet(sender_mac, kBroadcastMac, 0x0806);
    const uint8_t fixed[] = {0, 1, 8, 0, 6, 4, 0, 1}; // Ethernet, IPv4, sizes 6/4, request
    frame.insert(frame.end(), std::begin(fixed), std::end(fixed));
    frame.insert(frame.end(), sender_mac.begin(), sender_mac.end());
    frame.insert(frame.end(), sender.begin(), sender.end());
    frame.insert(frame.end(), 6, 0);
    frame.insert(frame.end(), target.begin(), target.end());
    return frame;
}

Bytes ipv4_frame(const Mac& src_mac, const Mac& dst_mac, const Ipv4& src, const Ipv4& dst, uint8_t protocol,
                 std::span<const uint8_t> l4, uint16_t id)
{
    Bytes frame = ethernet(src_mac, dst_mac, 0x0800);
    Bytes ip(20);
    ip[0] = 0x45;
    put16(ip, 2, static_cast<uint16_t>(20 + l4.size()));
    put16(ip, 4, id);
    put16(ip, 6, 0x4000); // DF
    ip[8] = 64;
    ip[9] = protocol;
    std::copy(src.begin(), src.end(), ip.begin() + 12);
    std::copy(dst.begin(), dst.end(), ip.begin() + 16);
    put16(ip, 10, fold(sum16(ip)));
    frame.insert(frame.end(), ip.begin(), ip.end());
    frame.insert(frame.end(), l4.begin(), l4.end());
    return frame;
}

Bytes udp4(const Mac& src_mac, const Mac& dst_mac, const Ipv4& src, const Ipv4& dst, uint16_t sport, uint16_t dport,
           std::span<const uint8_t> payload)
{
    Bytes udp(8);
    put16(udp, 0, sport);
    put16(udp, 2, dport);
    put16(udp, 4, static_cast<uint16_t>(8 + payload.size()));
    udp.insert(udp.end(), payload.begin(), payload.end());
    uint16_t sum = fold(sum16(udp, pseudo_sum(src, dst, 17, static_cast<uint32_t>(udp.size()))));
    put16(udp, 6, sum == 0 ? 0xffff : sum);
    return ipv4_frame(src_mac, dst_mac, src, dst, 17, udp);
}

Bytes tcp4(const Mac& src_mac, const Mac& dst_mac, const Ipv4& src, const Ipv4& dst, const TcpSegment& segment)
{
    Bytes tcp = tcp_header(segment);
    put16(tcp, 16, fold(sum16(tcp, pseudo_sum(src, dst, 6, static_cast<uint32_t>(tcp.size())))));
    return ipv4_frame(src_mac, dst_mac, src, dst, 6, tcp);
}

Bytes ipv6_frame(const Mac& src_mac, const Mac& dst_mac, const Ipv6& src, const Ipv6& dst, uint8_t protocol,
                 uint8_t hop_limit, const Bytes& l4)
{
    Bytes frame = ethernet(src_mac, dst_mac, 0x86dd);
    Bytes ip(40);
    ip[0] = 0x60;
    put16(ip, 4, static_cast<uint16_t>(l4.size()));
    ip[6] = protocol;
    ip[7] = hop_limit;
    std::copy(src.begin(), src.end(), ip.begin() + 8);
    std::copy(dst.begin(), dst.end(), ip.begin() + 24);
    frame.insert(frame.end(), ip.begin(), ip.end());
    frame.insert(frame.end(), l4.begin(), l4.end());
    return frame;
}

Bytes tcp6(const Mac& src_mac, const Mac& dst_mac, const Ipv6& src, const Ipv6& dst, const TcpSegment& segment)
{
    Bytes tcp = tcp_header(segment);
    put16(tcp, 16, fold(sum16(tcp, pseudo_sum(src, dst, 6, static_cast<uint32_t>(tcp.size())))));
    return ipv6_frame(src_mac, dst_mac, src, dst, 6, 64, tcp);
}

backends::VnetHeader tso_header(uint8_t type, uint16_t mss, size_t l4_offset)
{
    backends::VnetHeader h{};
    h.flags = backends::kVnetFlagNeedsCsum;
    h.gso_type = type;
    h.gso_size = mss;
    h.csum_start = static_cast<uint16_t>(l4_offset);
    h.csum_offset = 16;
    h.hdr_len = static_cast<uint16_t>(l4_offset + 20);
    return h;
}

Bytes router_solicitation(const Mac& mac, const Ipv6& source)
{
    const Ipv6 all_routers{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    Bytes icmp{133, 0, 0, 0, 0, 0, 0, 0, 1, 1}; // type, code, checksum, reserved; source link-layer option
    icmp.insert(icmp.end(), mac.begin(), mac.end());
    put16(icmp, 2, fold(sum16(icmp, pseudo_sum(source, all_routers, 58, static_cast<uint32_t>(icmp.size())))));
    return ipv6_frame(mac, Mac{0x33, 0x33, 0, 0, 0, 2}, source, all_routers, 58, 255, icmp);
}

std::optional<ReceivedTcp6> parse_tcp6(std::span<const uint8_t> frame)
{
    if (frame.size() < 74 || get16(frame, 12) != 0x86dd || frame[20] != 6) {
        return std::nullopt;
    }
    const size_t length = get16(frame, 18);
    if (frame.size() < 54 + length || length < 20) {
        return std::nullopt;
    }
    Ipv6 src{};
    Ipv6 dst{};
    std::copy_n(frame.begin() + 22, 16, src.begin());
    std::copy_n(frame.begin() + 38, 16, dst.begin());
    const size_t header = static_cast<size_t>(frame[54 + 12] >> 4) * 4;
    if (header < 20 || header > length) {
        return std::nullopt;
    }
    ReceivedTcp6 tcp;
    tcp.segment.source_port = get16(frame, 54);
    tcp.segment.destination_port = get16(frame, 56);
    tcp.segment.sequence = get32(frame, 58);
    tcp.segment.acknowledgment = get32(frame, 62);
    tcp.segment.flags = frame[54 + 13];
    tcp.segment.payload.assign(frame.begin() + static_cast<std::ptrdiff_t>(54 + header),
                               frame.begin() + static_cast<std::ptrdiff_t>(54 + length));
    tcp.checksum_ok =
        fold(sum16(frame.subspan(54, length), pseudo_sum(src, dst, 6, static_cast<uint32_t>(length)))) == 0;
    return tcp;
}

void make_checksum_partial(Bytes& frame, bool gso_length_zero)
{
    const bool v6 = get16(frame, 12) == 0x86dd;
    const size_t l4 = v6 ? 54 : 14 + size_t{frame[14] & 0x0fU} * 4;
    const uint8_t protocol = v6 ? frame[20] : frame[23];
    const size_t field = l4 + (protocol == 17 ? 6 : 16);
    const auto length = static_cast<uint32_t>(frame.size() - l4);
    uint32_t sum = 0;
    if (v6) {
        Ipv6 src{};
        Ipv6 dst{};
        std::copy_n(frame.begin() + 22, 16, src.begin());
        std::copy_n(frame.begin() + 38, 16, dst.begin());
        sum = pseudo_sum(src, dst, protocol, gso_length_zero ? 0 : length);
    } else {
        Ipv4 src{};
        Ipv4 dst{};
        std::copy_n(frame.begin() + 26, 4, src.begin());
        std::copy_n(frame.begin() + 30, 4, dst.begin());
        sum = pseudo_sum(src, dst, protocol, gso_length_zero ? 0 : length);
    }
    // The field holds the folded pseudo-header sum, not complemented (Linux: ~csum_fold(~sum)).
    put16(frame, field, static_cast<uint16_t>(~fold(sum)));
}

Bytes dhcp_message(const Mac& client, uint32_t xid, std::optional<Ipv4> requested, std::optional<Ipv4> server)
{
    Bytes bootp(240);
    bootp[0] = 1; // BOOTREQUEST
    bootp[1] = 1; // Ethernet
    bootp[2] = 6;
    put32(bootp, 4, xid);
    put16(bootp, 10, 0x8000); // broadcast flag
    std::copy(client.begin(), client.end(), bootp.begin() + 28);
    put32(bootp, 236, 0x63825363); // magic cookie
    const uint8_t type = requested ? 3 : 1;
    bootp.insert(bootp.end(), {53, 1, type});
    if (requested) {
        bootp.insert(bootp.end(), {50, 4});
        bootp.insert(bootp.end(), requested->begin(), requested->end());
    }
    if (server) {
        bootp.insert(bootp.end(), {54, 4});
        bootp.insert(bootp.end(), server->begin(), server->end());
    }
    bootp.push_back(255);
    return udp4(client, kBroadcastMac, Ipv4{}, Ipv4{255, 255, 255, 255}, 68, 67, bootp);
}

namespace {

// The IPv4 packet of `protocol` in `frame`: its addresses and where its payload lies.
struct Ipv4Payload {
    Ipv4 source{};
    Ipv4 destination{};
    size_t offset = 0;
    size_t length = 0;
};

std::optional<Ipv4Payload> ipv4_payload(std::span<const uint8_t> frame, uint8_t protocol, size_t min_length)
{
    if (frame.size() < 34 || get16(frame, 12) != 0x0800 || frame[23] != protocol) {
        return std::nullopt;
    }
    const size_t ihl = size_t{frame[14] & 0x0fU} * 4;
    const size_t total = get16(frame, 16);
    if (ihl < 20 || frame.size() < 14 + total || total < ihl + min_length) {
        return std::nullopt;
    }
    Ipv4Payload p;
    std::copy_n(frame.begin() + 26, 4, p.source.begin());
    std::copy_n(frame.begin() + 30, 4, p.destination.begin());
    p.offset = 14 + ihl;
    p.length = total - ihl;
    return p;
}

} // namespace

std::optional<ReceivedUdp> parse_udp4(std::span<const uint8_t> frame)
{
    const auto ip = ipv4_payload(frame, 17, 8);
    if (!ip) {
        return std::nullopt;
    }
    const size_t l4 = ip->offset;
    ReceivedUdp udp;
    udp.source = ip->source;
    udp.destination = ip->destination;
    udp.source_port = get16(frame, l4);
    udp.destination_port = get16(frame, l4 + 2);
    const size_t length = get16(frame, l4 + 4);
    if (length < 8 || length > ip->length) {
        return std::nullopt;
    }
    udp.payload.assign(frame.begin() + static_cast<std::ptrdiff_t>(l4 + 8),
                       frame.begin() + static_cast<std::ptrdiff_t>(l4 + length));
    udp.checksum_ok = get16(frame, l4 + 6) == 0 ||
                      fold(sum16(frame.subspan(l4, length), pseudo_sum(udp.source, udp.destination, 17,
                                                                       static_cast<uint32_t>(length)))) == 0;
    return udp;
}

std::optional<DhcpReply> parse_dhcp_reply(std::span<const uint8_t> frame)
{
    const auto udp = parse_udp4(frame);
    if (!udp || udp->source_port != 67 || udp->destination_port != 68 || udp->payload.size() < 240) {
        return std::nullopt;
    }
    const auto& p = udp->payload;
    if (p[0] != 2 || get32(p, 236) != 0x63825363) {
        return std::nullopt;
    }
    DhcpReply reply;
    reply.xid = get32(p, 4);
    std::copy_n(p.begin() + 16, 4, reply.your_address.begin());
    for (size_t i = 240; i < p.size() && p[i] != 255;) {
        if (p[i] == 0) {
            ++i;
            continue;
        }
        if (i + 1 >= p.size() || i + 2 + p[i + 1] > p.size()) {
            break;
        }
        const uint8_t code = p[i];
        const uint8_t len = p[i + 1];
        const auto value = std::span(p).subspan(i + 2, len);
        const auto address = [&]() {
            Ipv4 a{};
            if (len >= 4) {
                std::copy_n(value.begin(), 4, a.begin());
            }
            return a;
        };
        if (code == 53 && len == 1) {
            reply.type = value[0];
        } else if (code == 1) {
            reply.netmask = address();
        } else if (code == 3) {
            reply.router = address();
        } else if (code == 6) {
            reply.dns = address();
        } else if (code == 54) {
            reply.server = address();
        }
        i += 2 + len;
    }
    return reply;
}

std::optional<ReceivedTcp> parse_tcp4(std::span<const uint8_t> frame)
{
    const auto ip = ipv4_payload(frame, 6, 20);
    if (!ip) {
        return std::nullopt;
    }
    const size_t l4 = ip->offset;
    const size_t length = ip->length;
    const size_t header = static_cast<size_t>(frame[l4 + 12] >> 4) * 4;
    if (header < 20 || header > length) {
        return std::nullopt;
    }
    ReceivedTcp tcp;
    tcp.source = ip->source;
    tcp.destination = ip->destination;
    tcp.segment.source_port = get16(frame, l4);
    tcp.segment.destination_port = get16(frame, l4 + 2);
    tcp.segment.sequence = get32(frame, l4 + 4);
    tcp.segment.acknowledgment = get32(frame, l4 + 8);
    tcp.segment.flags = frame[l4 + 13];
    tcp.segment.window = get16(frame, l4 + 14);
    tcp.segment.payload.assign(frame.begin() + static_cast<std::ptrdiff_t>(l4 + header),
                               frame.begin() + static_cast<std::ptrdiff_t>(l4 + length));
    tcp.checksum_ok =
        fold(sum16(frame.subspan(l4, length), pseudo_sum(tcp.source, tcp.destination, 6,
                                                         static_cast<uint32_t>(length)))) == 0;
    return tcp;
}

} // namespace minivmm::test::frames
