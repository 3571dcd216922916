// The transmit offloads of virtio-net (virtio 1.2 section 5.1.6.2), done in software for a
// back end that takes only finished frames (libslirp, which checks every checksum and is
// fed one packet at a time):
//  - VIRTIO_NET_HDR_F_NEEDS_CSUM: the one's-complement sum from csum_start to the end of the
//    frame is stored at csum_start + csum_offset (the field holds the pseudo-header sum the
//    driver put there, as the spec has it); a result of 0 is stored as 0xffff, as Linux's
//    skb_checksum_help does (both mean zero; 0 would mean "no checksum" to UDP).
//  - VIRTIO_NET_HDR_GSO_TCPV6 (TSO over IPv6): the TCP segment is cut into gso_size payloads,
//    each a frame of its own as the sending stack would have built it (Linux's
//    tcp_gso_segment): headers copied; the IPv6 payload length set; sequence numbers advanced;
//    FIN and PSH on the last segment only, CWR on the first only; the TCP checksum in full.
//  - VIRTIO_NET_HDR_GSO_TCPV4 (TSO over IPv4): by default the same, with the IPv4 total
//    length, identification (+1 per segment) and header checksum set per segment. With
//    `whole_ipv4_tso` the segment stays whole instead: one IPv4 packet of up to 64 KiB with its
//    checksums completed, which is what a receiving stack's GRO would have made of the segments.
//    For libslirp this is a valid packet (its IPv4 input takes any length up to 65535; only
//    its IPv6 input refuses packets over its MTU) and a TCP segment like any other, so the
//    guest's byte stream arrives unchanged, in one tcp_input and one send() on the host
//    socket instead of ~45 of each. Measured (bench/net.sh user rows, nested KVM): guest->host
//    TCP 30.5 Mbit/s whole against 10.1 segmented (N=2), which was barely faster than offering
//    no offload at all; 8.2 against 3.8 without offloads and 3.3 for QEMU in a later run (N=3).
// The header's hdr_len is a hint (5.1.6.2.1) and not trusted: the headers are parsed from the
// frame. UFO/USO are not handled (the device does not offer them).
#pragma once

#include "backends/net/vnet_header.hpp"

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

namespace minivmm::backends {

enum class TransmitOffloadResult {
    Done,
    ChecksumOutOfFrame, // csum_start/csum_offset point past the frame
    NotTcp,             // a TSO frame that is not one TCP/IPv4 or TCP/IPv6 packet (or an IPv4 fragment)
    BadSegmentSize,     // gso_size 0, or below kMinSegmentSize
    UnsupportedGso,     // a GSO type other than TCPv4/TCPv6
};

[[nodiscard]] std::string_view to_string(TransmitOffloadResult result);

// Segments smaller than this are refused: TCP's smallest MSS in Linux (TCP_MIN_SND_MSS).
// Bounds the work one 64 KiB frame can cause to ~1400 segments.
inline constexpr uint16_t kMinSegmentSize = 48;

using FrameSink = std::function<void(std::span<const uint8_t> frame)>;

// Finishes `frame` (an Ethernet frame, without the virtio-net header) as `header` asks and
// hands each finished frame to `emit`: the frame itself, its checksum completed in place, or
// the segments of a TSO frame, built one at a time in `scratch`. Nothing is emitted unless
// the result is Done.
[[nodiscard]] TransmitOffloadResult finish_transmit(const VnetHeader& header, std::span<uint8_t> frame,
                                                    std::vector<uint8_t>& scratch, const FrameSink& emit,
                                                    bool whole_ipv4_tso = false);

} // namespace minivmm::backends
