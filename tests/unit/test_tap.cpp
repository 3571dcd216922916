// virtio-net on a real TAP device, in a network namespace of the test's own: Tap's errors
// and lifetime, and frames crossing both ways between the device (driven through the
// virtio-mmio transport) and the host's network stack, TCP segmentation offload included.
// Needs /dev/net/tun, CAP_NET_ADMIN and CAP_SYS_ADMIN (for unshare); skipped with a
// warning without them. The host's own interfaces are never touched: everything runs in a
// namespace that disappears with the test's last fd.
#include "devices/virtio/net/net_header.hpp"
#include "backends/net/tap.hpp"
#include "devices/virtio/net/virtio_net.hpp"
#include "devices/virtio/mmio_registers.hpp"
#include "support/virtio_mmio_driver.hpp"
#include "util/unique_fd.hpp"

#include <minivmm/vm_config.hpp>

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace minivmm;
using namespace minivmm::virtio;
using minivmm::test::MmioDriver;

namespace {

using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;

constexpr uint16_t kWrite = 2;
constexpr uint64_t kRxData = 0x20'0000;
constexpr uint64_t kTxData = 0x80'0000;
constexpr uint16_t kEtherTypeTest = 0x88b5; // IEEE 802 local experimental
constexpr size_t kHdr = sizeof(virtio::NetHeader);
const backends::MacAddress kGuestMac(backends::MacAddress::Bytes{0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc});
constexpr std::array<uint8_t, 4> kHostIp{10, 0, 0, 1};
constexpr std::array<uint8_t, 4> kGuestIp{10, 0, 0, 2};

// --- capabilities and namespaces ------------------------------------------------------------

bool has_capability(unsigned cap)
{
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    std::array<__user_cap_data_struct, 2> data{};
    return ::syscall(SYS_capget, &header, data.data()) == 0 && (data[cap / 32].effective & (1U << (cap % 32))) != 0;
}

// Drops `cap` from the calling thread's effective set (capabilities are per thread).
void drop_capability(unsigned cap)
{
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    std::array<__user_cap_data_struct, 2> data{};
    if (::syscall(SYS_capget, &header, data.data()) != 0) {
        throw std::runtime_error("capget failed");
    }
    data[cap / 32].effective &= ~(1U << (cap % 32));
    if (::syscall(SYS_capset, &header, data.data()) != 0) {
        throw std::runtime_error("capset failed");
    }
}

// Whether TAP tests can run here; warns (loudly) and returns false when not.
bool tap_tests_possible()
{
    if (::access("/dev/net/tun", R_OK | W_OK) != 0) {
        WARN("SKIPPED: /dev/net/tun is missing or not accessible: no real-TAP test ran");
        return false;
    }
    if (!has_capability(CAP_NET_ADMIN) || !has_capability(CAP_SYS_ADMIN)) {
        WARN("SKIPPED: CAP_NET_ADMIN and CAP_SYS_ADMIN are needed for TAP devices in a private network "
             "namespace: no real-TAP test ran");
        return false;
    }
    // A container may refuse new namespaces even to a capable process (seccomp).
    static const int unshare_error = [] {
        int error = 0;
        std::thread([&error] { error = ::unshare(CLONE_NEWNET) == 0 ? 0 : errno; }).join();
        return error;
    }();
    if (unshare_error != 0) {
        WARN("SKIPPED: unshare(CLONE_NEWNET) fails here (" << std::strerror(unshare_error)
                                                           << "): no real-TAP test ran");
        return false;
    }
    return true;
}

// Runs `f` on a thread of its own inside a fresh network namespace (unshare(CLONE_NEWNET)
// changes only the calling thread's), so nothing it creates is visible to the host. Fds
// opened there keep the namespace alive after the thread ends; once the last one closes,
// the namespace and every interface in it are gone. Exceptions come back to the caller.
template <typename F>
auto in_fresh_netns(F f) -> decltype(f())
{
    std::packaged_task<decltype(f())()> task([&f] {
        if (::unshare(CLONE_NEWNET) != 0) {
            throw std::runtime_error(std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno));
        }
        // No IPv6 autoconfiguration chatter on the namespace's interfaces.
        std::ofstream("/proc/sys/net/ipv6/conf/default/disable_ipv6") << "1\n";
        return f();
    });
    auto result = task.get_future();
    std::thread(std::move(task)).join();
    return result.get();
}

