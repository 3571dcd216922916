// The frame work of the user-mode network, without libslirp: header parsing, the Internet
// checksum, the transmit offloads done in software (checksum completion, TSO segmentation)
// and the restrict=on policy.
#include "backends/net/packet_headers.hpp"
#include "backends/net/restrict_policy.hpp"
#include "backends/net/transmit_offload.hpp"
#include "support/guest_frames.hpp"

#include <catch2/catch.hpp>

#include <numeric>

using namespace minivmm;
using namespace minivmm::backends;
namespace frames = minivmm::test::frames;

namespace {

const frames::Mac kGatewayMac{0x52, 0x55, 10, 0, 2, 2};

frames::Bytes payload_of(size_t size)
{
    frames::Bytes bytes(size);
    for (size_t i = 0; i < size; ++i) {
        bytes[i] = static_cast<uint8_t>((i * 131 + 7) ^ (i >> 8));
    }
    return bytes;
}

std::vector<frames::Bytes> finish(const VnetHeader& header, frames::Bytes frame, TransmitOffloadResult expect =
                                                                                      TransmitOffloadResult::Done)
{
    std::vector<frames::Bytes> out;
    std::vector<uint8_t> scratch;
    const auto result = finish_transmit(header, frame, scratch, [&](std::span<const uint8_t> f) {
        out.emplace_back(f.begin(), f.end());
    });
    CHECK(result == expect);
    return out;
}

} // namespace

TEST_CASE("Internet checksum: RFC 1071's example and odd lengths", "[unit][user-net]")
{
    // RFC 1071 section 3: 0001 f203 f4f5 f6f7 sums to 0xddf2 (folded), checksum 0x220d.
    const std::array<uint8_t, 8> words{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    CHECK(packet::checksum_finish(packet::checksum_add(words)) == 0x220d);
    const std::array<uint8_t, 3> odd{0x12, 0x34, 0x56}; // 0x1234 + 0x5600
    CHECK(packet::checksum_finish(packet::checksum_add(odd)) == static_cast<uint16_t>(~0x6834));
    CHECK(packet::checksum_finish(packet::checksum_add(std::span<const uint8_t>())) == 0xffff);
}

TEST_CASE("headers: IPv4 with options, IPv6, TCP and UDP are found; malformed ones are not", "[unit][user-net]")
{
    auto frame = frames::tcp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, frames::kHostIp,
                              {1234, 80, 1000, 0, packet::kTcpSyn, 65535, payload_of(10)});
    auto ip = packet::parse_ip(frame);
    REQUIRE(ip);
    CHECK_FALSE(ip->ipv6);
    CHECK(ip->protocol == packet::kProtocolTcp);
    CHECK(ip->l4_offset == 34);
    CHECK(ip->end == frame.size());
    auto tcp = packet::parse_tcp(frame, *ip);
    REQUIRE(tcp);
    CHECK(tcp->source_port == 1234);
    CHECK(tcp->destination_port == 80);
    CHECK(tcp->sequence == 1000);
    CHECK(tcp->header_size == 20);
    CHECK_FALSE(packet::parse_udp(frame, *ip));

    // Ethernet padding after the IP packet is not part of it.
    auto padded = frame;
    padded.resize(frame.size() + 6, 0);
    CHECK(packet::parse_ip(padded)->end == frame.size());

    // Truncated, lying lengths, wrong versions: nothing.
    CHECK_FALSE(packet::parse_ip(std::span(frame).first(30)));
    auto lying = frame;
    lying[16] = 0xff; // total length past the frame
    CHECK_FALSE(packet::parse_ip(lying));
    auto short_header = frame;
    short_header[14] = 0x44; // IHL 4: shorter than the minimum
    CHECK_FALSE(packet::parse_ip(short_header));
    auto bad_offset = frame;
    bad_offset[34 + 12] = 0xf0; // data offset 60 > the segment
    CHECK_FALSE(packet::parse_tcp(bad_offset, *packet::parse_ip(bad_offset)));
    auto fragment = frame;
    fragment[20] = 0x20; // MF
    const auto fragment_ip = packet::parse_ip(fragment);
    REQUIRE(fragment_ip);
    CHECK(fragment_ip->fragment);
    CHECK_FALSE(packet::parse_tcp(fragment, *fragment_ip));

    const frames::Ipv6 a{0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x15};
    const frames::Ipv6 b{0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
    auto frame6 = frames::tcp6(frames::kGuestMac, kGatewayMac, a, b, {1, 2, 3, 0, packet::kTcpAck, 100, {}});
    const auto ip6 = packet::parse_ip(frame6);
    REQUIRE(ip6);
    CHECK(ip6->ipv6);
    CHECK(ip6->l4_offset == 54);
    CHECK(ip6->destination == b);
    CHECK(packet::parse_tcp(frame6, *ip6));

    const auto arp = frames::arp_request(frames::kGuestMac, frames::kGuestIp, frames::kHostIp);
    CHECK(packet::ether_type(arp) == packet::kEtherTypeArp);
    CHECK_FALSE(packet::parse_ip(arp));
}

TEST_CASE("TX offload: a partial checksum is completed as a full one", "[unit][user-net]")
{
    const auto complete = frames::tcp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, frames::kHostIp,
                                       {40000, 80, 7, 9, packet::kTcpAck | packet::kTcpPsh, 512, payload_of(999)});
    auto partial = complete;
    frames::make_checksum_partial(partial);
    REQUIRE(partial != complete);
    VnetHeader header{};
    header.flags = kVnetFlagNeedsCsum;
    header.csum_start = 34;
    header.csum_offset = 16;
    const auto out = finish(header, partial);
    REQUIRE(out.size() == 1);
    CHECK(out[0] == complete);

    // UDP: a checksum that computes to 0 is sent as 0xffff (0 means "no checksum" to UDP).
    // The first payload word is chosen to make it so: adding the checksum of the datagram with
    // that word zero brings the sum to 0xffff.
    auto data = payload_of(6);
    data[0] = data[1] = 0;
    auto udp = frames::udp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, frames::kHostIp, 1, 2, data);
    data[0] = udp[40];
    data[1] = udp[41];
    const auto zero_sum = frames::udp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, frames::kHostIp, 1, 2, data);
    REQUIRE((zero_sum[40] << 8 | zero_sum[41]) == 0xffff);
    REQUIRE(frames::parse_udp4(zero_sum)->checksum_ok);
    auto udp_partial = zero_sum;
    frames::make_checksum_partial(udp_partial);
    header.csum_offset = 6;
    CHECK(finish(header, udp_partial).at(0) == zero_sum);
    header.csum_offset = 16;

    // Offsets outside the frame: refused, nothing emitted.
    header.csum_start = static_cast<uint16_t>(partial.size() - 1);
    header.csum_offset = 0;
    CHECK(finish(header, partial, TransmitOffloadResult::ChecksumOutOfFrame).empty());
    header.csum_start = 34;
    header.csum_offset = 0xffff;
    CHECK(finish(header, partial, TransmitOffloadResult::ChecksumOutOfFrame).empty());

    // No offload asked for: the frame as it is.
    CHECK(finish(VnetHeader{}, partial).at(0) == partial);
}

