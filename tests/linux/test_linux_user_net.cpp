// User-mode networking (--net user) with the default Debian guest, run as an unprivileged
// user: uid 65534, no capabilities, no /dev/net/tun at all, only /dev/kvm readable. The guest
// gets its address by DHCP, fetches a file from an HTTP server on the host's 127.0.0.1 through
// its gateway, moves a file each way over UDP (TFTP), resolves a name through the DNS
// forwarder, and serves a TCP port the host reaches through hostfwd; with restrict=on, a
// destination that is neither the host nor forwarded is refused while the host still is not.
//
// Each run is in network and mount namespaces of its own (unshare), so nothing touches the
// host's network: there, 127.0.0.1 serves HTTP and TFTP, 127.0.0.77 answers DNS (and is the
// only nameserver of a private /etc/resolv.conf, which is where libslirp looks), and
// 192.0.2.77 is an address of the namespace that is not the gateway, with a TCP server on it.
// tests/linux/user_net_peer.py runs those servers, then minivmm with the guest's shell on its
// console, and types each step.
#include "support/linux_guest.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <regex>

using namespace minivmm::test;

namespace {

constexpr int kHttpPort = 8080;
constexpr int kTftpPort = 6969;
constexpr int kExtraPort = 7777;
constexpr int kHostfwdPort = 2222;
constexpr int kGuestPort = 8022;
constexpr const char* kExtraAddress = "192.0.2.77";

bool tools_available()
{
    for (const char* tool : {"/usr/bin/unshare", "/usr/bin/setpriv", "/usr/sbin/ip", "/usr/bin/python3"}) {
        if (!std::filesystem::exists(tool)) {
            WARN("SKIPPED: user-mode network tests need " << tool);
            return false;
        }
    }
    if (::geteuid() != 0) {
        WARN("SKIPPED: user-mode network tests need root to make the namespaces they run minivmm in (as nobody)");
        return false;
    }
    return true;
}

// The guest's side of every check, typed into its shell one step at a time.
std::vector<std::string> guest_steps()
{
    const std::string host = "10.0.2.2";
    return {
        // HTTP from the host's loopback, through the gateway.
        "wget -q -O /tmp/h http://" + host + ":" + std::to_string(kHttpPort) + "/blob && md5sum /tmp/h",
        // UDP: TFTP read (host -> guest) and write (guest -> host), 512-byte datagrams in lock-step.
        "tftp -g -r blob -l /tmp/t " + host + " " + std::to_string(kTftpPort) + " && md5sum /tmp/t",
        "dd if=/dev/urandom of=/tmp/u bs=1k count=100 2>/dev/null && md5sum /tmp/u && tftp -p -l /tmp/u -r up " + host +
            " " + std::to_string(kTftpPort),
        // DNS through the forwarder at 10.0.2.3 (resolv.conf from the DHCP lease).
        "cat /etc/resolv.conf; nslookup minivmm-test.example",
        // A destination that is neither the gateway nor forwarded; the elapsed seconds show
        // whether a refusal was immediate.
        std::string("s=$(date +%s); nc -w 20 ") + kExtraAddress + " " + std::to_string(kExtraPort) +
            "; echo nc-exit=$? elapsed=$(($(date +%s)-s))",
        // The forwarded port: a server in the guest that sends a file and keeps what it gets.
        "dd if=/dev/urandom of=/tmp/o bs=1k count=300 2>/dev/null && md5sum /tmp/o && { nc -l -p " +
            std::to_string(kGuestPort) + " </tmp/o >/tmp/i & } && sleep 2",
        "@hostfwd " + std::to_string(kHostfwdPort) + " 250000",
        "wait; md5sum /tmp/i",
    };
}

const ProcessResult& run_user_net(bool restrict)
{
    static std::map<bool, ProcessResult> cache;
    if (auto it = cache.find(restrict); it != cache.end()) {
        return it->second;
    }
    LinuxBoot boot;
    boot.action = "shell";
    std::string net = "user,hostfwd=tcp:127.0.0.1:" + std::to_string(kHostfwdPort) + "-:" + std::to_string(kGuestPort);
    if (restrict) {
        net += ",restrict=on";
    }
    boot.extra_args = {"--net", net, "--console", "stdio"};
    auto vmm = boot.argv();
    for (size_t i = 0; i + 1 < vmm.size(); ++i) {
        if (vmm[i] == "--cmdline") {
            vmm[i + 1] = boot.cmdline() + " minivmm.net=dhcp";
        } else if (vmm[i] == "--timeout") {
            vmm[i + 1] = "400s";
        }
    }
    // Namespaces first (as root), then the peer, which runs minivmm as nobody.
    const std::string setup = R"(set -e
ip link set lo up
ip addr add )" + std::string(kExtraAddress) + R"(/32 dev lo
d=$(mktemp -d)
mount -t tmpfs -o mode=755 tmpfs "$d"
cp -a /dev/kvm "$d/kvm"
chmod 666 "$d/kvm"
mount --bind "$d/kvm" /dev/kvm
mkdir -p /dev/net
mount -t tmpfs -o mode=755 tmpfs /dev/net
echo 'nameserver 127.0.0.77' >"$d/resolv.conf"
mount --bind "$d/resolv.conf" /etc/resolv.conf
exec "$@")";
    std::vector<std::string> argv{"/usr/bin/unshare", "--net", "--mount", "--propagation", "private", "/bin/sh", "-c",
                                  setup, "sh", "/usr/bin/python3",
                                  std::string(MINIVMM_SOURCE_DIR) + "/tests/linux/user_net_peer.py",
                                  "--http-port", std::to_string(kHttpPort), "--tftp-port", std::to_string(kTftpPort),
                                  "--dns", "127.0.0.77", "--extra",
                                  std::string(kExtraAddress) + ":" + std::to_string(kExtraPort)};
    for (const auto& step : guest_steps()) {
        argv.push_back("--step");
        argv.push_back(step);
    }
    argv.insert(argv.end(), {"--", "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"});
    argv.insert(argv.end(), vmm.begin(), vmm.end());
    return cache.emplace(restrict, run_process(argv, std::chrono::seconds(600))).first->second;
}