bool interface_exists(const std::string& name) { return ::if_nametoindex(name.c_str()) != 0; }

std::string config_error_of(const std::function<void()>& f)
{
    try {
        f();
    } catch (const ConfigError& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("not a ConfigError: ") + e.what();
    }
    return "no error";
}

// A persistent TAP as `ip tuntap add dev NAME mode tap [user UID]` makes it.
void make_persistent_tap(const std::string& name, std::optional<uid_t> owner = std::nullopt)
{
    util::UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    ifreq request{};
    std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
    request.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (!fd || ::ioctl(fd.get(), TUNSETIFF, &request) != 0 ||
        (owner && ::ioctl(fd.get(), TUNSETOWNER, static_cast<unsigned long>(*owner)) != 0) ||
        ::ioctl(fd.get(), TUNSETPERSIST, 1UL) != 0) {
        throw std::runtime_error("making a persistent TAP failed: " + std::string(std::strerror(errno)));
    }
}

void remove_persistent_tap(int tap_fd) { ::ioctl(tap_fd, TUNSETPERSIST, 0UL); }

// --- sockets and frames --------------------------------------------------------------------

union SocketAddress {
    sockaddr any;
    sockaddr_ll link;
    sockaddr_in inet;
};

sockaddr_in inet_address(const std::array<uint8_t, 4>& ip, uint16_t port)
{
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    std::memcpy(&address.sin_addr, ip.data(), 4);
    return address;
}

void set_ipv4_address(const std::string& name, const std::array<uint8_t, 4>& ip)
{
    util::UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq request{};
    std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
    const sockaddr_in address = inet_address(ip, 0);
    std::memcpy(&request.ifr_addr, &address, sizeof(address));
    const sockaddr_in mask = inet_address({255, 255, 255, 0}, 0);
    if (::ioctl(sock.get(), SIOCSIFADDR, &request) != 0) {
        throw std::runtime_error("SIOCSIFADDR failed");
    }
    std::memcpy(&request.ifr_netmask, &mask, sizeof(mask));
    if (::ioctl(sock.get(), SIOCSIFNETMASK, &request) != 0) {
        throw std::runtime_error("SIOCSIFNETMASK failed");
    }
}

// A permanent neighbour entry, so the host sends to the guest without asking ARP.
void set_neighbour(const std::string& name, const std::array<uint8_t, 4>& ip, const backends::MacAddress& mac)
{
    util::UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    arpreq request{};
    const sockaddr_in address = inet_address(ip, 0);
    std::memcpy(&request.arp_pa, &address, sizeof(address));
    request.arp_ha.sa_family = ARPHRD_ETHER;
    std::memcpy(request.arp_ha.sa_data, mac.bytes().data(), 6);
    request.arp_flags = ATF_PERM | ATF_COM;
    std::strncpy(request.arp_dev, name.c_str(), sizeof(request.arp_dev) - 1);
    if (::ioctl(sock.get(), SIOCSARP, &request) != 0) {
        throw std::runtime_error("SIOCSARP failed");
    }
}

// Everything a test needs from inside the namespace: the TAP (created, up), a raw packet
// socket on it (the host side of the wire), and an unconnected TCP socket of the namespace.
struct Sandbox {
    std::unique_ptr<backends::Tap> tap;
    util::UniqueFd packet;
    util::UniqueFd tcp;
    int ifindex = 0;
};

