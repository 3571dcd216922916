// A network namespace with one or more TAP devices, made for one test and removed with it:
// nothing a test does touches the host's own interfaces. Needs root (CAP_NET_ADMIN) and
// iproute2; netns_available() says loudly when they are missing.
#pragma once

#include "support/run_process.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

namespace minivmm::test {

inline constexpr const char* kIp = "/usr/sbin/ip";

inline bool netns_available()
{
    if (::geteuid() != 0 || !std::filesystem::exists(kIp) || !std::filesystem::exists("/dev/net/tun")) {
        WARN("SKIPPED: network tests need root, iproute2 (" << kIp << ") and /dev/net/tun");
        return false;
    }
    return true;
}

class NetNamespace {
public:
    // Creates the namespace and TAP devices tap0, tap1, ... (up, IPv6 off so the kernel
    // sends nothing of its own on them).
    explicit NetNamespace(unsigned taps = 1)
    {
        static std::atomic<int> serial{0};
        name_ = "minivmm-test-" + std::to_string(::getpid()) + "-" + std::to_string(serial++);
        must({kIp, "netns", "add", name_});
        must({kIp, "netns", "exec", name_, "/usr/sbin/sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
              "net.ipv6.conf.default.disable_ipv6=1"});
        for (unsigned i = 0; i < taps; ++i) {
            const std::string tap = "tap" + std::to_string(i);
            must({kIp, "-n", name_, "tuntap", "add", "dev", tap, "mode", "tap"});
            must({kIp, "-n", name_, "link", "set", tap, "up"});
        }
    }
    ~NetNamespace() { (void)run_process({kIp, "netns", "del", name_}); }
    NetNamespace(const NetNamespace&) = delete;
    NetNamespace& operator=(const NetNamespace&) = delete;

    [[nodiscard]] const std::string& name() const { return name_; }
    // `argv` run inside the namespace.
    [[nodiscard]] std::vector<std::string> exec(const std::vector<std::string>& argv) const
    {
        std::vector<std::string> full{kIp, "netns", "exec", name_};
        full.insert(full.end(), argv.begin(), argv.end());
        return full;
    }

private:
    void must(const std::vector<std::string>& argv)
    {
        const auto result = run_process(argv);
        INFO(argv[0] << " " << argv[1] << " ...: " << result.err);
        REQUIRE(result.exit_code == 0);
    }

    std::string name_;
};

} // namespace minivmm::test
