// Parsing of the CLI's value syntaxes: sizes ("512M"), durations ("30s"), console specs.
#pragma once

#include <minivmm/vm_config.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace minivmm::cli {

// A value or the one-line reason it is not one.
template <typename T>
using Parsed = std::variant<T, std::string>;

// "512M", "2G", "65536K", "1T"; a bare number means MiB (as QEMU's -m). Binary units.
[[nodiscard]] Parsed<uint64_t> parse_memory_size(std::string_view text);
// "30", "30s", "500ms", "2m": a bare number means seconds.
[[nodiscard]] Parsed<std::chrono::milliseconds> parse_duration(std::string_view text);
// Comma-separated: the device ("serial", the default, or "virtio") and the host side
// ("stdio", the default, "stdout", "none", "file:PATH"): "virtio", "virtio,file:/tmp/c.log", "none".
[[nodiscard]] Parsed<ConsoleConfig> parse_console(std::string_view text);
// "path=FILE[,readonly=on|off][,serial=STR][,cache=none|writeback][,aio=auto|io_uring|sync]"; a bare first word is
// the path ("disk.img,readonly=on").
[[nodiscard]] Parsed<DiskConfig> parse_disk(std::string_view text);
// "tap=NAME[,mac=52:54:00:12:34:56][,create=on|off]": the TAP interface (1-15 characters),
// a unicast MAC address, and whether minivmm creates the TAP (and removes it on exit).
// Or "user[,KEY=VALUE...]": user-mode networking (parse_user_net).
[[nodiscard]] Parsed<NetConfig> parse_net(std::string_view text);

// "user[,net=10.0.2.0/24][,host=A][,dns=A][,dhcpstart=A][,hostfwd=SPEC]...[,restrict=on|off]
// [,ipv6=on|off][,mac=MAC]" (src/cli/parse_net_user.cpp).
[[nodiscard]] Parsed<NetConfig> parse_user_net(std::string_view text);
// "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", each port optionally a range
// "8000-8010" (both ranges as long).
[[nodiscard]] Parsed<HostForward> parse_host_forward(std::string_view spec);
// Dotted decimal, four parts 0-255 without leading zeros; nullopt otherwise.
[[nodiscard]] std::optional<Ipv4AddressBytes> parse_ipv4_address(std::string_view text);
// A unicast MAC address for the NIC spec `spec`, or the one-line error.
[[nodiscard]] Parsed<MacAddressBytes> parse_mac(std::string_view spec, std::string_view value);

} // namespace minivmm::cli