Sandbox make_sandbox(const std::string& name)
{
    return in_fresh_netns([&name] {
        Sandbox sandbox;
        sandbox.tap = std::make_unique<backends::Tap>(backends::Tap::create(name));
        sandbox.ifindex = static_cast<int>(::if_nametoindex(name.c_str()));
        sandbox.packet = util::UniqueFd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL)));
        SocketAddress address{};
        address.link.sll_family = AF_PACKET;
        address.link.sll_protocol = htons(ETH_P_ALL);
        address.link.sll_ifindex = sandbox.ifindex;
        if (!sandbox.packet || ::bind(sandbox.packet.get(), &address.any, sizeof(address.link)) != 0) {
            throw std::runtime_error("packet socket failed");
        }
        set_ipv4_address(name, kHostIp);
        set_neighbour(name, kGuestIp, kGuestMac);
        sandbox.tcp = util::UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        return sandbox;
    });
}

bool wait_readable(int fd, Clock::time_point deadline)
{
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    return left > 0 && ::poll(&p, 1, static_cast<int>(left)) == 1;
}

// The next frame the TAP's interface received (what the guest sent), skipping the socket's
// own transmissions and any frame `wanted` rejects.
std::optional<Bytes> host_receive(int packet, const std::function<bool(const Bytes&)>& wanted)
{
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (wait_readable(packet, deadline)) {
        Bytes frame(128 * 1024);
        sockaddr_ll from{};
        iovec iov{frame.data(), frame.size()};
        msghdr msg{};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof(from);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        const ssize_t n = ::recvmsg(packet, &msg, MSG_DONTWAIT);
        if (n < 0 || from.sll_pkttype == PACKET_OUTGOING) {
            continue;
        }
        frame.resize(static_cast<size_t>(n));
        if (wanted(frame)) {
            return frame;
        }
    }
    return std::nullopt;
}

void host_send(int packet, int ifindex, const Bytes& frame)
{
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = ifindex;
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, frame.data(), 6);
    iovec iov{const_cast<uint8_t*>(frame.data()), frame.size()};
    msghdr msg{};
    msg.msg_name = &to;
    msg.msg_namelen = sizeof(to);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    REQUIRE(::sendmsg(packet, &msg, 0) == static_cast<ssize_t>(frame.size()));
}

bool tso_enabled(int sock, const std::string& name)
{
    ethtool_value value{ETHTOOL_GTSO, 0};
    ifreq request{};
    std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
    request.ifr_data = static_cast<char*>(static_cast<void*>(&value));
    REQUIRE(::ioctl(sock, SIOCETHTOOL, &request) == 0);
    return value.data != 0;
}

void put_be16(Bytes& b, size_t at, uint16_t v)
{
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}
void put_be32(Bytes& b, size_t at, uint32_t v)
{
    put_be16(b, at, static_cast<uint16_t>(v >> 16));
    put_be16(b, at + 2, static_cast<uint16_t>(v));
}
uint16_t be16(const Bytes& b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }
uint32_t be32(const Bytes& b, size_t at) { return uint32_t{be16(b, at)} << 16 | be16(b, at + 2); }

uint32_t sum16(const uint8_t* data, size_t len, uint32_t sum = 0)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
    }
    if (len % 2 != 0) {
        sum += static_cast<uint32_t>(data[len - 1] << 8);
    }
    return sum;
}
uint16_t fold(uint32_t sum)
{
    while ((sum >> 16) != 0) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(sum);
}

Bytes ethernet(const backends::MacAddress::Bytes& dst, const backends::MacAddress::Bytes& src, uint16_t type)
{
    Bytes frame(14);
    std::copy(dst.begin(), dst.end(), frame.begin());
    std::copy(src.begin(), src.end(), frame.begin() + 6);
    put_be16(frame, 12, type);
    return frame;
}