std::string log_of(const ProcessResult& r)
{
    return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (watchdog)" : "") + "\nstdout:\n" + r.out +
           "\nstderr:\n" + r.err;
}

// "peer: step N exit=S" for step N.
std::optional<int> step_exit(const std::string& out, int step)
{
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("peer: step " + std::to_string(step) + R"( exit=(\d+))"))) {
        return std::nullopt;
    }
    return std::stoi(m[1].str());
}

std::string md5_of(const std::string& out, const std::string& file)
{
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("([0-9a-f]{32})  " + file))) {
        return "(no md5 of " + file + ")";
    }
    return m[1].str();
}

std::string peer_md5(const std::string& out, const std::string& what)
{
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("peer: " + what + R"( (\d+) (?:bytes )?md5 ([0-9a-f]{32}))"))) {
        return "(no peer line '" + what + "')";
    }
    return m[2].str();
}

void check_hostfwd(const std::string& out)
{
    // The guest's server sent /tmp/o and kept what the host sent in /tmp/i.
    std::smatch m;
    REQUIRE(std::regex_search(
        out, m, std::regex(R"(peer: hostfwd sent (\d+) md5 ([0-9a-f]{32}) received (\d+) md5 ([0-9a-f]{32}))")));
    CHECK(m[1].str() == "250000");
    CHECK(m[3].str() == "307200");
    CHECK(m[2].str() == md5_of(out, "/tmp/i"));
    CHECK(m[4].str() == md5_of(out, "/tmp/o"));
    CHECK(step_exit(out, 7) == 0);
}

} // namespace