TEST_CASE("TX offload: a TSO frame becomes the segments the guest's stack would have sent", "[unit][user-net]")
{
    const auto data = payload_of(10000);
    const frames::TcpSegment big{40000, 80, 0xfffff000, 77, packet::kTcpAck | packet::kTcpPsh | packet::kTcpFin, 512,
                                 data};
    auto frame = frames::tcp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, frames::kHostIp, big);
    frames::make_checksum_partial(frame, true);
    frame[14 + 4] = 0x12; // IP id 0x1200 + ...
    frame[14 + 5] = 0x00;
    const auto out = finish(frames::tso_header(kVnetGsoTcpv4, 1448, 34), frame);
    REQUIRE(out.size() == 7); // 6 x 1448 + 1312
    frames::Bytes joined;
    for (size_t i = 0; i < out.size(); ++i) {
        INFO("segment " << i);
        const auto tcp = frames::parse_tcp4(out[i]);
        REQUIRE(tcp);
        CHECK(tcp->checksum_ok);
        const auto ip = packet::parse_ip(out[i]);
        REQUIRE(ip);
        CHECK(packet::checksum_finish(packet::checksum_add(std::span(out[i]).subspan(14, 20))) == 0);
        CHECK(packet::read_be16(out[i], 18) == 0x1200 + i);          // IP id counts up
        CHECK(tcp->segment.sequence == static_cast<uint32_t>(0xfffff000 + 1448 * i)); // wraps past 2^32
        CHECK(tcp->segment.acknowledgment == 77);
        CHECK(tcp->segment.payload.size() == (i < 6 ? 1448U : 1312U));
        const bool last = i + 1 == out.size();
        CHECK(((tcp->segment.flags & packet::kTcpFin) != 0) == last);
        CHECK(((tcp->segment.flags & packet::kTcpPsh) != 0) == last);
        CHECK((tcp->segment.flags & packet::kTcpAck) != 0);
        joined.insert(joined.end(), tcp->segment.payload.begin(), tcp->segment.payload.end());
    }
    CHECK(joined == data);
}