// An Ethernet + IPv4 + TCP frame. With `partial` the TCP checksum holds only the
// pseudo-header sum, for the receiver to finish (NEEDS_CSUM at csum_start 34, offset 16).
Bytes tcp_frame(const backends::MacAddress::Bytes& dst_mac, const backends::MacAddress::Bytes& src_mac,
                const std::array<uint8_t, 4>& src_ip, const std::array<uint8_t, 4>& dst_ip, uint16_t sport,
                uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags, const Bytes& options, const Bytes& data,
                bool partial)
{
    Bytes frame = ethernet(dst_mac, src_mac, ETHERTYPE_IP);
    const size_t ip = frame.size();
    const size_t tcp_len = 20 + options.size() + data.size();
    frame.resize(ip + 20 + tcp_len);
    frame[ip] = 0x45;
    put_be16(frame, ip + 2, static_cast<uint16_t>(20 + tcp_len));
    put_be16(frame, ip + 6, 0x4000); // DF
    frame[ip + 8] = 64;
    frame[ip + 9] = IPPROTO_TCP;
    std::copy(src_ip.begin(), src_ip.end(), frame.begin() + static_cast<std::ptrdiff_t>(ip + 12));
    std::copy(dst_ip.begin(), dst_ip.end(), frame.begin() + static_cast<std::ptrdiff_t>(ip + 16));
    put_be16(frame, ip + 10, static_cast<uint16_t>(~fold(sum16(&frame[ip], 20))));
    const size_t tcp = ip + 20;
    put_be16(frame, tcp, sport);
    put_be16(frame, tcp + 2, dport);
    put_be32(frame, tcp + 4, seq);
    put_be32(frame, tcp + 8, ack);
    frame[tcp + 12] = static_cast<uint8_t>((20 + options.size()) / 4 << 4);
    frame[tcp + 13] = flags;
    put_be16(frame, tcp + 14, 65535);
    std::copy(options.begin(), options.end(), frame.begin() + static_cast<std::ptrdiff_t>(tcp + 20));
    std::copy(data.begin(), data.end(), frame.begin() + static_cast<std::ptrdiff_t>(tcp + 20 + options.size()));
    uint32_t pseudo = sum16(src_ip.data(), 4, sum16(dst_ip.data(), 4));
    pseudo += IPPROTO_TCP + static_cast<uint32_t>(tcp_len);
    put_be16(frame, tcp + 16,
             partial ? fold(pseudo) : static_cast<uint16_t>(~fold(sum16(&frame[tcp], tcp_len, pseudo))));
    return frame;
}

// --- the guest side --------------------------------------------------------------------------

struct ReceivedFrame {
    virtio::NetHeader header;
    Bytes frame;
    uint16_t buffers;
};

// The guest driver's part: RX buffers of kRxBuffer bytes reposted as they are used, frames
// collected from the used ring (merging buffers per num_buffers), TX chains of one buffer.
struct Guest {
    static constexpr uint16_t kQueueSize = 128;
    static constexpr uint32_t kRxBuffer = 2048;

    int tap_fd = -1;
    virtio::VirtioNet* net = nullptr;
    MmioDriver driver;
    uint16_t rx_seen = 0;
    uint16_t tx_next = 0;

    explicit Guest(std::unique_ptr<backends::Tap> tap)
        : tap_fd(tap->fd()),
          driver(
              [this, &tap](memory::GuestMemory& memory) {
                  auto device = std::make_unique<virtio::VirtioNet>(memory, std::move(tap), kGuestMac);
                  net = device.get();
                  return device;
              },
              32 * kMiB)
    {
    }

    void bring_up(uint64_t features)
    {
        driver.bring_up(2, kQueueSize, features);
        for (uint16_t i = 0; i < kQueueSize; ++i) {
            driver.desc(0, i, kRxData + uint64_t{i} * kRxBuffer, kRxBuffer, kWrite);
            driver.offer(0, i);
        }
        driver.kick(0);
    }

    void send(const virtio::NetHeader& header, const Bytes& frame)
    {
        const uint16_t index = tx_next++ % kQueueSize;
        const uint64_t addr = kTxData + uint64_t{index} * 0x1'0000;
        driver.memory.write_obj(memory::GuestAddress{addr}, header);
        driver.memory.write(memory::GuestAddress{addr + kHdr}, std::as_bytes(std::span(frame)));
        driver.desc(1, index, addr, static_cast<uint32_t>(kHdr + frame.size()), 0);
        driver.offer(1, index);
        driver.kick(1);
    }

