// --net user[,...]: QEMU's -netdev user words and defaults, the checks VmConfig::validate()
// makes of them, and the binary's one-line errors (exit 125, before the guest starts) for
// bad specs: hostfwd without ports, overlapping ranges, a port in use, a non-CIDR net.
#include "cli/options.hpp"
#include "cli/parse.hpp"
#include "support/loopback_socket.hpp"
#include "support/run_process.hpp"
#include "vmm/user_net_config.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

using namespace minivmm;
using namespace minivmm::cli;

namespace {

NetConfig user_net(std::string_view spec)
{
    const auto parsed = parse_net(spec);
    INFO(spec << ": " << (std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed) : "ok"));
    REQUIRE(std::holds_alternative<NetConfig>(parsed));
    return std::get<NetConfig>(parsed);
}

std::string parse_error(std::string_view spec)
{
    const auto parsed = parse_net(spec);
    INFO(spec);
    REQUIRE(std::holds_alternative<std::string>(parsed));
    const auto& message = std::get<std::string>(parsed);
    CHECK(message.find('\n') == std::string::npos);
    return message;
}

std::vector<std::string> problems_of(const NetConfig& nic)
{
    std::vector<std::string> problems;
    vmm::check_user_net(problems, nic);
    return problems;
}

bool mentions(const std::vector<std::string>& problems, const std::string& text)
{
    return std::any_of(problems.begin(), problems.end(),
                       [&](const std::string& p) { return p.find(text) != std::string::npos; });
}

} // namespace

TEST_CASE("user net: the defaults are QEMU's", "[unit][cli][user-net]")
{
    const NetConfig nic = user_net("user");
    CHECK(nic.mode == NetMode::User);
    CHECK(nic.tap.empty());
    CHECK(nic.user.network == Ipv4AddressBytes{10, 0, 2, 0});
    CHECK(nic.user.prefix_length == 24);
    CHECK(nic.user.host_address() == Ipv4AddressBytes{10, 0, 2, 2});
    CHECK(nic.user.dns_address() == Ipv4AddressBytes{10, 0, 2, 3});
    CHECK(nic.user.dhcp_start_address() == Ipv4AddressBytes{10, 0, 2, 15});
    CHECK(nic.user.host_forwards.empty());
    CHECK_FALSE(nic.user.restrict);
    CHECK(nic.user.ipv6);
    CHECK_FALSE(nic.mac.has_value());
    CHECK(problems_of(nic).empty());
}

TEST_CASE("user net: every word", "[unit][cli][user-net]")
{
    const NetConfig nic = user_net("user,net=192.168.76.0/255.255.255.0,host=192.168.76.1,dns=192.168.76.53,"
                                   "dhcpstart=192.168.76.100,hostfwd=tcp:127.0.0.1:2222-:22,"
                                   "hostfwd=udp::5353-192.168.76.100:53,hostfwd=:0.0.0.0:8000-8009-:9000-9009,"
                                   "restrict=on,ipv6=off,mac=52:54:00:aa:bb:cc");
    CHECK(nic.user.network == Ipv4AddressBytes{192, 168, 76, 0});
    CHECK(nic.user.prefix_length == 24);
    CHECK(nic.user.host_address() == Ipv4AddressBytes{192, 168, 76, 1});
    CHECK(nic.user.dns_address() == Ipv4AddressBytes{192, 168, 76, 53});
    CHECK(nic.user.dhcp_start_address() == Ipv4AddressBytes{192, 168, 76, 100});
    CHECK(nic.user.restrict);
    CHECK_FALSE(nic.user.ipv6);
    CHECK(nic.mac == std::array<uint8_t, 6>{0x52, 0x54, 0, 0xaa, 0xbb, 0xcc});
    REQUIRE(nic.user.host_forwards.size() == 3);
    const auto& ssh = nic.user.host_forwards[0];
    CHECK(ssh.protocol == HostForwardProtocol::Tcp);
    CHECK(ssh.host_address == Ipv4AddressBytes{127, 0, 0, 1});
    CHECK(ssh.host_port == 2222);
    CHECK(ssh.guest_address == Ipv4AddressBytes{});
    CHECK(ssh.guest_port == 22);
    CHECK(ssh.count == 1);
    const auto& dns = nic.user.host_forwards[1];
    CHECK(dns.protocol == HostForwardProtocol::Udp);
    CHECK(dns.host_address == Ipv4AddressBytes{});
    CHECK(dns.guest_address == Ipv4AddressBytes{192, 168, 76, 100});
    CHECK(dns.guest_port == 53);
    const auto& range = nic.user.host_forwards[2];
    CHECK(range.protocol == HostForwardProtocol::Tcp); // an empty protocol is tcp, as in QEMU
    CHECK(range.host_port == 8000);
    CHECK(range.guest_port == 9000);
    CHECK(range.count == 10);
    CHECK(problems_of(nic).empty());

    // The back end gets one forward per port, the addresses resolved.
    const auto options = vmm::user_net_options(nic);
    CHECK(options.host == Ipv4AddressBytes{192, 168, 76, 1});
    CHECK(options.prefix_length == 24);
    CHECK(options.restrict);
    CHECK_FALSE(options.ipv6);
    REQUIRE(options.forwards.size() == 12);
    CHECK(options.forwards[11].host_port == 8009);
    CHECK(options.forwards[11].guest_port == 9009);
    CHECK(options.forwards[1].udp);
}

