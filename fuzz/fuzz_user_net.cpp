// libFuzzer target: the user-mode network's handling of frames a guest sends, before libslirp
// sees them (libslirp itself is not run: it would open real sockets): the virtio-net header
// and frame through the software offloads (checksum completion, TSO whole and segmented),
// restrict=on's judgement and the reset it builds. Beyond "no crash, no out-of-bounds access",
// every packet the offloads emit is checked as a receiver would: its IPv4 header checksum and
// its TCP checksum verify, and it is no longer than the frame it came from allows.
//
// Input: byte 0 bit 0 = TSO whole for IPv4 (as the back end runs it) or segmented; then the
// 12-byte virtio-net header; the rest is the Ethernet frame.
#include "backends/net/packet_headers.hpp"
#include "backends/net/restrict_policy.hpp"
#include "backends/net/transmit_offload.hpp"
#include "fuzz_support.hpp"

#include <cstdlib>
#include <vector>

using namespace minivmm;
using namespace minivmm::backends;

namespace {

void require(bool condition)
{
    if (!condition) {
        std::abort(); // libFuzzer reports the input
    }
}

// No packet is longer than the frame it came from (a segment is the headers and part of the
// payload); a TSO segment, or a reset, must carry valid checksums, as a receiver checks them.
void check_emitted(std::span<const uint8_t> packet, size_t frame_size, bool tso)
{
    require(packet.size() <= frame_size);
    if (!tso) {
        return;
    }
    const auto ip = packet::parse_ip(packet);
    require(ip.has_value());
    const auto tcp = packet::parse_tcp(packet, *ip);
    require(tcp.has_value());
    if (!ip->ipv6) {
        const size_t header = tcp->offset - ip->l3_offset;
        require(packet::checksum_finish(packet::checksum_add(packet.subspan(ip->l3_offset, header))) == 0);
    }
    const auto length = static_cast<uint32_t>(ip->end - tcp->offset);
    const uint32_t sum = packet::checksum_add(packet.subspan(tcp->offset, length), packet::pseudo_header_sum(*ip, length));
    require(packet::checksum_finish(sum) == 0);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    fuzz::silence_logs();
    fuzz::Input input(data, size);
    const bool whole = (input.take<uint8_t>() & 1U) != 0;
    const auto header = input.take<VnetHeader>();
    const auto rest = input.rest();
    std::vector<uint8_t> frame(rest.begin(), rest.end());

    RestrictPolicy policy;
    policy.host = {10, 0, 2, 2};
    policy.host6 = std::array<uint8_t, 16>{0xfe, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    policy.udp_forwards.push_back({{10, 0, 2, 15}, 5353});
    if (policy.judge(frame) == RestrictPolicy::Verdict::Reset) {
        std::vector<uint8_t> reset;
        require(make_tcp_reset(frame, reset)); // a Reset verdict is only ever given to a TCP segment
        check_emitted(reset, reset.size(), true);
    }

    const size_t frame_size = frame.size();
    const bool tso = header.gso_type != kVnetGsoNone;
    std::vector<uint8_t> scratch;
    size_t emitted = 0;
    const auto result = finish_transmit(
        header, frame, scratch,
        [&](std::span<const uint8_t> packet) {
            ++emitted;
            check_emitted(packet, frame_size, tso);
        },
        whole);
    require(result != TransmitOffloadResult::Done || emitted > 0);
    require(result == TransmitOffloadResult::Done || emitted == 0);
    // A TSO frame's segments: at most one per kMinSegmentSize bytes of payload.
    require(emitted <= 1 + frame_size / kMinSegmentSize);
    return 0;
}