    Bytes rx_buffer(uint32_t id, uint32_t offset, uint32_t len)
    {
        Bytes bytes(len);
        driver.memory.read(memory::GuestAddress{kRxData + uint64_t{id} * kRxBuffer + offset},
                           std::as_writable_bytes(std::span(bytes)));
        return bytes;
    }

    // Frames in the used ring now, their buffers reposted.
    std::vector<ReceivedFrame> collect()
    {
        std::vector<ReceivedFrame> frames;
        const uint64_t used = MmioDriver::ring_addr(0) + 0x2000;
        const auto element = [&](uint16_t slot) {
            const uint64_t at = used + 4 + (slot % kQueueSize) * 8ULL;
            return std::pair{driver.memory.read_obj<uint32_t>(memory::GuestAddress{at}),
                             driver.memory.read_obj<uint32_t>(memory::GuestAddress{at + 4})};
        };
        while (rx_seen != driver.used_idx(0)) {
            auto [id, len] = element(rx_seen++);
            ReceivedFrame received{};
            received.header =
                driver.memory.read_obj<virtio::NetHeader>(memory::GuestAddress{kRxData + uint64_t{id} * kRxBuffer});
            received.frame = rx_buffer(id, kHdr, len - static_cast<uint32_t>(kHdr));
            received.buffers = received.header.num_buffers;
            driver.offer(0, static_cast<uint16_t>(id));
            for (uint16_t i = 1; i < received.header.num_buffers; ++i) {
                std::tie(id, len) = element(rx_seen++);
                const Bytes more = rx_buffer(id, 0, len);
                received.frame.insert(received.frame.end(), more.begin(), more.end());
                driver.offer(0, static_cast<uint16_t>(id));
            }
            frames.push_back(std::move(received));
        }
        driver.kick(0);
        return frames;
    }

    // Runs the device until `wanted` accepts a received frame (5 s at most).
    std::optional<ReceivedFrame> receive(const std::function<bool(const ReceivedFrame&)>& wanted)
    {
        const auto deadline = Clock::now() + std::chrono::seconds(5);
        for (;;) {
            for (auto& frame : collect()) {
                if (wanted(frame)) {
                    return frame;
                }
            }
            if (driver.used_idx(0) != rx_seen) {
                continue; // the notification in collect() let the device deliver more
            }
            if (!wait_readable(tap_fd, deadline)) {
                return std::nullopt;
            }
            driver.poller.run_ready();
        }
    }
};

bool is_test_frame(const Bytes& frame) { return frame.size() >= 14 && be16(frame, 12) == kEtherTypeTest; }

bool is_tcp(const Bytes& frame, uint16_t sport, uint16_t dport)
{
    return frame.size() >= 54 && be16(frame, 12) == ETHERTYPE_IP && frame[23] == IPPROTO_TCP &&
           be16(frame, 34) == sport && be16(frame, 36) == dport;
}

} // namespace

