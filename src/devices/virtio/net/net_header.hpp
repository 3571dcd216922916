// virtio-net wire formats: feature bits (virtio 1.2 section 5.1.3), the configuration
// space (5.1.4) and the header in front of every frame (5.1.6), with the rules for which
// header values each side may use given the negotiated features (5.1.6.2, 5.1.6.3, 5.1.6.4).
// Little-endian layouts; x86 hosts only.
#pragma once

#include "backends/net/vnet_header.hpp"

#include <array>
#include <cstdint>
#include <optional>

namespace minivmm::virtio {

// Feature bits (5.1.3).
inline constexpr uint64_t kNetFCsum = 1ULL << 0;      // device handles partial checksums (TX)
inline constexpr uint64_t kNetFGuestCsum = 1ULL << 1; // driver handles partial checksums (RX)
inline constexpr uint64_t kNetFMac = 1ULL << 5;       // config space holds the MAC
inline constexpr uint64_t kNetFGuestTso4 = 1ULL << 7; // driver receives TSOv4
inline constexpr uint64_t kNetFGuestTso6 = 1ULL << 8; // driver receives TSOv6
inline constexpr uint64_t kNetFGuestEcn = 1ULL << 9;  // ... with ECN
inline constexpr uint64_t kNetFGuestUfo = 1ULL << 10; // driver receives UFO
inline constexpr uint64_t kNetFHostTso4 = 1ULL << 11; // device takes TSOv4
inline constexpr uint64_t kNetFHostTso6 = 1ULL << 12; // device takes TSOv6
inline constexpr uint64_t kNetFHostEcn = 1ULL << 13;  // ... with ECN
inline constexpr uint64_t kNetFHostUfo = 1ULL << 14;  // device takes UFO
inline constexpr uint64_t kNetFMrgRxbuf = 1ULL << 15; // driver can merge receive buffers
inline constexpr uint64_t kNetFStatus = 1ULL << 16;   // config status field is valid

// struct virtio_net_hdr (5.1.6) as virtio 1.x lays it out: num_buffers is always there. The
// packet back ends move it in front of every frame, so it is theirs (backends/net/vnet_header.hpp).
using NetHeader = backends::VnetHeader;
static_assert(sizeof(NetHeader) == 12);

inline constexpr uint8_t kNetHdrFNeedsCsum = 1;
inline constexpr uint8_t kNetHdrFDataValid = 2;
inline constexpr uint8_t kNetHdrGsoNone = 0;
inline constexpr uint8_t kNetHdrGsoTcpV4 = 1;
inline constexpr uint8_t kNetHdrGsoUdp = 3;
inline constexpr uint8_t kNetHdrGsoTcpV6 = 4;
inline constexpr uint8_t kNetHdrGsoEcn = 0x80;

// struct virtio_net_config (5.1.4), as far as the features minivmm offers use it: the
// rest of the space (mtu, speed, duplex, RSS) reads as zero.
struct NetConfigSpace {
    std::array<uint8_t, 6> mac;
    uint16_t status;
    uint16_t max_virtqueue_pairs;
};
static_assert(sizeof(NetConfigSpace) == 10);

inline constexpr uint16_t kNetSLinkUp = 1;

// A header the driver sent, as the device passes it on: nullopt if it asks for an offload
// that was not negotiated (NEEDS_CSUM without CSUM, a GSO type without HOST_TSO4/6, any
// UFO or ECN); flag bits the device must ignore (5.1.6.2.2) are cleared, num_buffers zeroed.
[[nodiscard]] std::optional<NetHeader> sanitize_tx_header(NetHeader header, uint64_t features);

// A header the back end delivered, as the driver may see it: nullopt if the frame needs an
// offload the driver did not negotiate (NEEDS_CSUM without GUEST_CSUM, GSO without
// GUEST_TSO4/6, UFO, ECN); without GUEST_CSUM flags become zero (5.1.6.3.2).
// num_buffers is the caller's to fill in.
[[nodiscard]] std::optional<NetHeader> sanitize_rx_header(NetHeader header, uint64_t features);

} // namespace minivmm::virtio
