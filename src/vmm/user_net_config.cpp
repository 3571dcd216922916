#include "vmm/user_net_config.hpp"

#include <fmt/format.h>

namespace minivmm {
namespace {

constexpr unsigned kMinPrefix = 4;  // QEMU's bounds for net=A/N are 4 and 32; a /31 or /32
constexpr unsigned kMaxPrefix = 30; // leaves no room for the host, DNS and DHCP addresses

uint32_t to_u32(const Ipv4AddressBytes& a)
{
    return (uint32_t{a[0]} << 24) | (uint32_t{a[1]} << 16) | (uint32_t{a[2]} << 8) | a[3];
}

Ipv4AddressBytes from_u32(uint32_t v)
{
    return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
            static_cast<uint8_t>(v)};
}

uint32_t mask_of(unsigned prefix_length)
{
    return prefix_length == 0 ? 0 : prefix_length >= 32 ? ~uint32_t{0} : ~uint32_t{0} << (32 - prefix_length);
}

// QEMU's net_slirp_init: the default host, DNS and DHCP addresses are the network's with
// 0.0.2.2, 0.0.2.3 and 0.0.2.15 added under the mask (so 10.0.2.2 for 10.0.0.0/8 too).
Ipv4AddressBytes default_address(const UserNetConfig& user, uint32_t low_bits)
{
    const uint32_t mask = mask_of(user.prefix_length);
    return from_u32((to_u32(user.network) & mask) | (low_bits & ~mask));
}

} // namespace

Ipv4AddressBytes UserNetConfig::host_address() const { return host.value_or(default_address(*this, 0x0202)); }
Ipv4AddressBytes UserNetConfig::dns_address() const { return dns.value_or(default_address(*this, 0x0203)); }
Ipv4AddressBytes UserNetConfig::dhcp_start_address() const
{
    return dhcp_start.value_or(default_address(*this, 0x020f));
}

