#include "backends/net/tap.hpp"

#include "util/sys_error.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace minivmm::backends {
namespace {

constexpr short kTapFlags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;

[[nodiscard]] ifreq make_ifreq(const std::string& name)
{
    ifreq request{};
    // The name was checked to fit IFNAMSIZ - 1 (VmConfig::validate); cut it here regardless.
    std::memcpy(request.ifr_name, name.data(), std::min(name.size(), sizeof(request.ifr_name) - 1));
    return request;
}

[[nodiscard]] util::UniqueFd open_tun(const std::string& name)
{
    util::UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (fd) {
        return fd;
    }
    const int err = errno;
    if (err == ENOENT || err == ENODEV || err == ENXIO) {
        throw ConfigError(fmt::format("net '{}': /dev/net/tun is missing ({}): is the tun module loaded?", name,
                                      util::errno_text(err)));
    }
    if (err == EACCES || err == EPERM) {
        throw ConfigError(
            fmt::format("net '{}': no permission to open /dev/net/tun ({})", name, util::errno_text(err)));
    }
    util::throw_sys_error(fmt::format("net '{}': open /dev/net/tun", name), err);
}

// SIOCGIFFLAGS / SIOCSIFFLAGS need some socket of the interface's network namespace.
[[nodiscard]] util::UniqueFd control_socket(const std::string& name)
{
    util::UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) {
        util::throw_sys_error(fmt::format("net '{}': socket for interface flags", name));
    }
    return sock;
}

[[nodiscard]] bool interface_is_up(const std::string& name)
{
    const util::UniqueFd sock = control_socket(name);
    ifreq request = make_ifreq(name);
    return ::ioctl(sock.get(), SIOCGIFFLAGS, &request) == 0 && (request.ifr_flags & IFF_UP) != 0;
}

void bring_up(const std::string& name)
{
    const util::UniqueFd sock = control_socket(name);
    ifreq request = make_ifreq(name);
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &request) != 0) {
        util::throw_sys_error(fmt::format("net '{}': SIOCGIFFLAGS", name));
    }
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &request) != 0) {
        util::throw_sys_error(fmt::format("net '{}': bringing the interface up (SIOCSIFFLAGS)", name));
    }
}

// The 12-byte header of virtio 1.x (num_buffers included) on every frame, and no offloads
// until the driver negotiates some.
void configure(const util::UniqueFd& fd, const std::string& name)
{
    int header_size = static_cast<int>(kVnetHeaderSize);
    if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &header_size) != 0) {
        util::throw_sys_error(fmt::format("net '{}': TUNSETVNETHDRSZ", name));
    }
    if (::ioctl(fd.get(), TUNSETOFFLOAD, 0U) != 0) {
        util::throw_sys_error(fmt::format("net '{}': TUNSETOFFLOAD", name));
    }
}

[[nodiscard]] IoResult io_result(ssize_t n) { return n < 0 ? IoResult{0, errno} : IoResult{static_cast<size_t>(n), 0}; }

} // namespace

Tap Tap::open(const std::string& name)
{
    // TUNSETIFF on a name that does not exist would create a new TAP instead: look first.
    if (::if_nametoindex(name.c_str()) == 0) {
        throw ConfigError(fmt::format("net '{}': there is no network interface '{}' (create it with "
                                      "`ip tuntap add dev {} mode tap`, or use tap={},create=on)",
                                      name, name, name, name));
    }
    util::UniqueFd fd = open_tun(name);
    ifreq request = make_ifreq(name);
    request.ifr_flags = kTapFlags;
    if (::ioctl(fd.get(), TUNSETIFF, &request) != 0) {
        const int err = errno;
        switch (err) {
        case EPERM:
        case EACCES:
            throw ConfigError(fmt::format("net '{}': no permission to attach to TAP '{}' ({}): it belongs to "
                                          "another user, or attaching needs CAP_NET_ADMIN (create it with "
                                          "`ip tuntap add dev {} mode tap user USER`)",
                                          name, name, util::errno_text(err), name));
        case EBUSY:
            throw ConfigError(fmt::format("net '{}': TAP '{}' is in use by another process", name, name));
        case EINVAL:
            throw ConfigError(fmt::format("net '{}': interface '{}' is not a single-queue TAP device", name, name));
        default:
            util::throw_sys_error(fmt::format("net '{}': TUNSETIFF", name), err);
        }
    }
    // Attaching to an existing single-queue TAP only works when it is persistent; without
    // IFF_PERSIST the interface vanished after the look above and TUNSETIFF made a new one.
    ifreq attached{};
    if (::ioctl(fd.get(), TUNGETIFF, &attached) != 0) {
        util::throw_sys_error(fmt::format("net '{}': TUNGETIFF", name));
    }
    if ((attached.ifr_flags & IFF_PERSIST) == 0) {
        throw ConfigError(fmt::format("net '{}': there is no persistent TAP device '{}'", name, name));
    }
    configure(fd, name);
    if (!interface_is_up(name)) {
        spdlog::warn("net '{}': the TAP interface is down: frames the guest sends are dropped until it is up "
                     "(`ip link set {} up`)",
                     name, name);
    }
    return Tap(std::move(fd), name, false);
}

Tap Tap::create(const std::string& name)
{
    util::UniqueFd fd = open_tun(name);
    ifreq request = make_ifreq(name);
    // IFF_TUN_EXCL: fail instead of attaching when the name is taken.
    request.ifr_flags = static_cast<short>(kTapFlags | IFF_TUN_EXCL);
    if (::ioctl(fd.get(), TUNSETIFF, &request) != 0) {
        const int err = errno;
        switch (err) {
        case EPERM:
        case EACCES:
            throw ConfigError(fmt::format("net '{}': creating TAP '{}' needs CAP_NET_ADMIN ({}): run as root, or "
                                          "create it beforehand with `ip tuntap add dev {} mode tap user USER`",
                                          name, name, util::errno_text(err), name));
        case EBUSY:
        case EEXIST:
            throw ConfigError(
                fmt::format("net '{}': cannot create TAP '{}': an interface of that name exists", name, name));
        default:
            util::throw_sys_error(fmt::format("net '{}': TUNSETIFF (create)", name), err);
        }
    }
    // New TAPs are not persistent: closing the fd removes the interface, on every exit path.
    configure(fd, name);
    bring_up(name);
    spdlog::info("net '{}': created TAP interface (removed when minivmm exits)", name);
    return Tap(std::move(fd), name, true);
}

IoResult Tap::read_frame(std::span<const iovec> iov)
{
    return io_result(::readv(fd_.get(), iov.data(), static_cast<int>(iov.size())));
}

IoResult Tap::write_frame(std::span<const iovec> iov)
{
    return io_result(::writev(fd_.get(), iov.data(), static_cast<int>(iov.size())));
}

unsigned Tap::tun_offload_flags(Offloads offloads)
{
    if (!offloads.csum) {
        return 0;
    }
    return TUN_F_CSUM | (offloads.tso4 ? TUN_F_TSO4 : 0U) | (offloads.tso6 ? TUN_F_TSO6 : 0U);
}

bool Tap::set_offloads(Offloads offloads)
{
    const unsigned long flags = tun_offload_flags(offloads);
    if (::ioctl(fd_.get(), TUNSETOFFLOAD, flags) != 0) {
        spdlog::warn("net '{}': TUNSETOFFLOAD {:#x} failed: {}", name_, flags, util::errno_text(errno));
        return false;
    }
    return true;
}

} // namespace minivmm::backends
