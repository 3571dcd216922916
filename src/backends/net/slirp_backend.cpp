#include "backends/net/slirp_backend.hpp"

#include "backends/net/slirp_backend_internal.hpp"

#include "backends/net/libslirp.hpp"
#include "backends/net/packet_headers.hpp"
#include "backends/net/transmit_offload.hpp"
#include "backends/net/vnet_header.hpp"
#include "memory/byte_span.hpp"
#include "util/sys_error.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace minivmm::backends {
namespace {

constexpr size_t kSpareBuffers = 64;

in_addr to_in_addr(const Ipv4Address& address)
{
    in_addr result{};
    std::memcpy(&result.s_addr, address.data(), address.size()); // both in network order
    return result;
}

Ipv4Address netmask(unsigned prefix_length)
{
    const uint32_t mask = prefix_length == 0 ? 0 : ~uint32_t{0} << (32 - prefix_length);
    return {static_cast<uint8_t>(mask >> 24), static_cast<uint8_t>(mask >> 16), static_cast<uint8_t>(mask >> 8),
            static_cast<uint8_t>(mask)};
}

// fec0::N, QEMU's default IPv6 prefix for user-mode networking with N = 2 (host), 3 (DNS).
std::array<uint8_t, 16> site_local(uint8_t last)
{
    std::array<uint8_t, 16> address{0xfe, 0xc0};
    address[15] = last;
    return address;
}

in6_addr to_in6_addr(const std::array<uint8_t, 16>& address)
{
    in6_addr result{};
    std::memcpy(result.s6_addr, address.data(), address.size());
    return result;
}

std::string address_text(const Ipv4Address& a) { return fmt::format("{}.{}.{}.{}", a[0], a[1], a[2], a[3]); }

RestrictPolicy make_restrict_policy(const UserNetOptions& options)
{
    RestrictPolicy policy;
    policy.host = options.host;
    if (options.ipv6) {
        policy.host6 = site_local(2);
    }
    for (const auto& forward : options.forwards) {
        if (forward.udp) {
            const bool default_guest = forward.guest_address == Ipv4Address{};
            policy.udp_forwards.push_back({default_guest ? options.dhcp_start : forward.guest_address,
                                           forward.guest_port});
        }
    }
    return policy;
}

// Copies `bytes` into `iov` from byte `offset` of the iovec list on; returns the bytes copied.
size_t scatter(std::span<const iovec> iov, size_t offset, std::span<const uint8_t> bytes)
{
    size_t copied = 0;
    for (const iovec& v : iov) {
        if (copied == bytes.size()) {
            break;
        }
        if (offset >= v.iov_len) {
            offset -= v.iov_len;
            continue;
        }
        const size_t n = std::min(v.iov_len - offset, bytes.size() - copied);
        std::memcpy(static_cast<uint8_t*>(v.iov_base) + offset, bytes.data() + copied, n);
        copied += n;
        offset = 0;
    }
    return copied;
}

} // namespace

void SlirpBackend::SlirpDeleter::operator()(Slirp* slirp) const { LibSlirp::get().slirp_cleanup(slirp); }

SlirpBackend::SlirpBackend(UserNetOptions options)
    : options_(std::move(options)), restrict_policy_(make_restrict_policy(options_)),
      rx_ready_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), poll_epoll_(::epoll_create1(EPOLL_CLOEXEC))
{
    if (!rx_ready_) {
        util::throw_sys_error(fmt::format("net {}: eventfd", options_.name));
    }
    if (!poll_epoll_) {
        util::throw_sys_error(fmt::format("net {}: epoll_create1", options_.name));
    }
    const LibSlirp& lib = LibSlirp::get();
    tx_frame_.reserve(kVnetHeaderSize + kMaxFrameSize);

    SlirpConfig config{};
    config.version = 4; // the fields up to disable_dhcp (libslirp 4.7)
    config.restricted = 0; // restrict=on is restrict_policy_ (restrict_policy.hpp says why)
    config.in_enabled = true;
    config.vnetwork = to_in_addr(options_.network);
    config.vnetmask = to_in_addr(netmask(options_.prefix_length));
    config.vhost = to_in_addr(options_.host);
    config.in6_enabled = options_.ipv6;
    config.vprefix_addr6 = to_in6_addr(site_local(0));
    config.vprefix_len = 64;
    config.vhost6 = to_in6_addr(site_local(2));
    config.vdhcp_start = to_in_addr(options_.dhcp_start);
    config.vnameserver = to_in_addr(options_.dns);
    config.vnameserver6 = to_in6_addr(site_local(3));
    config.disable_host_loopback = false;
    config.enable_emu = false; // libslirp's FTP/IRC/... rewriting: "not safe", its header says

    std::lock_guard lock(libslirp_mutex());
    slirp_.reset(lib.slirp_new(&config, &SlirpCallbacks::table(), this));
    if (!slirp_) {
        throw ConfigError(fmt::format("net {}: libslirp refused the configuration (network {}/{})", options_.name,
                                      address_text(options_.network), options_.prefix_length));
    }
    try {
        add_forwards();
    } catch (...) {
        slirp_.reset(); // under the lock, as every call into libslirp
        throw;
    }
}