namespace vmm {
namespace {

const char* protocol_name(HostForwardProtocol protocol) { return protocol == HostForwardProtocol::Tcp ? "tcp" : "udp"; }

std::string describe(const HostForward& f)
{
    const auto ports = [](uint16_t first, uint16_t count) {
        return count > 1 ? fmt::format("{}-{}", first, first + count - 1) : fmt::format("{}", first);
    };
    const auto address = [](const Ipv4AddressBytes& a) { return a == Ipv4AddressBytes{} ? std::string() : to_string(a); };
    return fmt::format("{}:{}:{}-{}:{}", protocol_name(f.protocol), address(f.host_address), ports(f.host_port, f.count),
                       address(f.guest_address), ports(f.guest_port, f.count));
}

// An address of the network that is neither its network nor its broadcast address.
bool usable_in(const UserNetConfig& user, const Ipv4AddressBytes& address)
{
    const uint32_t mask = mask_of(user.prefix_length);
    const uint32_t a = to_u32(address);
    return (a & mask) == to_u32(user.network) && (a & ~mask) != 0 && (a & ~mask) != ~mask;
}

void check_addresses(std::vector<std::string>& problems, const UserNetConfig& user, const std::string& net)
{
    const auto check = [&](const char* key, const Ipv4AddressBytes& address) {
        if (!usable_in(user, address)) {
            problems.push_back(fmt::format("{}: {}={} is not a host address of net={}/{}", net, key, to_string(address),
                                           to_string(user.network), user.prefix_length));
            return false;
        }
        return true;
    };
    const bool host = check("host", user.host_address());
    const bool dns = check("dns", user.dns_address());
    const bool dhcp = check("dhcpstart", user.dhcp_start_address());
    if (host && dns && user.dns_address() == user.host_address()) {
        problems.push_back(fmt::format("{}: dns={} is the host's address: they must differ", net,
                                       to_string(user.dns_address())));
    }
    if (dhcp && ((host && user.dhcp_start_address() == user.host_address()) ||
                 (dns && user.dhcp_start_address() == user.dns_address()))) {
        problems.push_back(fmt::format("{}: dhcpstart={} is the host's or the DNS server's address", net,
                                       to_string(user.dhcp_start_address())));
    }
}

bool overlap(uint32_t first_a, uint32_t count_a, uint32_t first_b, uint32_t count_b)
{
    return first_a < first_b + count_b && first_b < first_a + count_a;
}

void check_forwards(std::vector<std::string>& problems, const UserNetConfig& user, const std::string& net)
{
    const auto& forwards = user.host_forwards;
    for (size_t i = 0; i < forwards.size(); ++i) {
        const HostForward& f = forwards[i];
        if (f.host_port == 0 || f.guest_port == 0 || f.count == 0) {
            problems.push_back(fmt::format("{}: hostfwd {} needs a host port and a guest port (1-65535)", net,
                                           describe(f)));
            continue;
        }
        if (uint32_t{f.host_port} + f.count - 1 > 65535 || uint32_t{f.guest_port} + f.count - 1 > 65535) {
            problems.push_back(fmt::format("{}: hostfwd {}: the port range goes past 65535", net, describe(f)));
            continue;
        }
        if (f.guest_address != Ipv4AddressBytes{} && !usable_in(user, f.guest_address)) {
            problems.push_back(fmt::format("{}: hostfwd {}: guest address {} is not a host address of net={}/{}", net,
                                           describe(f), to_string(f.guest_address), to_string(user.network),
                                           user.prefix_length));
        }
        for (size_t j = 0; j < i; ++j) {
            const HostForward& g = forwards[j];
            const bool same_address = f.host_address == g.host_address || f.host_address == Ipv4AddressBytes{} ||
                                      g.host_address == Ipv4AddressBytes{};
            if (f.protocol == g.protocol && same_address && g.count > 0 &&
                overlap(f.host_port, f.count, g.host_port, g.count)) {
                problems.push_back(fmt::format("{}: hostfwd {} and hostfwd {} overlap on the host", net, describe(g),
                                               describe(f)));
            }
        }
    }
}

} // namespace

std::string to_string(const Ipv4AddressBytes& a) { return fmt::format("{}.{}.{}.{}", a[0], a[1], a[2], a[3]); }

void check_user_net(std::vector<std::string>& problems, const NetConfig& net)
{
    const UserNetConfig& user = net.user;
    const std::string name = "net user";
    if (!net.tap.empty() || net.create) {
        problems.push_back(fmt::format("{}: tap= and create= do not apply to user-mode networking", name));
    }
    if (user.prefix_length < kMinPrefix || user.prefix_length > kMaxPrefix) {
        problems.push_back(fmt::format("{}: net={}/{}: the prefix length must be {} to {}", name,
                                       to_string(user.network), user.prefix_length, kMinPrefix, kMaxPrefix));
        return;
    }
    if ((to_u32(user.network) & ~mask_of(user.prefix_length)) != 0) {
        problems.push_back(fmt::format("{}: net={}/{} is not a network address (host bits set; {}/{}?)", name,
                                       to_string(user.network), user.prefix_length,
                                       to_string(from_u32(to_u32(user.network) & mask_of(user.prefix_length))),
                                       user.prefix_length));
        return;
    }
    check_addresses(problems, user, name);
    check_forwards(problems, user, name);
}

backends::UserNetOptions user_net_options(const NetConfig& net)
{
    const UserNetConfig& user = net.user;
    backends::UserNetOptions options;
    options.network = user.network;
    options.prefix_length = user.prefix_length;
    options.host = user.host_address();
    options.dns = user.dns_address();
    options.dhcp_start = user.dhcp_start_address();
    options.ipv6 = user.ipv6;
    options.restrict = user.restrict;
    for (const HostForward& f : user.host_forwards) {
        for (uint16_t i = 0; i < f.count; ++i) {
            options.forwards.push_back({f.protocol == HostForwardProtocol::Udp, f.host_address,
                                        static_cast<uint16_t>(f.host_port + i), f.guest_address,
                                        static_cast<uint16_t>(f.guest_port + i)});
        }
    }
    return options;
}

} // namespace vmm
} // namespace minivmm
