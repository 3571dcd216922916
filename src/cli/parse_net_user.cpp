// --net user[,...]: QEMU's -netdev user words (net, host, dns, dhcpstart, hostfwd, restrict,
// ipv6) plus mac. Syntax only; VmConfig::validate() checks how the values fit together
// (addresses inside the network, overlapping forwards).
#include "cli/parse.hpp"

#include <fmt/format.h>

#include <charconv>

namespace minivmm::cli {
namespace {

constexpr const char* kUserKeys = "net, host, dns, dhcpstart, hostfwd, restrict, ipv6, mac";

// "a,b" -> {"a", "b"}.
std::vector<std::string_view> split_words(std::string_view text)
{
    std::vector<std::string_view> words;
    size_t start = 0;
    for (size_t pos = text.find(','); pos != std::string_view::npos; pos = text.find(',', start)) {
        words.push_back(text.substr(start, pos - start));
        start = pos + 1;
    }
    words.push_back(text.substr(start));
    return words;
}

// A decimal number in [min, max], all of `text`.
std::optional<unsigned> parse_number(std::string_view text, unsigned min, unsigned max)
{
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || text.empty() || value < min || value > max) {
        return std::nullopt;
    }
    return value;
}

// on/off as QEMU takes them (on, yes, y; off, no, n).
std::optional<bool> parse_switch(std::string_view text)
{
    if (text == "on" || text == "yes" || text == "y") {
        return true;
    }
    if (text == "off" || text == "no" || text == "n") {
        return false;
    }
    return std::nullopt;
}

// A prefix length from a dotted mask with contiguous ones ("255.255.255.0" -> 24).
std::optional<unsigned> prefix_of_mask(const Ipv4AddressBytes& mask)
{
    const uint32_t m = (uint32_t{mask[0]} << 24) | (uint32_t{mask[1]} << 16) | (uint32_t{mask[2]} << 8) | mask[3];
    const unsigned ones = static_cast<unsigned>(__builtin_popcount(m));
    const uint32_t contiguous = ones == 0 ? 0 : ~uint32_t{0} << (32 - ones);
    if (m != contiguous) {
        return std::nullopt;
    }
    return ones;
}

// "8080" or "8000-8010": first port and count.
Parsed<std::pair<uint16_t, uint16_t>> parse_ports(std::string_view text, std::string_view spec, const char* side)
{
    if (text.empty()) {
        return fmt::format("hostfwd '{}' has no {} port", spec, side);
    }
    const auto dash = text.find('-');
    const auto first = parse_number(text.substr(0, dash), 1, 65535);
    const auto last = dash == std::string_view::npos ? first : parse_number(text.substr(dash + 1), 1, 65535);
    if (!first || !last) {
        return fmt::format("hostfwd '{}': {} port '{}' is not a port (1-65535) or a range of them (8000-8010)", spec,
                           side, text);
    }
    if (*last < *first) {
        return fmt::format("hostfwd '{}': {} port range '{}' ends before it starts", spec, side, text);
    }
    return std::pair{static_cast<uint16_t>(*first), static_cast<uint16_t>(*last - *first + 1)};
}

// [ADDR] of a hostfwd: empty means 0.0.0.0.
Parsed<Ipv4AddressBytes> parse_forward_address(std::string_view text, std::string_view spec, const char* side)
{
    if (text.empty()) {
        return Ipv4AddressBytes{};
    }
    const auto address = parse_ipv4_address(text);
    if (!address) {
        return fmt::format("hostfwd '{}': {} address '{}' is not an IPv4 address", spec, side, text);
    }
    return *address;
}

} // namespace

std::optional<Ipv4AddressBytes> parse_ipv4_address(std::string_view text)
{
    Ipv4AddressBytes address{};
    size_t start = 0;
    for (size_t i = 0; i < 4; ++i) {
        const size_t end = i < 3 ? text.find('.', start) : text.size();
        if (end == std::string_view::npos) {
            return std::nullopt;
        }
        const auto part = text.substr(start, end - start);
        // No leading zeros (inet_aton would read "010" as octal).
        const auto value = part.size() > 1 && part[0] == '0' ? std::nullopt : parse_number(part, 0, 255);
        if (!value) {
            return std::nullopt;
        }
        address[i] = static_cast<uint8_t>(*value);
        start = end + 1;
    }
    return address;
}