SlirpBackend::~SlirpBackend()
{
    if (loop_ != nullptr) {
        loop_->remove_source(*this);
        loop_->remove(poll_epoll_.get());
    }
    std::lock_guard lock(libslirp_mutex());
    slirp_.reset(); // its callbacks (timer_free, unregister_poll_fd) still find everything here
}

void SlirpBackend::add_forwards()
{
    const LibSlirp& lib = LibSlirp::get();
    for (const auto& forward : options_.forwards) {
        if (lib.slirp_add_hostfwd(slirp_.get(), forward.udp ? 1 : 0, to_in_addr(forward.host_address),
                                  forward.host_port, to_in_addr(forward.guest_address), forward.guest_port) == 0) {
            continue;
        }
        const int err = errno;
        const std::string host = forward.host_address == Ipv4Address{} ? "" : address_text(forward.host_address);
        std::string why;
        switch (err) {
        case EADDRINUSE:
            why = "the port is in use on the host";
            break;
        case EACCES:
        case EPERM:
            why = fmt::format("this user may not listen on port {} (below net.ipv4.ip_unprivileged_port_start)",
                              forward.host_port);
            break;
        case EADDRNOTAVAIL:
            why = fmt::format("{} is not an address of this host", host);
            break;
        default:
            why = fmt::format("cannot listen on the host: {}", util::errno_text(err));
            break;
        }
        throw ConfigError(fmt::format("net {}: hostfwd {}:{}:{}: {}", options_.name, forward.udp ? "udp" : "tcp", host,
                                      forward.host_port, why));
    }
}

void SlirpBackend::attach(util::EventLoop& loop)
{
    loop_ = &loop;
    if (!loop.add(poll_epoll_.get(), EPOLLIN, [this](uint32_t) { poll_ready_ = true; })) {
        util::throw_sys_error(fmt::format("net {}: epoll_ctl (libslirp's sockets)", options_.name));
    }
    loop.add_source(*this);
    std::lock_guard lock(libslirp_mutex());
    for (auto& [raw, timer] : timers_) {
        arm(*timer);
    }
}

// --- frames ----------------------------------------------------------------------------

IoResult SlirpBackend::write_frame(std::span<const iovec> iov)
{
    size_t total = 0;
    for (const iovec& v : iov) {
        total += v.iov_len;
    }
    if (total < kVnetHeaderSize + packet::kEthernetHeaderSize || total > kVnetHeaderSize + kMaxFrameSize) {
        std::lock_guard lock(libslirp_mutex());
        ++stats_.tx_malformed;
        return {0, EINVAL};
    }
    tx_frame_.resize(total);
    size_t offset = 0;
    for (const iovec& v : iov) {
        std::memcpy(tx_frame_.data() + offset, v.iov_base, v.iov_len);
        offset += v.iov_len;
    }
    VnetHeader header{};
    std::memcpy(&header, tx_frame_.data(), sizeof(header));
    static_assert(sizeof(header) == kVnetHeaderSize);
    const std::span<uint8_t> frame = std::span(tx_frame_).subspan(kVnetHeaderSize);
    block_sigpipe_in_this_thread();
    {
        std::lock_guard lock(libslirp_mutex());
        ++stats_.tx_frames;
        if (options_.restrict) {
            const auto verdict = restrict_policy_.judge(frame);
            if (verdict != RestrictPolicy::Verdict::Allow) {
                ++stats_.tx_restricted;
                if (verdict == RestrictPolicy::Verdict::Reset && make_tcp_reset(frame, tx_reset_)) {
                    queue_for_guest(tx_reset_);
                }
                return {total, 0}; // sent, as far as the guest can tell
            }
        }
        if (refuse_new_connection(frame)) {
            ++stats_.tx_refused;
            return {total, 0};
        }
        // IPv4 TSO segments go in whole (transmit_offload.hpp says why), IPv6 ones segmented.
        const auto result = finish_transmit(
            header, frame, tx_segment_, [this](std::span<const uint8_t> packet) { input(packet); }, true);
        if (result != TransmitOffloadResult::Done) {
            ++stats_.tx_malformed;
            uint64_t suppressed = 0;
            if (spdlog::should_log(spdlog::level::debug) && guest_log_.allow(suppressed)) {
                spdlog::debug("net {}: TX frame of {} bytes dropped: {} ({} more not logged)", options_.name,
                              frame.size(), to_string(result), suppressed);
            }
            return {0, EINVAL};
        }
    }
    if (loop_ != nullptr) {
        loop_->wake(); // from a vCPU thread (DRIVER_OK): the loop must look at the sockets again
    }
    return {total, 0};
}