TEST_CASE("TAP: errors name the interface, a created TAP lives as long as its object", "[unit][tap]")
{
    if (!tap_tests_possible()) {
        return;
    }
    struct Outcome {
        std::string missing, not_tap, name_taken, busy, no_permission, cannot_create;
        bool missing_left_behind = true, created_exists = false, created_gone = false;
        bool persistent_opened = false, persistent_created_flag = true, persistent_kept = false;
    };
    const Outcome outcome = in_fresh_netns([] {
        Outcome o;
        o.missing = config_error_of([] { static_cast<void>(backends::Tap::open("mvnone0")); });
        o.missing_left_behind = interface_exists("mvnone0");
        o.not_tap = config_error_of([] { static_cast<void>(backends::Tap::open("lo")); });
        o.name_taken = config_error_of([] { static_cast<void>(backends::Tap::create("lo")); });
        {
            auto created = backends::Tap::create("mvtap0");
            o.created_exists = interface_exists("mvtap0");
            o.busy = config_error_of([] { static_cast<void>(backends::Tap::open("mvtap0")); });
        }
        o.created_gone = !interface_exists("mvtap0");
        make_persistent_tap("mvpers0");
        {
            auto opened = backends::Tap::open("mvpers0");
            o.persistent_opened = true;
            o.persistent_created_flag = opened.created();
        }
        o.persistent_kept = interface_exists("mvpers0");
        {
            auto cleanup = backends::Tap::open("mvpers0");
            remove_persistent_tap(cleanup.fd());
        }
        // A TAP owned by another user, and creation, without CAP_NET_ADMIN.
        make_persistent_tap("mvother0", 12345);
        drop_capability(CAP_NET_ADMIN);
        o.no_permission = config_error_of([] { static_cast<void>(backends::Tap::open("mvother0")); });
        o.cannot_create = config_error_of([] { static_cast<void>(backends::Tap::create("mvnew0")); });
        return o;
    });
    CHECK_THAT(outcome.missing, Catch::Contains("net 'mvnone0': there is no network interface 'mvnone0'"));
    CHECK_FALSE(outcome.missing_left_behind);
    CHECK_THAT(outcome.not_tap, Catch::Contains("'lo' is not a single-queue TAP device"));
    CHECK_THAT(outcome.name_taken, Catch::Contains("cannot create TAP 'lo': an interface of that name exists"));
    CHECK(outcome.created_exists);
    CHECK_THAT(outcome.busy, Catch::Contains("TAP 'mvtap0' is in use by another process"));
    CHECK(outcome.created_gone);
    CHECK(outcome.persistent_opened);
    CHECK_FALSE(outcome.persistent_created_flag);
    CHECK(outcome.persistent_kept);
    CHECK_THAT(outcome.no_permission, Catch::Contains("no permission to attach to TAP 'mvother0'"));
    CHECK_THAT(outcome.cannot_create, Catch::Contains("creating TAP 'mvnew0' needs CAP_NET_ADMIN"));
    for (const auto* message : {&outcome.missing, &outcome.no_permission, &outcome.cannot_create}) {
        CHECK(message->find('\n') == std::string::npos); // one line
    }
}

