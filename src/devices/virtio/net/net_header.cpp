// Which virtio-net header values each side may use: virtio 1.2 sections 5.1.6.2 and 5.1.6.3.
#include "devices/virtio/net/net_header.hpp"

namespace minivmm::virtio {
namespace {

// Whether `gso_type` is one the side holding `tso4`/`tso6` accepts. ECN and UFO are never
// negotiated by minivmm, so their types are always refused.
[[nodiscard]] bool gso_allowed(uint8_t gso_type, uint64_t features, uint64_t tso4, uint64_t tso6)
{
    switch (gso_type) {
    case kNetHdrGsoNone:
        return true;
    case kNetHdrGsoTcpV4:
        return (features & tso4) != 0;
    case kNetHdrGsoTcpV6:
        return (features & tso6) != 0;
    default:
        return false;
    }
}

} // namespace

std::optional<NetHeader> sanitize_tx_header(NetHeader header, uint64_t features)
{
    const bool needs_csum = (header.flags & kNetHdrFNeedsCsum) != 0;
    if (needs_csum && (features & kNetFCsum) == 0) {
        return std::nullopt;
    }
    // 5.1.6.2.1: HOST_TSO4/6 require CSUM, and a GSO frame comes with NEEDS_CSUM.
    if (!gso_allowed(header.gso_type, features, kNetFHostTso4, kNetFHostTso6) ||
        (header.gso_type != kNetHdrGsoNone && !needs_csum)) {
        return std::nullopt;
    }
    // DATA_VALID and RSC_INFO are the device's to set (5.1.6.2.1): a guest must not be able
    // to tell the host stack that a checksum was verified.
    header.flags &= kNetHdrFNeedsCsum;
    header.num_buffers = 0;
    return header;
}

std::optional<NetHeader> sanitize_rx_header(NetHeader header, uint64_t features)
{
    const bool guest_csum = (features & kNetFGuestCsum) != 0;
    if ((header.flags & kNetHdrFNeedsCsum) != 0 && !guest_csum) {
        return std::nullopt;
    }
    if (!gso_allowed(header.gso_type, features, kNetFGuestTso4, kNetFGuestTso6)) {
        return std::nullopt;
    }
    header.flags = guest_csum ? static_cast<uint8_t>(header.flags & (kNetHdrFNeedsCsum | kNetHdrFDataValid)) : 0;
    return header;
}

} // namespace minivmm::virtio