TEST_CASE("user net: a network's default addresses follow QEMU's rule", "[unit][cli][user-net]")
{
    // net | 0.0.2.2 (/.3/.15) under the mask: QEMU's net_slirp_init.
    const NetConfig small = user_net("user,net=192.168.100.0/24");
    CHECK(small.user.host_address() == Ipv4AddressBytes{192, 168, 100, 2});
    CHECK(small.user.dns_address() == Ipv4AddressBytes{192, 168, 100, 3});
    CHECK(small.user.dhcp_start_address() == Ipv4AddressBytes{192, 168, 100, 15});
    const NetConfig wide = user_net("user,net=10.0.0.0/8");
    CHECK(wide.user.host_address() == Ipv4AddressBytes{10, 0, 2, 2});
    CHECK(wide.user.dhcp_start_address() == Ipv4AddressBytes{10, 0, 2, 15});
    CHECK(problems_of(wide).empty());
    CHECK(user_net("user,restrict=yes").user.restrict);
    CHECK_FALSE(user_net("user,restrict=off").user.restrict);
}

TEST_CASE("user net: syntax errors are one line naming the spec", "[unit][cli][user-net]")
{
    CHECK_THAT(parse_error("user,hostfwd=tcp::-:22"), Catch::Contains("has no host port"));
    CHECK_THAT(parse_error("user,hostfwd=tcp::2222-:"), Catch::Contains("has no guest port"));
    CHECK_THAT(parse_error("user,hostfwd=tcp::"), Catch::Contains("is not [tcp|udp]:[HOSTADDR]:HOSTPORT"));
    CHECK_THAT(parse_error("user,hostfwd=tcp:2222:22"), Catch::Contains("is not [tcp|udp]"));
    CHECK_THAT(parse_error("user,hostfwd=sctp::1-:1"), Catch::Contains("protocol 'sctp' is not tcp or udp"));
    CHECK_THAT(parse_error("user,hostfwd=tcp::0-:22"), Catch::Contains("host port '0' is not a port"));
    CHECK_THAT(parse_error("user,hostfwd=tcp::65536-:22"), Catch::Contains("is not a port"));
    CHECK_THAT(parse_error("user,hostfwd=tcp::ssh-:22"), Catch::Contains("is not a port"));
    CHECK_THAT(parse_error("user,hostfwd=tcp::9000-8000-:22"), Catch::Contains("ends before it starts"));
    CHECK_THAT(parse_error("user,hostfwd=tcp::8000-8001-:22"), Catch::Contains("2 host port(s) but 1 guest port(s)"));
    CHECK_THAT(parse_error("user,hostfwd=tcp:localhost:1-:1"), Catch::Contains("host address 'localhost'"));
    CHECK_THAT(parse_error("user,hostfwd=tcp:[::1]:1-:1"), Catch::Contains("IPv6 forwards are not supported"));
    CHECK_THAT(parse_error("user,net=10.0.2.0"), Catch::Contains("not a network in CIDR form"));
    CHECK_THAT(parse_error("user,net=10.0.2.0/33"), Catch::Contains("not a network in CIDR form"));
    CHECK_THAT(parse_error("user,net=10.0.2.0/255.0.255.0"), Catch::Contains("not a network in CIDR form"));
    CHECK_THAT(parse_error("user,net=10.0.2/24"), Catch::Contains("not a network in CIDR form"));
    CHECK_THAT(parse_error("user,host=10.0.2.256"), Catch::Contains("host='10.0.2.256' is not an IPv4 address"));
    CHECK_THAT(parse_error("user,dns=010.0.2.3"), Catch::Contains("is not an IPv4 address")); // octal to inet_aton
    CHECK_THAT(parse_error("user,restrict=maybe"), Catch::Contains("restrict must be on or off"));
    CHECK_THAT(parse_error("user,mac=ff:ff:ff:ff:ff:ff"), Catch::Contains("multicast"));
    CHECK_THAT(parse_error("user,smb=/tmp"), Catch::Contains("unknown key 'smb'"));
    CHECK_THAT(parse_error("user,tap=tap0"), Catch::Contains("unknown key 'tap'"));
    CHECK_THAT(parse_error("user,restrict"), Catch::Contains("is not KEY=VALUE"));
    // "user" is a word of its own: a TAP named "username" is still a TAP spec.
    CHECK(std::get<NetConfig>(parse_net("tap=username")).mode == NetMode::Tap);
}

