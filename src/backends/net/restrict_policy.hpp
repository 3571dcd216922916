// restrict=on of the user-mode network: what a guest may reach. Allowed: the host (the `host`
// address, which libslirp maps to the host's loopback), the stack's own services (ARP,
// IPv6 neighbour discovery, DHCP), and the forwarded ports (replies of the guest's side of
// a hostfwd). Blocked: every other destination, including DNS forwarding (the host's
// resolver reaches the world). A blocked TCP connection attempt is answered with a reset so
// the guest fails at once instead of retrying for minutes; other blocked packets are dropped.
//
// Why not libslirp's own `restricted` flag: in libslirp 4.7 it also refuses the guest's
// connections to the host and every UDP packet, replies to a UDP hostfwd included.
//
// How a frame is judged (checked before libslirp sees it, on the guest's transmit path):
//  - ARP, and ICMPv6 neighbour/router discovery (types 133-137): allowed; libslirp answers
//    for its own addresses only.
//  - An IPv4 fragment: allowed only to the host (its TCP/UDP header may be in a later fragment).
//  - To the host (or to IPv6's host address): allowed.
//  - TCP: a connection attempt (SYN without ACK) elsewhere is reset; any other segment passes
//    (libslirp answers one that belongs to no connection with a reset, and a hostfwd's
//    connection exists already).
//  - UDP: DHCP (to 255.255.255.255 port 67; DHCPv6 to ff02::1:2 port 547) allowed; from the guest side of a UDP hostfwd
//    allowed; else dropped.
//  - ICMP: echo to the host is answered by libslirp itself; anything else is dropped.
//  - Anything else (other EtherTypes, IP protocols, malformed headers): dropped.
#pragma once

#include "backends/net/packet_headers.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace minivmm::backends {

struct RestrictPolicy {
    enum class Verdict { Allow, Drop, Reset };

    // The guest side of a UDP host forward: its replies come from here.
    struct UdpForward {
        std::array<uint8_t, 4> guest_address{};
        uint16_t guest_port = 0;
    };

    std::array<uint8_t, 4> host{};
    std::optional<std::array<uint8_t, 16>> host6; // when IPv6 is on
    std::vector<UdpForward> udp_forwards;

    [[nodiscard]] Verdict judge(std::span<const uint8_t> frame) const;
};

// The TCP reset answering `syn` (a frame judged Reset): RST|ACK from the destination back to
// the sender, acknowledging the SYN, in `out`. False when the frame is not a TCP segment.
[[nodiscard]] bool make_tcp_reset(std::span<const uint8_t> syn, std::vector<uint8_t>& out);

} // namespace minivmm::backends