TEST_CASE("Linux, user-mode network: DHCP lease as an unprivileged user without /dev/net/tun",
          "[linux][user-net]")
{
    if (!linux_tier_available() || !tools_available()) {
        return;
    }
    const auto& r = run_user_net(false);
    INFO(log_of(r));
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("minivmm-guest: dhcp eth0 10.0.2.15/24 router 10.0.2.2 dns 10.0.2.3"));
    // minivmm ran as nobody, with no capability and no TUN device open.
    CHECK_THAT(r.out, Catch::Contains("peer: vmm exe minivmm uid 65534 capeff 0000000000000000 tun-fds 0"));
}

TEST_CASE("Linux, user-mode network: a file from an HTTP server on the host's 127.0.0.1, through the gateway",
          "[linux][user-net]")
{
    if (!linux_tier_available() || !tools_available()) {
        return;
    }
    const auto& r = run_user_net(false);
    INFO(log_of(r));
    CHECK(step_exit(r.out, 0) == 0);
    CHECK(md5_of(r.out, "/tmp/h") == peer_md5(r.out, "blob"));
}

TEST_CASE("Linux, user-mode network: UDP both ways (TFTP) and DNS through the forwarder", "[linux][user-net]")
{
    if (!linux_tier_available() || !tools_available()) {
        return;
    }
    const auto& r = run_user_net(false);
    INFO(log_of(r));
    CHECK(step_exit(r.out, 1) == 0);
    CHECK(md5_of(r.out, "/tmp/t") == peer_md5(r.out, "blob"));
    CHECK(step_exit(r.out, 2) == 0);
    CHECK(md5_of(r.out, "/tmp/u") == peer_md5(r.out, "tftp received"));
    CHECK(step_exit(r.out, 3) == 0);
    CHECK_THAT(r.out, Catch::Contains("nameserver 10.0.2.3"));
    CHECK_THAT(r.out, Catch::Contains("peer: dns query minivmm-test.example type 1"));
    CHECK_THAT(r.out, Catch::Contains("192.0.2.123"));
    // Without restrict=on the guest reaches any address the host reaches.
    CHECK_THAT(r.out, Catch::Contains("extra-reachable"));
    CHECK_THAT(r.out, Catch::Contains("nc-exit=0"));
}

TEST_CASE("Linux, user-mode network: a hostfwd port reaches a server in the guest, intact both ways",
          "[linux][user-net]")
{
    if (!linux_tier_available() || !tools_available()) {
        return;
    }
    const auto& r = run_user_net(false);
    INFO(log_of(r));
    check_hostfwd(r.out);
}

TEST_CASE("Linux, user-mode network: restrict=on refuses a destination that is neither forwarded nor the host",
          "[linux][user-net]")
{
    if (!linux_tier_available() || !tools_available()) {
        return;
    }
    const auto& r = run_user_net(true);
    INFO(log_of(r));
    CHECK(r.exit_code == 0);
    // Refused at once (a reset, not a timeout), and nothing reached the server.
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex(R"(nc-exit=(\d+) elapsed=(\d+))")));
    CHECK(m[1].str() != "0");
    CHECK(std::stoi(m[2].str()) < 10);
    CHECK_THAT(r.out, !Catch::Contains("extra-reachable"));
    CHECK_THAT(r.out, !Catch::Contains("peer: extra server: a connection"));
    // DNS forwarding reaches the world: refused too.
    CHECK(step_exit(r.out, 3) != 0);
    CHECK_THAT(r.out, !Catch::Contains("peer: dns query"));
    // The host and the forwarded port still work.
    CHECK_THAT(r.out, Catch::Contains("minivmm-guest: dhcp eth0 10.0.2.15/24"));
    CHECK(step_exit(r.out, 0) == 0);
    CHECK(md5_of(r.out, "/tmp/h") == peer_md5(r.out, "blob"));
    CHECK(step_exit(r.out, 1) == 0);
    CHECK(md5_of(r.out, "/tmp/t") == peer_md5(r.out, "blob"));
    check_hostfwd(r.out);
}