TEST_CASE("TX offload: a TSO frame over IPv4 can stay one packet, its checksums completed", "[unit][user-net]")
{
    const auto complete = frames::tcp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, frames::kHostIp,
                                       {40000, 80, 123456, 77, packet::kTcpAck | packet::kTcpPsh, 512,
                                        payload_of(60000)});
    auto tso = complete;
    frames::make_checksum_partial(tso, true);
    tso[14 + 10] = tso[14 + 11] = 0; // the IP header checksum is the device's to fill in too
    tso.resize(tso.size() + 8, 0xee); // bytes after the IP packet: not part of it
    std::vector<frames::Bytes> out;
    std::vector<uint8_t> scratch;
    const auto result = finish_transmit(
        frames::tso_header(kVnetGsoTcpv4, 1448, 34), tso, scratch,
        [&](std::span<const uint8_t> f) { out.emplace_back(f.begin(), f.end()); }, true);
    CHECK(result == TransmitOffloadResult::Done);
    REQUIRE(out.size() == 1);
    CHECK(out[0] == complete);
    // IPv6 is segmented all the same (libslirp's IPv6 input refuses packets over its MTU).
    const frames::Ipv6 a{0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x15};
    const frames::Ipv6 b{0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
    auto frame6 = frames::tcp6(frames::kGuestMac, kGatewayMac, a, b, {5, 6, 1, 2, packet::kTcpAck, 100, payload_of(3000)});
    frames::make_checksum_partial(frame6, true);
    out.clear();
    CHECK(finish_transmit(
              frames::tso_header(kVnetGsoTcpv6, 1000, 54), frame6, scratch,
              [&](std::span<const uint8_t> f) { out.emplace_back(f.begin(), f.end()); }, true) ==
          TransmitOffloadResult::Done);
    CHECK(out.size() == 3);
}

TEST_CASE("TX offload: TSO over IPv6, CWR on the first segment only, and refusals", "[unit][user-net]")
{
    const frames::Ipv6 a{0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x15};
    const frames::Ipv6 b{0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
    auto frame6 = frames::tcp6(frames::kGuestMac, kGatewayMac, a, b,
                               {5, 6, 1, 2, packet::kTcpAck | packet::kTcpCwr, 100, payload_of(3000)});
    frames::make_checksum_partial(frame6, true);
    const auto out = finish(frames::tso_header(kVnetGsoTcpv6 | kVnetGsoEcn, 1000, 54), frame6);
    REQUIRE(out.size() == 3);
    for (size_t i = 0; i < out.size(); ++i) {
        const auto ip = packet::parse_ip(out[i]);
        REQUIRE(ip);
        CHECK(ip->end - ip->l4_offset == 1020);
        const auto tcp = packet::parse_tcp(out[i], *ip);
        REQUIRE(tcp);
        CHECK(((tcp->flags & packet::kTcpCwr) != 0) == (i == 0));
        const uint32_t sum = packet::checksum_add(std::span(out[i]).subspan(tcp->offset),
                                                  packet::pseudo_header_sum(*ip, 1020));
        CHECK(packet::checksum_finish(sum) == 0);
    }

    const auto plain = frames::tcp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, frames::kHostIp,
                                    {1, 2, 3, 4, packet::kTcpAck, 1, payload_of(3000)});
    // The type must match the packet, the segment size be sane, the type be TCP.
    CHECK(finish(frames::tso_header(kVnetGsoTcpv6, 1000, 34), plain, TransmitOffloadResult::NotTcp).empty());
    CHECK(finish(frames::tso_header(kVnetGsoTcpv4, 0, 34), plain, TransmitOffloadResult::BadSegmentSize).empty());
    CHECK(finish(frames::tso_header(kVnetGsoTcpv4, 47, 34), plain, TransmitOffloadResult::BadSegmentSize).empty());
    CHECK(finish(frames::tso_header(3 /* UFO */, 1000, 34), plain, TransmitOffloadResult::UnsupportedGso).empty());
    const auto udp = frames::udp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, frames::kHostIp, 1, 2,
                                  payload_of(3000));
    CHECK(finish(frames::tso_header(kVnetGsoTcpv4, 1000, 34), udp, TransmitOffloadResult::NotTcp).empty());
    // A TSO frame no longer than one segment is one (finished) segment.
    const auto one = finish(frames::tso_header(kVnetGsoTcpv4, 4000, 34), plain);
    REQUIRE(one.size() == 1);
    CHECK(frames::parse_tcp4(one[0])->checksum_ok);
}