Parsed<HostForward> parse_host_forward(std::string_view spec)
{
    // PROTO:HOSTADDR:HOSTPORTS-GUESTADDR:GUESTPORTS, with PROTO and both addresses optional
    // (QEMU's syntax; port ranges are minivmm's). An IPv4 address has no '-', so the guest part
    // starts after the last '-' before the last ':'.
    HostForward forward;
    if (spec.find('[') != std::string_view::npos) {
        return fmt::format("hostfwd '{}': IPv6 forwards are not supported (IPv4 addresses only)", spec);
    }
    const auto first_colon = spec.find(':');
    const auto second_colon = first_colon == std::string_view::npos ? first_colon : spec.find(':', first_colon + 1);
    const auto last_colon = spec.rfind(':');
    if (second_colon == std::string_view::npos || last_colon == second_colon) {
        return fmt::format("hostfwd '{}' is not [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", spec);
    }
    const auto protocol = spec.substr(0, first_colon);
    if (protocol == "udp") {
        forward.protocol = HostForwardProtocol::Udp;
    } else if (protocol != "tcp" && !protocol.empty()) {
        return fmt::format("hostfwd '{}': protocol '{}' is not tcp or udp", spec, protocol);
    }
    const auto host_address = spec.substr(first_colon + 1, second_colon - first_colon - 1);
    const auto middle = spec.substr(second_colon + 1, last_colon - second_colon - 1); // HOSTPORTS-GUESTADDR
    const auto dash = middle.rfind('-');
    if (dash == std::string_view::npos) {
        return fmt::format("hostfwd '{}' is not [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", spec);
    }
    const auto host_ports = parse_ports(middle.substr(0, dash), spec, "host");
    const auto guest_ports = parse_ports(spec.substr(last_colon + 1), spec, "guest");
    const auto host = parse_forward_address(host_address, spec, "host");
    const auto guest = parse_forward_address(middle.substr(dash + 1), spec, "guest");
    for (const std::string* error : {std::get_if<std::string>(&host_ports), std::get_if<std::string>(&guest_ports),
                                     std::get_if<std::string>(&host), std::get_if<std::string>(&guest)}) {
        if (error != nullptr) {
            return *error;
        }
    }
    const auto [host_port, host_count] = std::get<0>(host_ports);
    const auto [guest_port, guest_count] = std::get<0>(guest_ports);
    if (host_count != guest_count) {
        return fmt::format("hostfwd '{}': {} host port(s) but {} guest port(s): the ranges must be as long", spec,
                           host_count, guest_count);
    }
    forward.host_address = std::get<0>(host);
    forward.host_port = host_port;
    forward.guest_address = std::get<0>(guest);
    forward.guest_port = guest_port;
    forward.count = host_count;
    return forward;
}

Parsed<NetConfig> parse_user_net(std::string_view text)
{
    NetConfig nic;
    nic.mode = NetMode::User;
    UserNetConfig& user = nic.user;
    const auto words = split_words(text);
    for (size_t i = 1; i < words.size(); ++i) { // words[0] is "user"
        const auto word = words[i];
        const auto eq = word.find('=');
        if (eq == std::string_view::npos) {
            return fmt::format("net '{}': '{}' is not KEY=VALUE", text, word);
        }
        const auto key = word.substr(0, eq);
        const auto value = word.substr(eq + 1);
        const auto address = [&](std::optional<Ipv4AddressBytes>& target) -> std::optional<std::string> {
            const auto parsed = parse_ipv4_address(value);
            if (!parsed) {
                return fmt::format("net '{}': {}='{}' is not an IPv4 address", text, key, value);
            }
            target = *parsed;
            return std::nullopt;
        };
        std::optional<std::string> error;
        if (key == "net") {
            // CIDR only: A.B.C.D/N, or A.B.C.D/M.M.M.M with a contiguous mask.
            const auto slash = value.find('/');
            const auto network = parse_ipv4_address(value.substr(0, slash));
            std::optional<unsigned> prefix;
            if (slash != std::string_view::npos) {
                const auto tail = value.substr(slash + 1);
                const auto mask = parse_ipv4_address(tail);
                prefix = mask ? prefix_of_mask(*mask) : parse_number(tail, 0, 32);
            }
            if (!network || !prefix) {
                return fmt::format("net '{}': net='{}' is not a network in CIDR form, like 10.0.2.0/24", text, value);
            }
            user.network = *network;
            user.prefix_length = *prefix;
        } else if (key == "host") {
            error = address(user.host);
        } else if (key == "dns") {
            error = address(user.dns);
        } else if (key == "dhcpstart") {
            error = address(user.dhcp_start);
        } else if (key == "hostfwd") {
            auto forward = parse_host_forward(value);
            if (const auto* message = std::get_if<std::string>(&forward)) {
                return fmt::format("net '{}': {}", text, *message);
            }
            user.host_forwards.push_back(std::get<HostForward>(forward));
        } else if (key == "restrict" || key == "ipv6") {
            const auto on = parse_switch(value);
            if (!on) {
                return fmt::format("net '{}': {} must be on or off, not '{}'", text, key, value);
            }
            (key == "restrict" ? user.restrict : user.ipv6) = *on;
        } else if (key == "mac") {
            auto mac = parse_mac(text, value);
            if (const auto* message = std::get_if<std::string>(&mac)) {
                return *message;
            }
            nic.mac = std::get<MacAddressBytes>(mac);
        } else {
            return fmt::format("net '{}': unknown key '{}' for user-mode networking ({})", text, key, kUserKeys);
        }
        if (error) {
            return *error;
        }
    }
    return nic;
}

} // namespace minivmm::cli
