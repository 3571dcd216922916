// The 12-byte virtio-net header in front of every frame a packet back end moves (virtio 1.2
// section 5.1.6, struct virtio_net_hdr_v1 with num_buffers; Linux's <linux/virtio_net.h>,
// which does not compile as C++). Little-endian fields: x86 hosts only.
#pragma once

#include <cstdint>

namespace minivmm::backends {

struct VnetHeader {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
};
static_assert(sizeof(VnetHeader) == 12);

inline constexpr uint8_t kVnetFlagNeedsCsum = 1; // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr uint8_t kVnetFlagDataValid = 2; // VIRTIO_NET_HDR_F_DATA_VALID
inline constexpr uint8_t kVnetGsoNone = 0;       // VIRTIO_NET_HDR_GSO_NONE
inline constexpr uint8_t kVnetGsoTcpv4 = 1;      // VIRTIO_NET_HDR_GSO_TCPV4
inline constexpr uint8_t kVnetGsoTcpv6 = 4;      // VIRTIO_NET_HDR_GSO_TCPV6
inline constexpr uint8_t kVnetGsoEcn = 0x80;     // VIRTIO_NET_HDR_GSO_ECN

} // namespace minivmm::backends
