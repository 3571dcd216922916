#include "backends/net/transmit_offload.hpp"

#include "backends/net/packet_headers.hpp"

#include <algorithm>
#include <optional>

namespace minivmm::backends {
namespace {

using namespace packet;

TransmitOffloadResult complete_checksum(const VnetHeader& header, std::span<uint8_t> frame)
{
    const size_t start = header.csum_start;
    const size_t field = start + header.csum_offset;
    if (field + 2 > frame.size()) {
        return TransmitOffloadResult::ChecksumOutOfFrame;
    }
    const uint16_t sum = checksum_finish(checksum_add(frame.subspan(start)));
    write_be16(frame, field, sum == 0 ? 0xffff : sum);
    return TransmitOffloadResult::Done;
}

// Builds segment `index` (payload [offset, offset + size) of the TCP packet) in `out`.
void build_segment(std::span<const uint8_t> frame, const IpPacket& ip, const TcpHeader& tcp, size_t index,
                   size_t offset, size_t size, bool last, std::vector<uint8_t>& out)
{
    const size_t headers = tcp.offset + tcp.header_size;
    out.resize(headers + size);
    std::copy_n(frame.begin(), headers, out.begin());
    std::copy_n(frame.begin() + static_cast<std::ptrdiff_t>(headers + offset), size,
                out.begin() + static_cast<std::ptrdiff_t>(headers));
    const std::span<uint8_t> segment(out);
    const size_t l3 = ip.l3_offset;
    const auto tcp_length = static_cast<uint32_t>(tcp.header_size + size);
    if (ip.ipv6) {
        write_be16(segment, l3 + kIpv6PayloadLength, static_cast<uint16_t>(tcp.offset - l3 - kIpv6HeaderSize + tcp_length));
    } else {
        const size_t ip_header = tcp.offset - l3;
        write_be16(segment, l3 + kIpv4TotalLength, static_cast<uint16_t>(ip_header + tcp_length));
        write_be16(segment, l3 + kIpv4Id, static_cast<uint16_t>(read_be16(frame, l3 + kIpv4Id) + index));
        write_be16(segment, l3 + kIpv4Checksum, 0);
        write_be16(segment, l3 + kIpv4Checksum, checksum_finish(checksum_add(segment.subspan(l3, ip_header))));
    }
    write_be32(segment, tcp.offset + kTcpSequence, tcp.sequence + static_cast<uint32_t>(offset));
    uint8_t flags = tcp.flags;
    if (!last) {
        flags = static_cast<uint8_t>(flags & ~(kTcpFin | kTcpPsh));
    }
    if (index != 0) {
        flags = static_cast<uint8_t>(flags & ~kTcpCwr);
    }
    segment[tcp.offset + kTcpFlags] = flags;
    write_be16(segment, tcp.offset + kTcpChecksum, 0);
    const uint32_t sum = checksum_add(segment.subspan(tcp.offset), pseudo_header_sum(ip, tcp_length));
    write_be16(segment, tcp.offset + kTcpChecksum, checksum_finish(sum));
}

// The TSO segment as one packet: IPv4 header checksum and TCP checksum completed in place.
void finish_whole(std::span<uint8_t> frame, const IpPacket& ip, const TcpHeader& tcp)
{
    const size_t l3 = ip.l3_offset;
    const size_t ip_header = tcp.offset - l3;
    write_be16(frame, l3 + kIpv4Checksum, 0);
    write_be16(frame, l3 + kIpv4Checksum, checksum_finish(checksum_add(frame.subspan(l3, ip_header))));
    const auto tcp_length = static_cast<uint32_t>(ip.end - tcp.offset);
    write_be16(frame, tcp.offset + kTcpChecksum, 0);
    const uint32_t sum = checksum_add(frame.subspan(tcp.offset, tcp_length), pseudo_header_sum(ip, tcp_length));
    write_be16(frame, tcp.offset + kTcpChecksum, checksum_finish(sum));
}

TransmitOffloadResult segment_tcp(const VnetHeader& header, std::span<uint8_t> frame,
                                  std::vector<uint8_t>& scratch, const FrameSink& emit, bool whole_ipv4)
{
    const uint8_t type = header.gso_type & ~kVnetGsoEcn;
    if (type != kVnetGsoTcpv4 && type != kVnetGsoTcpv6) {
        return TransmitOffloadResult::UnsupportedGso;
    }
    const size_t mss = header.gso_size;
    if (mss < kMinSegmentSize) {
        return TransmitOffloadResult::BadSegmentSize;
    }
    const auto ip = parse_ip(frame);
    if (!ip || ip->ipv6 != (type == kVnetGsoTcpv6)) {
        return TransmitOffloadResult::NotTcp;
    }
    const auto tcp = parse_tcp(frame, *ip);
    if (!tcp) {
        return TransmitOffloadResult::NotTcp;
    }
    if (whole_ipv4 && !ip->ipv6) {
        finish_whole(frame, *ip, *tcp);
        emit(frame.first(ip->end));
        return TransmitOffloadResult::Done;
    }
    const size_t payload = ip->end - tcp->offset - tcp->header_size;
    if (payload == 0) {
        build_segment(frame, *ip, *tcp, 0, 0, 0, true, scratch);
        emit(scratch);
        return TransmitOffloadResult::Done;
    }
    size_t index = 0;
    for (size_t offset = 0; offset < payload; offset += mss, ++index) {
        const size_t size = std::min(mss, payload - offset);
        build_segment(frame, *ip, *tcp, index, offset, size, offset + size == payload, scratch);
        emit(scratch);
    }
    return TransmitOffloadResult::Done;
}

} // namespace

std::string_view to_string(TransmitOffloadResult result)
{
    switch (result) {
    case TransmitOffloadResult::Done:
        return "done";
    case TransmitOffloadResult::ChecksumOutOfFrame:
        return "checksum start/offset beyond the frame";
    case TransmitOffloadResult::NotTcp:
        return "TSO frame that is not one whole TCP packet";
    case TransmitOffloadResult::BadSegmentSize:
        return "TSO segment size below 48";
    case TransmitOffloadResult::UnsupportedGso:
        return "GSO type other than TCPv4/TCPv6";
    }
    return "unknown";
}

TransmitOffloadResult finish_transmit(const VnetHeader& header, std::span<uint8_t> frame,
                                      std::vector<uint8_t>& scratch, const FrameSink& emit, bool whole_ipv4_tso)
{
    if (header.gso_type != kVnetGsoNone) {
        return segment_tcp(header, frame, scratch, emit, whole_ipv4_tso);
    }
    if ((header.flags & kVnetFlagNeedsCsum) != 0) {
        const auto result = complete_checksum(header, frame);
        if (result != TransmitOffloadResult::Done) {
            return result;
        }
    }
    emit(frame);
    return TransmitOffloadResult::Done;
}

} // namespace minivmm::backends
