// [kvm] virtio-net over TAP with the test guest's net client (tests/guest/tests/test_net.c).
// Each test makes its own network namespace with TAP devices; tests/guest/qemu/net_peer.py
// is the host end (an AF_PACKET socket on the TAP inside the namespace) and runs minivmm.
#include "support/kvm.hpp"
#include "support/netns.hpp"

#include <fmt/format.h>

#include <regex>

using namespace minivmm::test;

namespace {

constexpr const char* kMac = "52:54:00:12:34:56";

// net_peer.py MODE --tap tap0 ... -- minivmm --net tap=tap0,mac=... --cmdline CMDLINE, in `ns`.
ProcessResult run_with_peer(const NetNamespace& ns, const std::string& mode, int count, const std::string& cmdline,
                            std::vector<std::string> peer_args = {}, std::vector<std::string> vmm_args = {})
{
    std::vector<std::string> argv{"/usr/bin/python3", std::string(MINIVMM_SOURCE_DIR) + "/tests/guest/qemu/net_peer.py",
                                  mode, "--tap", "tap0", "--count", std::to_string(count), "--mac", kMac};
    argv.insert(argv.end(), peer_args.begin(), peer_args.end());
    argv.insert(argv.end(), {"--", MINIVMM_BINARY, "--kernel", MINIVMM_TEST_GUEST_ELF, "--mem", "128M", "--timeout",
                             "100s", "--net", std::string("tap=tap0,mac=") + kMac, "--cmdline", cmdline});
    argv.insert(argv.end(), vmm_args.begin(), vmm_args.end());
    auto result = run_process(ns.exec(argv), std::chrono::seconds(150));
    UNSCOPED_INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
    return result;
}

} // namespace

TEST_CASE("virtio-net: the host reads the guest's frames from the TAP, intact and in order", "[kvm][virtio][virtio-net]")
{
    if (!kvm_available() || !netns_available()) {
        return;
    }
    const auto [size, options] = GENERATE(std::pair{60, ""}, std::pair{1514, " event_idx=1"}, std::pair{1000, " indirect=1"});
    NetNamespace ns;
    const auto result = run_with_peer(ns, "sink", 200, fmt::format("test=net-tx count=200 size={} seed=7{}", size, options),
                                      {"--size", std::to_string(size), "--seed", "7"});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("peer: frames as expected"));
    CHECK_THAT(result.out, !Catch::Contains("MISMATCH"));
}

TEST_CASE("virtio-net: frames the host injects reach the guest, checksummed", "[kvm][virtio][virtio-net]")
{
    if (!kvm_available() || !netns_available()) {
        return;
    }
    const std::string options = GENERATE(std::string(""), std::string(" mrg=1"), std::string(" mrg=1 rxbuf=64 event_idx=1"));
    NetNamespace ns;
    const auto result = run_with_peer(ns, "source", 100, "test=net-rx count=100" + options);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("peer: guest received what was sent"));
    CHECK_THAT(result.out, Catch::Contains("net: received 100 frames"));
}

TEST_CASE("virtio-net: a burst larger than the RX ring waits for buffers instead of being dropped",
          "[kvm][virtio][virtio-net]")
{
    if (!kvm_available() || !netns_available()) {
        return;
    }
    // The guest posts at most a queue's worth of buffers; the peer sends 1000 frames at once
    // and the echo checks every one came back: the device stopped reading the TAP while the
    // ring was full (the TAP's own queue of 500 frames holds the rest).
    NetNamespace ns;
    const auto result = run_with_peer(ns, "echo", 400, "test=net-echo count=400");
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("peer: 400 echoes as expected"));
}

TEST_CASE("virtio-net: identity and link state, and two NICs at once", "[kvm][virtio][virtio-net]")
{
    if (!kvm_available() || !netns_available()) {
        return;
    }
    NetNamespace ns(2);
    const auto result = run_process(ns.exec({MINIVMM_BINARY, "--kernel", MINIVMM_TEST_GUEST_ELF, "--mem", "128M",
                                             "--timeout", "60s", "--net", "tap=tap0,mac=52:54:00:00:00:01", "--net",
                                             "tap=tap1", "--cmdline", "test=net-multi"}),
                                    std::chrono::seconds(90));
    INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("net: nic=0 mac=52:54:00:00:00:01 status=0x1"));
    // The second NIC got a random locally administered unicast address.
    CHECK(std::regex_search(result.out, std::regex(R"(net: nic=1 mac=[0-9a-f][26ae]:[0-9a-f:]{14} status=0x1)")));
    CHECK_THAT(result.out, Catch::Contains("net: nics=2"));
}

TEST_CASE("virtio-net: a TAP that does not exist is a clear error before boot", "[kvm][virtio][virtio-net]")
{
    if (!kvm_available() || !netns_available()) {
        return;
    }
    NetNamespace ns(0);
    const auto result = run_process(ns.exec({MINIVMM_BINARY, "--kernel", MINIVMM_TEST_GUEST_ELF, "--net", "tap=nosuch0",
                                             "--cmdline", "test=boot"}));
    CHECK(result.exit_code == 125);
    CHECK_THAT(result.err, Catch::Contains("nosuch0"));
}