TEST_CASE("user net: addresses and forwards that do not fit together are problems", "[unit][config][user-net]")
{
    CHECK(mentions(problems_of(user_net("user,net=10.0.2.5/24")), "net=10.0.2.5/24 is not a network address"));
    CHECK(mentions(problems_of(user_net("user,net=10.0.2.0/31")), "prefix length must be 4 to 30"));
    CHECK(mentions(problems_of(user_net("user,host=10.0.3.2")), "host=10.0.3.2 is not a host address of net=10.0.2.0/24"));
    CHECK(mentions(problems_of(user_net("user,dns=10.0.2.255")), "dns=10.0.2.255 is not a host address"));
    CHECK(mentions(problems_of(user_net("user,dhcpstart=10.0.2.0")), "dhcpstart=10.0.2.0 is not a host address"));
    CHECK(mentions(problems_of(user_net("user,dns=10.0.2.2")), "dns=10.0.2.2 is the host's address"));
    CHECK(mentions(problems_of(user_net("user,dhcpstart=10.0.2.3")), "dhcpstart=10.0.2.3 is the host's or the DNS"));
    // net=192.168.0.0/24 moves the defaults along; a host given outside it is still checked.
    CHECK(problems_of(user_net("user,net=192.168.0.0/24")).empty());

    const auto overlap = problems_of(user_net("user,hostfwd=tcp::8000-8010-:8000-8010,hostfwd=tcp:127.0.0.1:8010-:22"));
    CHECK(mentions(overlap, "hostfwd tcp::8000-8010-:8000-8010 and hostfwd tcp:127.0.0.1:8010-:22 overlap on the host"));
    // Different protocols, or different host addresses, or adjacent ranges do not overlap.
    CHECK(problems_of(user_net("user,hostfwd=tcp::53-:53,hostfwd=udp::53-:53")).empty());
    CHECK(problems_of(user_net("user,hostfwd=tcp:127.0.0.1:80-:80,hostfwd=tcp:127.0.0.2:80-:81")).empty());
    CHECK(problems_of(user_net("user,hostfwd=tcp::8000-8009-:1-10,hostfwd=tcp::8010-:11")).empty());
    CHECK(problems_of(user_net("user,hostfwd=tcp::65530-65535-:1-6")).empty());
    CHECK(mentions(problems_of(user_net("user,hostfwd=tcp::1-10.0.3.15:1")), "guest address 10.0.3.15 is not"));

    // Built in code rather than parsed: ports 0 and overlong ranges.
    NetConfig nic;
    nic.mode = NetMode::User;
    nic.user.host_forwards.push_back(HostForward{HostForwardProtocol::Tcp, {}, 0, {}, 22, 1});
    nic.user.host_forwards.push_back(HostForward{HostForwardProtocol::Tcp, {}, 65530, {}, 22, 10});
    nic.tap = "tap0";
    const auto problems = problems_of(nic);
    CHECK(mentions(problems, "needs a host port and a guest port"));
    CHECK(mentions(problems, "goes past 65535"));
    CHECK(mentions(problems, "tap= and create= do not apply"));

    // Two user NICs are not "the same TAP twice".
    VmConfig config;
    config.kernel = "/dev/null";
    config.nets = {user_net("user"), user_net("user,net=10.0.3.0/24")};
    for (const auto& p : config.validate()) {
        CHECK(p.find("given twice") == std::string::npos);
    }
}