TEST_CASE("TAP: frames cross both ways between virtio-net and the host", "[unit][tap]")
{
    if (!tap_tests_possible()) {
        return;
    }
    Sandbox sandbox = make_sandbox("mvtap0");
    const int packet = sandbox.packet.get();
    const int ifindex = sandbox.ifindex;
    CHECK_FALSE(tso_enabled(packet, "mvtap0")); // no offloads before a driver asks
    Guest guest(std::move(sandbox.tap));
    guest.bring_up(kNetFMrgRxbuf | kNetFCsum | kNetFGuestCsum | kNetFHostTso4 | kNetFGuestTso4 | kFEventIdx);
    CHECK(tso_enabled(packet, "mvtap0")); // GUEST_TSO4 -> TUNSETOFFLOAD TSO4

    SECTION("a plain frame each way")
    {
        Bytes out = ethernet({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, kGuestMac.bytes(), kEtherTypeTest);
        for (uint8_t i = 0; i < 200; ++i) {
            out.push_back(i);
        }
        guest.send({}, out);
        CHECK(host_receive(packet, is_test_frame) == out);
        CHECK(guest.driver.used_idx(1) == 1);

        Bytes in = ethernet(kGuestMac.bytes(), {0x02, 0, 0, 0, 0, 1}, kEtherTypeTest);
        in.resize(1000, 0x3c);
        host_send(packet, ifindex, in);
        const auto received = guest.receive([](const ReceivedFrame& f) { return is_test_frame(f.frame); });
        REQUIRE(received);
        CHECK(received->frame == in);
        CHECK(received->header.gso_type == kNetHdrGsoNone);
        CHECK(received->buffers == 1);
    }

    SECTION("a 20 kB TCP segment from the guest reaches the host in one piece")
    {
        const Bytes data(20000, 0x77);
        const Bytes frame = tcp_frame({0x02, 0, 0, 0, 0, 1}, kGuestMac.bytes(), kGuestIp, {10, 0, 0, 99}, 40000, 5001,
                                      1, 0, 0x18, {}, data, true);
        virtio::NetHeader header{};
        header.flags = kNetHdrFNeedsCsum;
        header.gso_type = kNetHdrGsoTcpV4;
        header.hdr_len = 54;
        header.gso_size = 1448;
        header.csum_start = 34;
        header.csum_offset = 16;
        guest.send(header, frame);
        const auto received = host_receive(packet, [](const Bytes& f) { return is_tcp(f, 40000, 5001); });
        REQUIRE(received);
        CHECK(received->size() == frame.size()); // not cut to the 1500-byte MTU
        CHECK(guest.net->stats().tx_frames == 1);
    }

    SECTION("the host's TCP stack sends the guest segments larger than the MTU")
    {
        // Host 10.0.0.1 connects to the "guest" 10.0.0.2, whose TCP the test plays by hand.
        constexpr uint16_t kPort = 5002;
        SocketAddress address{};
        address.inet = inet_address(kGuestIp, kPort);
        REQUIRE(::connect(sandbox.tcp.get(), &address.any, sizeof(address.inet)) != 0);
        REQUIRE(errno == EINPROGRESS);
        const auto syn = guest.receive([](const ReceivedFrame& f) {
            return f.frame.size() >= 54 && be16(f.frame, 12) == ETHERTYPE_IP && f.frame[23] == IPPROTO_TCP &&
                   be16(f.frame, 36) == kPort && (f.frame[47] & 0x02) != 0;
        });
        REQUIRE(syn);
        const uint16_t host_port = be16(syn->frame, 34);
        const uint32_t host_seq = be32(syn->frame, 38);
        const backends::MacAddress::Bytes host_mac{syn->frame[6], syn->frame[7],  syn->frame[8],
                                              syn->frame[9], syn->frame[10], syn->frame[11]};
        constexpr uint32_t kGuestSeq = 1000;
        const Bytes mss_1460{2, 4, 0x05, 0xb4};
        guest.send({}, tcp_frame(host_mac, kGuestMac.bytes(), kGuestIp, kHostIp, kPort, host_port, kGuestSeq,
                                 host_seq + 1, 0x12, mss_1460, {}, false));
        pollfd connected{sandbox.tcp.get(), POLLOUT, 0};
        REQUIRE(::poll(&connected, 1, 5000) == 1);
        int error = -1;
        socklen_t len = sizeof(error);
        REQUIRE(::getsockopt(sandbox.tcp.get(), SOL_SOCKET, SO_ERROR, &error, &len) == 0);
        REQUIRE(error == 0);

        const Bytes data(30000, 0x42);
        REQUIRE(::send(sandbox.tcp.get(), data.data(), data.size(), MSG_DONTWAIT) > 0);
        // The first window (10 segments) leaves as TSO frames the guest receives whole.
        uint64_t payload_bytes = 0;
        bool saw_gso = false;
        const auto last = guest.receive([&](const ReceivedFrame& f) {
            if (!is_tcp(f.frame, host_port, kPort)) {
                return false;
            }
            const size_t header_len = 34 + ((f.frame[46] >> 4) * 4U);
            payload_bytes += f.frame.size() - header_len;
            if (f.header.gso_type == kNetHdrGsoTcpV4) {
                saw_gso = true;
                CHECK(f.frame.size() > 1514);
                CHECK(f.buffers > 1); // spread over mergeable 2 kB buffers
                CHECK((f.header.flags & kNetHdrFNeedsCsum) != 0);
                CHECK(f.header.gso_size == 1460);
            }
            return payload_bytes >= 14600;
        });
        REQUIRE(last);
        CHECK(saw_gso);
        CHECK(guest.net->stats().rx_dropped == 0);
    }
}