TEST_CASE("restrict=on: only the host, the stack's services and hostfwd replies pass", "[unit][user-net]")
{
    RestrictPolicy policy;
    policy.host = {10, 0, 2, 2};
    policy.host6 = std::array<uint8_t, 16>{0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    policy.udp_forwards.push_back({{10, 0, 2, 15}, 5353});
    using V = RestrictPolicy::Verdict;
    const frames::Ipv4 outside{192, 0, 2, 1};
    const auto syn = [](const frames::Ipv4& to, uint8_t flags = packet::kTcpSyn) {
        return frames::tcp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, to, {40000, 80, 5, 0, flags, 100, {}});
    };
    const auto udp = [](const frames::Ipv4& to, uint16_t sport, uint16_t dport) {
        return frames::udp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, to, sport, dport, payload_of(20));
    };
    CHECK(policy.judge(frames::arp_request(frames::kGuestMac, frames::kGuestIp, frames::kHostIp)) == V::Allow);
    CHECK(policy.judge(syn(frames::kHostIp)) == V::Allow);
    CHECK(policy.judge(syn(outside)) == V::Reset);
    CHECK(policy.judge(syn(frames::kDnsIp)) == V::Reset); // DNS forwarding reaches the world
    CHECK(policy.judge(syn(outside, packet::kTcpSyn | packet::kTcpAck)) == V::Allow); // a hostfwd's handshake
    CHECK(policy.judge(syn(outside, packet::kTcpAck)) == V::Allow);
    CHECK(policy.judge(udp(frames::kHostIp, 1000, 9)) == V::Allow);
    CHECK(policy.judge(udp(outside, 1000, 9)) == V::Drop);
    CHECK(policy.judge(udp(frames::kDnsIp, 1000, 53)) == V::Drop);
    CHECK(policy.judge(udp(outside, 5353, 40000)) == V::Allow); // the guest side of the UDP hostfwd
    CHECK(policy.judge(frames::dhcp_message(frames::kGuestMac, 1)) == V::Allow);
    CHECK(policy.judge(udp({255, 255, 255, 255}, 68, 67)) == V::Allow);
    CHECK(policy.judge(udp(outside, 68, 67)) == V::Drop); // DHCP elsewhere is not the stack's
    auto ping = frames::ipv4_frame(frames::kGuestMac, kGatewayMac, frames::kGuestIp, outside, packet::kProtocolIcmp,
                                   payload_of(16));
    CHECK(policy.judge(ping) == V::Drop);
    auto fragment = syn(outside);
    fragment[20] = 0x20; // MF: the TCP flags may be in another fragment
    CHECK(policy.judge(fragment) == V::Drop);
    auto host_fragment = syn(frames::kHostIp);
    host_fragment[20] = 0x20;
    CHECK(policy.judge(host_fragment) == V::Allow);
    const auto whole = syn(outside);
    CHECK(policy.judge(std::span(whole).first(40)) == V::Drop); // truncated
    frames::Bytes vlan = syn(outside);
    vlan[12] = 0x81; // 802.1Q: neither IPv4 nor IPv6 nor ARP
    vlan[13] = 0x00;
    CHECK(policy.judge(vlan) == V::Drop);

    const frames::Ipv6 guest6{0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x15};
    const frames::Ipv6 outside6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    CHECK(policy.judge(frames::tcp6(frames::kGuestMac, kGatewayMac, guest6, *policy.host6,
                                    {1, 2, 3, 0, packet::kTcpSyn, 1, {}})) == V::Allow);
    CHECK(policy.judge(frames::tcp6(frames::kGuestMac, kGatewayMac, guest6, outside6,
                                    {1, 2, 3, 0, packet::kTcpSyn, 1, {}})) == V::Reset);
}

TEST_CASE("restrict=on: the reset answers the SYN it refuses", "[unit][user-net]")
{
    const frames::Ipv4 outside{192, 0, 2, 1};
    const auto syn = frames::tcp4(frames::kGuestMac, kGatewayMac, frames::kGuestIp, outside,
                                  {40000, 443, 1000, 0, packet::kTcpSyn, 100, {}});
    std::vector<uint8_t> reset;
    REQUIRE(make_tcp_reset(syn, reset));
    CHECK(std::equal(frames::kGuestMac.begin(), frames::kGuestMac.end(), reset.begin())); // to the guest
    CHECK(std::equal(kGatewayMac.begin(), kGatewayMac.end(), reset.begin() + 6));
    const auto tcp = frames::parse_tcp4(reset);
    REQUIRE(tcp);
    CHECK(tcp->checksum_ok);
    CHECK(tcp->source == outside);
    CHECK(tcp->destination == frames::kGuestIp);
    CHECK(tcp->segment.source_port == 443);
    CHECK(tcp->segment.destination_port == 40000);
    CHECK(tcp->segment.acknowledgment == 1001);
    CHECK(tcp->segment.flags == (packet::kTcpRst | packet::kTcpAck));
    CHECK(packet::checksum_finish(packet::checksum_add(std::span(reset).subspan(14, 20))) == 0);
    CHECK_FALSE(make_tcp_reset(frames::arp_request(frames::kGuestMac, frames::kGuestIp, outside), reset));
}
