#include "backends/net/slirp_backend.hpp"

#include "backends/net/libslirp.hpp"
#include "backends/net/packet_headers.hpp"
#include "backends/net/transmit_offload.hpp"
#include "backends/net/vnet_header.hpp"
#include "memory/byte_span.hpp"
#include "util/sys_error.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace minivmm::backends {
namespace {

constexpr size_t kSpareBuffers = 64;
constexpr size_t kEpollBatch = 64;

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

uint32_t to_epoll(int slirp_events)
{
    uint32_t events = 0;
    events |= (slirp_events & SLIRP_POLL_IN) != 0 ? EPOLLIN : 0U;
    events |= (slirp_events & SLIRP_POLL_OUT) != 0 ? EPOLLOUT : 0U;
    events |= (slirp_events & SLIRP_POLL_PRI) != 0 ? EPOLLPRI : 0U;
    return events; // EPOLLERR and EPOLLHUP are always reported
}

int to_slirp(uint32_t events)
{
    int revents = 0;
    revents |= (events & EPOLLIN) != 0 ? SLIRP_POLL_IN : 0;
    revents |= (events & EPOLLOUT) != 0 ? SLIRP_POLL_OUT : 0;
    revents |= (events & EPOLLPRI) != 0 ? SLIRP_POLL_PRI : 0;
    revents |= (events & EPOLLERR) != 0 ? SLIRP_POLL_ERR : 0;
    revents |= (events & EPOLLHUP) != 0 ? SLIRP_POLL_HUP : 0;
    return revents;
}

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

// libslirp keeps process-wide state besides its instances (4.7: `curtime`, the clock every
// timer reads, written by each slirp_pollfds_poll; the resolver address cache), so calls into
// any instance are serialised: several VMs of one process run their stacks from their own I/O
// threads. The same mutex guards each back end's own state.
std::mutex& libslirp_mutex()
{
    static std::mutex mutex;
    return mutex;
}

// libslirp writes to its sockets with send() and no MSG_NOSIGNAL: a host peer that closed its
// end raises SIGPIPE, which would end the whole process (QEMU ignores SIGPIPE process-wide; a
// library must not change the process's signal dispositions). SIGPIPE from a write is sent to
// the thread that wrote, so each thread that calls into libslirp (the I/O thread, a vCPU thread
// at DRIVER_OK) blocks it for itself, once: the write then fails with EPIPE, which libslirp
// handles, and the blocked signal stays pending on that thread without effect.
void block_sigpipe_in_this_thread()
{
    thread_local bool blocked = false;
    if (!blocked) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
        blocked = true;
    }
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

// libslirp's callbacks (SlirpCb), `opaque` being the SlirpBackend. They run inside a call
// into libslirp, so with the back end's mutex held.
struct SlirpCallbacks {
    static const SlirpCb& table();
    static ssize_t send_packet(const void* buf, size_t len, void* opaque);
    static void guest_error(const char* msg, void* opaque);
    static int64_t clock_get_ns(void* opaque);
    static void* timer_new_opaque(SlirpTimerId id, void* cb_opaque, void* opaque);
    static void timer_free(void* timer, void* opaque);
    static void timer_mod(void* timer, int64_t expire_time_ms, void* opaque);
    static void register_poll_fd(int fd, void* opaque);
    static void unregister_poll_fd(int fd, void* opaque);
    static void notify(void* opaque);
    static int add_poll(int fd, int events, void* opaque);
    static int get_revents(int idx, void* opaque);
};

struct SlirpBackend::Timer {
    SlirpTimerId id = SLIRP_TIMER_RA;
    void* cb_opaque = nullptr;
    util::EventLoop::TimerId loop_timer = 0; // 0: not armed
    uint64_t generation = 0;                 // of the arming that loop_timer belongs to
    std::optional<int64_t> expire_ms;        // the last timer_mod, kept until attach()
};

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

// --- the event loop's turn ---------------------------------------------------------------

std::optional<std::chrono::milliseconds> SlirpBackend::prepare()
{
    block_sigpipe_in_this_thread();
    std::lock_guard lock(libslirp_mutex());
    ++turn_;
    polled_.clear();
    uint32_t timeout_ms = UINT32_MAX;
    LibSlirp::get().slirp_pollfds_fill(slirp_.get(), &timeout_ms, SlirpCallbacks::add_poll, this);
    // Sockets libslirp did not ask for this turn leave the set: watched for nothing, a socket
    // that hung up would still report EPOLLHUP on every turn.
    for (auto it = watches_.begin(); it != watches_.end();) {
        if (it->second.turn != turn_) {
            ::epoll_ctl(poll_epoll_.get(), EPOLL_CTL_DEL, it->first, nullptr);
            it = watches_.erase(it);
        } else {
            ++it;
        }
    }
    revents_.assign(polled_.size(), 0);
    if (timeout_ms == UINT32_MAX) {
        return std::nullopt;
    }
    return std::chrono::milliseconds(timeout_ms);
}

int SlirpBackend::add_poll(int fd, int slirp_events)
{
    const size_t index = polled_.size();
    polled_.push_back(fd);
    uint32_t events = to_epoll(slirp_events);
    auto [it, added] = watches_.try_emplace(fd);
    Watch& watch = it->second;
    if (!added && watch.turn == turn_) {
        events |= watch.events; // the same descriptor twice in one turn
    }
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (added) {
        if (::epoll_ctl(poll_epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
            spdlog::warn("net {}: cannot watch libslirp's socket {}: {}", options_.name, fd, util::errno_text(errno));
            watches_.erase(it);
            return static_cast<int>(index);
        }
    } else if (watch.events != events && ::epoll_ctl(poll_epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
        // Closed and reopened under the same number since the last turn: add it afresh.
        if (errno != ENOENT || ::epoll_ctl(poll_epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
            spdlog::warn("net {}: cannot watch libslirp's socket {}: {}", options_.name, fd, util::errno_text(errno));
            watches_.erase(it);
            return static_cast<int>(index);
        }
    }
    watch.events = events;
    watch.turn = turn_;
    watch.index = index;
    return static_cast<int>(index);
}

void SlirpBackend::dispatch()
{
    block_sigpipe_in_this_thread();
    std::lock_guard lock(libslirp_mutex());
    if (poll_ready_) {
        poll_ready_ = false;
        std::array<epoll_event, kEpollBatch> events{};
        const int n = ::epoll_wait(poll_epoll_.get(), events.data(), static_cast<int>(events.size()), 0);
        for (int i = 0; i < n; ++i) {
            const auto& event = events[static_cast<size_t>(i)];
            const auto it = watches_.find(event.data.fd);
            if (it != watches_.end() && it->second.turn == turn_ && it->second.index < revents_.size()) {
                revents_[it->second.index] = to_slirp(event.events);
            }
        }
    }
    LibSlirp::get().slirp_pollfds_poll(slirp_.get(), 0, SlirpCallbacks::get_revents, this);
}

void SlirpBackend::forget_fd(int fd)
{
    host_sockets_.erase(fd);
    const auto it = watches_.find(fd);
    if (it != watches_.end()) {
        ::epoll_ctl(poll_epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); // still open: libslirp closes it next
        watches_.erase(it);
    }
}

void SlirpBackend::arm(Timer& timer)
{
    if (loop_ == nullptr || !timer.expire_ms) {
        return;
    }
    if (timer.loop_timer != 0) {
        loop_->cancel_timer(timer.loop_timer);
    }
    const uint64_t generation = ++timer.generation;
    const auto deadline = util::EventLoop::Clock::time_point(std::chrono::milliseconds(*timer.expire_ms));
    Timer* raw = &timer;
    timer.loop_timer = loop_->add_timer(deadline, [this, raw, generation] {
        block_sigpipe_in_this_thread();
        std::lock_guard lock(libslirp_mutex());
        const auto it = timers_.find(raw);
        if (it == timers_.end() || it->second->generation != generation) {
            return; // freed, or re-armed since
        }
        raw->loop_timer = 0;
        LibSlirp::get().slirp_handle_timer(slirp_.get(), raw->id, raw->cb_opaque);
    });
}

// --- libslirp's callbacks ------------------------------------------------------------

ssize_t SlirpCallbacks::send_packet(const void* buf, size_t len, void* opaque)
{
    auto* self = static_cast<SlirpBackend*>(opaque);
    self->queue_for_guest(std::span(static_cast<const uint8_t*>(buf), len));
    return static_cast<ssize_t>(len);
}

void SlirpCallbacks::guest_error(const char* msg, void* opaque)
{
    auto* self = static_cast<SlirpBackend*>(opaque);
    uint64_t suppressed = 0;
    if (self->guest_log_.allow(suppressed)) {
        spdlog::warn("net {}: the guest: {} ({} more not logged)", self->options_.name, msg, suppressed);
    }
}

int64_t SlirpCallbacks::clock_get_ns(void*)
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(util::EventLoop::Clock::now().time_since_epoch())
        .count();
}

void* SlirpCallbacks::timer_new_opaque(SlirpTimerId id, void* cb_opaque, void* opaque)
{
    auto* self = static_cast<SlirpBackend*>(opaque);
    auto timer = std::make_unique<SlirpBackend::Timer>();
    timer->id = id;
    timer->cb_opaque = cb_opaque;
    SlirpBackend::Timer* raw = timer.get();
    self->timers_.emplace(raw, std::move(timer));
    return raw;
}

void SlirpCallbacks::timer_free(void* timer, void* opaque)
{
    auto* self = static_cast<SlirpBackend*>(opaque);
    const auto it = self->timers_.find(static_cast<SlirpBackend::Timer*>(timer));
    if (it == self->timers_.end()) {
        return;
    }
    if (self->loop_ != nullptr && it->second->loop_timer != 0) {
        self->loop_->cancel_timer(it->second->loop_timer);
    }
    self->timers_.erase(it);
}

void SlirpCallbacks::timer_mod(void* timer, int64_t expire_time_ms, void* opaque)
{
    auto* self = static_cast<SlirpBackend*>(opaque);
    const auto it = self->timers_.find(static_cast<SlirpBackend::Timer*>(timer));
    if (it == self->timers_.end()) {
        return;
    }
    it->second->expire_ms = expire_time_ms;
    self->arm(*it->second);
}

void SlirpCallbacks::register_poll_fd(int fd, void* opaque)
{
    // Counted only: the sockets to watch are the ones slirp_pollfds_fill names on each turn.
    if (fd >= 0) { // libslirp 4.7's udp_attach registers -1 when socket() failed
        static_cast<SlirpBackend*>(opaque)->host_sockets_.insert(fd);
    }
}

void SlirpCallbacks::unregister_poll_fd(int fd, void* opaque) { static_cast<SlirpBackend*>(opaque)->forget_fd(fd); }

void SlirpCallbacks::notify(void* opaque)
{
    auto* self = static_cast<SlirpBackend*>(opaque);
    if (self->loop_ != nullptr) {
        self->loop_->wake();
    }
}

int SlirpCallbacks::add_poll(int fd, int events, void* opaque)
{
    return static_cast<SlirpBackend*>(opaque)->add_poll(fd, events);
}

int SlirpCallbacks::get_revents(int idx, void* opaque)
{
    const auto* self = static_cast<const SlirpBackend*>(opaque);
    return idx >= 0 && static_cast<size_t>(idx) < self->revents_.size() ? self->revents_[static_cast<size_t>(idx)] : 0;
}

const SlirpCb& SlirpCallbacks::table()
{
    // libslirp keeps the pointer: one table for every instance, for the life of the process.
    static const SlirpCb table = [] {
        SlirpCb cb{};
        cb.send_packet = send_packet;
        cb.guest_error = guest_error;
        cb.clock_get_ns = clock_get_ns;
        cb.timer_free = timer_free;
        cb.timer_mod = timer_mod;
        cb.register_poll_fd = register_poll_fd;
        cb.unregister_poll_fd = unregister_poll_fd;
        cb.notify = notify;
        cb.timer_new_opaque = timer_new_opaque; // SlirpConfig version 4: used instead of timer_new
        return cb;
    }();
    return table;
}

} // namespace minivmm::backends
