// What a user-mode (libslirp) network is made of, in the back end's own terms: the builder
// turns VmConfig's NetConfig into this, one host forward per port.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace minivmm::backends {

using Ipv4Address = std::array<uint8_t, 4>;

struct UserNetOptions {
    // One forwarded port: connections (TCP) or datagrams (UDP) to host_address:host_port on
    // the host reach guest_address:guest_port (0.0.0.0 as the guest address: dhcp_start).
    struct Forward {
        bool udp = false;
        Ipv4Address host_address{}; // 0.0.0.0: every address of the host
        uint16_t host_port = 0;
        Ipv4Address guest_address{};
        uint16_t guest_port = 0;
    };

    std::string name = "user"; // for log lines
    Ipv4Address network{10, 0, 2, 0};
    unsigned prefix_length = 24;
    Ipv4Address host{10, 0, 2, 2};       // the gateway; connections to it reach the host's loopback
    Ipv4Address dns{10, 0, 2, 3};        // DNS queries to it go to the host's resolver
    Ipv4Address dhcp_start{10, 0, 2, 15}; // the first address DHCP hands out
    bool ipv6 = true;                     // fec0::/64, host fec0::2, DNS fec0::3 (QEMU's defaults)
    bool restrict = false;                // restrict_policy.hpp
    // The most sockets the guest's traffic may keep open on the host at once (its TCP
    // connections, UDP and ICMP flows); at the bound a new TCP connection is refused with a
    // reset. UDP flows close after 4 idle minutes; every socket also counts against the
    // process's RLIMIT_NOFILE.
    size_t max_host_sockets = 1024;
    std::vector<Forward> forwards;
};

} // namespace minivmm::backends