TEST_CASE("user net: bad specs exit 125 with one line, before the guest starts", "[unit][cli-errors][user-net]")
{
    const auto expect_error = [](const std::string& spec, const std::string& mention) {
        const auto result = test::run_process({MINIVMM_BINARY, "--kernel", MINIVMM_TEST_GUEST_ELF, "--net", spec,
                                               "--timeout", "20s", "--console", "none"},
                                              std::chrono::seconds(30));
        INFO(spec << "\nstderr: " << result.err);
        CHECK(result.exit_code == 125);
        CHECK_THAT(result.err, Catch::StartsWith("minivmm: error: ") && Catch::Contains(mention));
        CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
    };
    expect_error("user,hostfwd=tcp::-:22", "hostfwd 'tcp::-:22' has no host port");
    expect_error("user,hostfwd=tcp::2222", "is not [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT");
    expect_error("user,hostfwd=tcp::5000-5009-:5000-5009,hostfwd=tcp::5009-:22", "overlap on the host");
    expect_error("user,net=10.0.2.0", "not a network in CIDR form");
    expect_error("user,net=10.0.2.1/24", "is not a network address");
    // A port some other socket holds: found when the stack binds it, before KVM is touched.
    const test::LoopbackSocket tcp(SOCK_STREAM);
    expect_error(fmt::format("user,hostfwd=tcp:127.0.0.1:{}-:22", tcp.port()),
                 fmt::format("hostfwd tcp:127.0.0.1:{}: the port is in use on the host", tcp.port()));
    const test::LoopbackSocket udp(SOCK_DGRAM);
    expect_error(fmt::format("user,hostfwd=udp:127.0.0.1:{}-:53", udp.port()),
                 fmt::format("hostfwd udp:127.0.0.1:{}: the port is in use on the host", udp.port()));
    // An address that is not the host's.
    expect_error("user,hostfwd=tcp:192.0.2.1:2222-:22", "192.0.2.1 is not an address of this host");
}

TEST_CASE("user net: --net user on the command line", "[unit][cli][user-net]")
{
    const char* argv[] = {"minivmm", "--kernel", "k", "--net", "user,hostfwd=tcp::2222-:22", "--net", "tap=tap0"};
    const auto result = parse_options(7, argv);
    REQUIRE(std::holds_alternative<Options>(result));
    const auto& nets = std::get<Options>(result).vm.nets;
    REQUIRE(nets.size() == 2);
    CHECK(nets[0].mode == NetMode::User);
    CHECK(nets[0].user.host_forwards.size() == 1);
    CHECK(nets[1].mode == NetMode::Tap);
    CHECK(nets[1].tap == "tap0");
}