bool SlirpBackend::refuse_new_connection(std::span<const uint8_t> frame)
{
    if (host_sockets_.size() < options_.max_host_sockets) {
        return false;
    }
    const auto ip = packet::parse_ip(frame);
    const auto tcp = ip ? packet::parse_tcp(frame, *ip) : std::nullopt;
    if (!tcp || (tcp->flags & (packet::kTcpSyn | packet::kTcpAck | packet::kTcpRst)) != packet::kTcpSyn) {
        return false;
    }
    uint64_t suppressed = 0;
    if (guest_log_.allow(suppressed)) {
        spdlog::warn("net {}: the guest holds {} host sockets: a new TCP connection is refused ({} more not logged)",
                     options_.name, host_sockets_.size(), suppressed);
    }
    if (make_tcp_reset(frame, tx_reset_)) {
        queue_for_guest(tx_reset_);
    }
    return true;
}

void SlirpBackend::input(std::span<const uint8_t> frame)
{
    ++stats_.tx_packets;
    LibSlirp::get().slirp_input(slirp_.get(), frame.data(), static_cast<int>(frame.size()));
}

void SlirpBackend::queue_for_guest(std::span<const uint8_t> frame)
{
    if (rx_queue_.size() >= kMaxQueuedFrames || rx_queued_bytes_ + frame.size() > kMaxQueuedBytes) {
        ++stats_.rx_dropped;
        return;
    }
    std::vector<uint8_t> buffer;
    if (!rx_spare_.empty()) {
        buffer = std::move(rx_spare_.back());
        rx_spare_.pop_back();
    }
    buffer.assign(frame.begin(), frame.end());
    const bool was_empty = rx_queue_.empty();
    rx_queue_.push_back(std::move(buffer));
    rx_queued_bytes_ += frame.size();
    ++stats_.rx_frames;
    if (was_empty) {
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(rx_ready_.get(), &one, sizeof(one));
    }
}

IoResult SlirpBackend::read_frame(std::span<const iovec> iov)
{
    std::lock_guard lock(libslirp_mutex());
    if (rx_queue_.empty()) {
        return {0, EAGAIN};
    }
    std::vector<uint8_t> frame = std::move(rx_queue_.front());
    rx_queue_.pop_front();
    rx_queued_bytes_ -= frame.size();
    VnetHeader header{};
    header.flags = rx_data_valid_ ? kVnetFlagDataValid : 0;
    header.gso_type = kVnetGsoNone;
    size_t copied = scatter(iov, 0, memory::object_u8(header));
    copied += scatter(iov, copied, frame);
    if (rx_spare_.size() < kSpareBuffers) {
        rx_spare_.push_back(std::move(frame));
    }
    if (rx_queue_.empty()) {
        uint64_t count = 0;
        [[maybe_unused]] const ssize_t n = ::read(rx_ready_.get(), &count, sizeof(count));
    }
    return {copied, 0};
}

bool SlirpBackend::set_offloads(Offloads offloads)
{
    // What the driver can receive: libslirp's frames are finished and at most its MTU long,
    // so only the checksum flag has a use (DATA_VALID).
    std::lock_guard lock(libslirp_mutex());
    rx_data_valid_ = offloads.csum;
    return true;
}

UserNetStats SlirpBackend::stats() const
{
    std::lock_guard lock(libslirp_mutex());
    return stats_;
}

void SlirpBackend::add_syscalls(util::SeccompPolicy& policy) const
{
    policy.allow(util::kDeviceThreads,
                 {"socket", "connect", "accept", "accept4", "bind", "listen", "shutdown", "getsockname", "getpeername",
                  "getsockopt", "setsockopt", "sendto", "sendmsg", "recvfrom", "recvmsg", "read", "write", "close",
                  "fcntl", "ioctl", "epoll_ctl", "epoll_wait", "epoll_pwait", "newfstatat", "fstat", "lseek"});
    policy.allow_read_only_open(util::kDeviceThreads);
}

} // namespace minivmm::backends
