// virtio-net device: virtio 1.2 sections 5.1.5 (initialization), 5.1.6.2 (transmit) and
// 5.1.6.3-5.1.6.4 (receive, mergeable buffers).
#include "devices/virtio/net/virtio_net.hpp"

#include "devices/virtio/net/chain_io.hpp"
#include "memory/byte_span.hpp"
#include "util/sys_error.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sys/epoll.h>

#include <climits>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <utility>

namespace minivmm::virtio {
namespace {

constexpr uint32_t kReadable = EPOLLIN;
constexpr uint32_t kWritable = EPOLLOUT;
constexpr uint32_t kBroken = EPOLLERR | EPOLLHUP;
constexpr uint64_t kHeaderSize = sizeof(NetHeader);
// Catches the part of a received frame beyond the guest's buffers: a TAP cuts a frame to
// the buffers it is read into, so without this room an oversized frame would arrive
// truncated instead of being seen and dropped. Larger than anything a TAP hands over
// (its MTU is at most 65521 and its GSO frames at most 64 KiB).
constexpr size_t kOverflowRoom = 64 * 1024 + 4096;
// readv/writev take at most IOV_MAX buffers; a chain may have more (indirect tables).
constexpr size_t kMaxIovecs = IOV_MAX;

[[nodiscard]] bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

} // namespace

VirtioNet::VirtioNet(GuestMemory& memory, std::unique_ptr<net::PacketBackend> backend, net::MacAddress mac)
    : memory_(memory), backend_(std::move(backend)), rx_overflow_(kOverflowRoom)
{
    config_.mac = mac.bytes();
    config_.status = kNetSLinkUp;
    config_.max_virtqueue_pairs = 1;
    // Sized for the common case up front, so frames move without allocating.
    tx_iov_.reserve(kQueueSize + 1);
    rx_iov_.reserve(2 * kQueueSize);
    rx_chains_.reserve(kQueueSize);
    rx_spare_storage_.reserve(kQueueSize + 1);
    rx_used_.reserve(kQueueSize);
}

std::string VirtioNet::name() const { return fmt::format("virtio-net {}", backend_->name()); }

net::Offloads VirtioNet::guest_offloads(uint64_t features)
{
    // 5.1.3.1: GUEST_TSO4/6 depend on GUEST_CSUM; without it a TSO bit means nothing.
    const bool csum = (features & kNetFGuestCsum) != 0;
    return {csum, csum && (features & kNetFGuestTso4) != 0, csum && (features & kNetFGuestTso6) != 0};
}

void VirtioNet::read_config(uint64_t offset, std::span<uint8_t> data)
{
    if (offset >= sizeof(config_)) {
        return;
    }
    const auto bytes = object_u8(config_).subspan(static_cast<size_t>(offset));
    std::copy_n(bytes.begin(), std::min(data.size(), bytes.size()), data.begin());
}

void VirtioNet::write_config(uint64_t, std::span<const uint8_t>)
{
    // 5.1.4: every field is read-only for a virtio 1.x driver (the MAC is changed through
    // the control queue, which minivmm does not offer).
}

void VirtioNet::attach(VirtioContext& context)
{
    context_ = &context;
    // Watched from the start, for no events: the device asks for EPOLLIN and EPOLLOUT only
    // while it can act on them (update_watch).
    if (!context.watch(backend_->fd(), 0, [this](uint32_t events) { on_backend_event(events); })) {
        throw_sys_error(fmt::format("epoll_ctl ({})", name()));
    }
}

void VirtioNet::activate(uint64_t features, std::span<VirtQueue> queues)
{
    features_ = features;
    queues_ = queues;
    active_ = true;
    tx_blocked_ = false;
    rx_polling_ = false;
    if (!backend_lost_ && !backend_->set_offloads(guest_offloads(features))) {
        spdlog::warn("{}: the back end refused the offloads the driver negotiated: it hands over finished frames",
                     name());
    }
    transmit();
    resume_receive();
}

void VirtioNet::queue_notify(unsigned index)
{
    if (!active_) {
        return;
    }
    if (index == kTransmitQueue) {
        transmit(); // nothing while blocked: EPOLLOUT resumes
    } else if (index == kReceiveQueue) {
        resume_receive();
    }
}

void VirtioNet::reset()
{
    active_ = false;
    queues_ = {};
    tx_blocked_ = false;
    tx_pending_.reset();
    release_receive_buffers(rx_chains_.size());
    rx_pending_.clear(); // its buffers went with the reset
    rx_polling_ = false;
    update_watch();
    // The TAP stays open; until the next activate() it hands over finished frames only.
    if (!backend_lost_) {
        static_cast<void>(backend_->set_offloads({}));
    }
}

// --- back-end events -------------------------------------------------------------------

void VirtioNet::on_backend_event(uint32_t events)
{
    if ((events & kBroken) != 0) {
        backend_lost();
        return;
    }
    if (!active_) {
        return;
    }
    if ((events & kWritable) != 0 && tx_blocked_) {
        tx_blocked_ = false;
        update_watch();
        transmit();
    }
    if ((events & kReadable) != 0) {
        receive();
    }
}

void VirtioNet::backend_lost()
{
    if (backend_lost_) {
        return;
    }
    // A TAP whose interface was deleted polls EPOLLERR for ever: stop watching it, and tell
    // the driver the link is down (5.1.4, STATUS). Frames sent from now on are dropped.
    spdlog::warn("{}: the back end failed or hung up: link down", name());
    backend_lost_ = true;
    context_->unwatch(backend_->fd());
    watched_events_ = 0;
    rx_polling_ = false;
    config_.status = 0;
    context_->config_changed();
    if (active_ && tx_blocked_) {
        tx_blocked_ = false;
        transmit();
    }
}

void VirtioNet::update_watch()
{
    if (backend_lost_ || context_ == nullptr) {
        return;
    }
    const uint32_t events = (active_ && rx_polling_ ? kReadable : 0U) | (active_ && tx_blocked_ ? kWritable : 0U);
    if (events == watched_events_) {
        return;
    }
    if (!context_->modify_watch(backend_->fd(), events)) {
        spdlog::warn("{}: epoll_ctl(MOD) failed: {}", name(), errno_text(errno));
        return;
    }
    watched_events_ = events;
}

bool VirtioNet::drop_log_allowed()
{
    if (!spdlog::should_log(spdlog::level::debug)) {
        return false;
    }
    uint64_t suppressed = 0;
    if (!drop_log_.allow(suppressed)) {
        return false;
    }
    if (suppressed > 0) {
        spdlog::debug("{}: {} more dropped frames not logged", name(), suppressed);
    }
    return true;
}

// --- transmit (5.1.6.2) ------------------------------------------------------------------

void VirtioNet::transmit()
{
    if (!active_ || tx_blocked_) {
        return;
    }
    VirtQueue& queue = queues_[kTransmitQueue];
    if (!queue.ready()) {
        return;
    }
    bool used = false;
    do {
        for (;;) {
            std::optional<DescriptorChain> chain = std::exchange(tx_pending_, std::nullopt);
            if (!chain) {
                chain = queue.pop(tx_storage_);
            }
            if (!chain) {
                break;
            }
            if (transmit_chain(*chain) == Step::Blocked) {
                // The chain stays unused until its frame is written: EPOLLOUT resumes. The
                // driver need not notify meanwhile (with EVENT_IDX, avail_event stays behind).
                tx_pending_ = std::move(chain);
                tx_blocked_ = true;
                if (!queue.set_notifications_suppressed(true)) {
                    context_->device_error("transmit queue used ring outside guest RAM");
                    return;
                }
                update_watch();
                if (used) {
                    context_->notify_used(kTransmitQueue);
                }
                return;
            }
            if (queue.add_used(chain->head(), 0)) {
                return; // recorded in the queue: the transport resets the device
            }
            used = true;
            tx_storage_ = std::move(*chain).take_storage();
        }
    } while (queue.rearm_notifications());
    if (used) {
        context_->notify_used(kTransmitQueue);
    }
}

VirtioNet::Step VirtioNet::transmit_chain(const DescriptorChain& chain)
{
    // The header is checked in a host copy, and that copy is what the back end gets: the
    // guest cannot change it between the check and the write.
    NetHeader header{};
    if (!copy_from_chain(memory_, chain, std::as_writable_bytes(std::span(&header, 1)))) {
        ++stats_.tx_dropped;
        if (drop_log_allowed()) {
            spdlog::debug("{}: TX chain of {} bytes has no room for the virtio-net header", name(), chain.total_len());
        }
        return Step::Dropped;
    }
    const auto checked = sanitize_tx_header(header, features_);
    if (!checked) {
        ++stats_.tx_dropped;
        if (drop_log_allowed()) {
            spdlog::debug("{}: TX header flags {:#x} gso_type {:#x} need offloads not negotiated (features {:#x})",
                          name(), header.flags, header.gso_type, features_);
        }
        return Step::Dropped;
    }
    tx_header_ = *checked;
    tx_iov_.clear();
    tx_iov_.push_back(iovec{&tx_header_, sizeof(tx_header_)});
    const auto appended = append_iovecs(memory_, chain, false, kHeaderSize, tx_iov_, kMaxIovecs);
    if (!appended || *appended < readable_len(chain) - kHeaderSize) {
        ++stats_.tx_dropped;
        if (drop_log_allowed()) {
            spdlog::debug("{}: TX chain of {} buffers dropped: more than {} buffers, or outside RAM", name(),
                          chain.buffers().size(), kMaxIovecs);
        }
        return Step::Dropped;
    }
    for (;;) {
        const net::IoResult result = backend_->write_frame(tx_iov_);
        if (result.error == EINTR) {
            continue;
        }
        if (would_block(result.error)) {
            return Step::Blocked;
        }
        if (result.error != 0) {
            // E.g. EIO while the TAP is down, EINVAL for a frame the kernel finds malformed.
            ++stats_.tx_dropped;
            if (drop_log_allowed()) {
                spdlog::debug("{}: TX frame of {} bytes dropped: {}", name(), chain.total_len(),
                              errno_text(result.error));
            }
            return Step::Dropped;
        }
        ++stats_.tx_frames;
        stats_.tx_bytes += result.bytes - std::min<uint64_t>(result.bytes, kHeaderSize);
        return Step::Done;
    }
}

// --- receive (5.1.6.3, 5.1.6.4) ----------------------------------------------------------

void VirtioNet::resume_receive()
{
    if (!active_ || backend_lost_) {
        return;
    }
    VirtQueue& queue = queues_[kReceiveQueue];
    if (!queue.ready()) {
        return;
    }
    if (!rx_polling_) {
        // While it holds buffers the device polls the back end and needs no notifications;
        // hold_receive_buffers() re-arms them when the buffers run out.
        if (!queue.set_notifications_suppressed(true)) {
            context_->device_error("receive queue used ring outside guest RAM");
            return;
        }
        rx_polling_ = true;
        update_watch();
    }
    receive();
}

void VirtioNet::receive()
{
    if (!active_ || !rx_polling_) {
        return;
    }
    VirtQueue& queue = queues_[kReceiveQueue];
    bool used = false;
    for (unsigned n = 0; n < kReceiveBurst; ++n) {
        if (!rx_pending_.empty()) {
            if (deliver_pending(queue) == Step::Stopped) {
                if (queue.error()) {
                    return;
                }
                rx_polling_ = false; // resumed by the driver's next receive notification
                update_watch();
                break;
            }
            used = true;
            continue;
        }
        if (hold_receive_buffers(queue) == Step::Stopped) {
            // No buffers: frames wait in the back end (the TAP's queue) until the driver's
            // next notification (resume_receive), instead of polling a full ring.
            rx_polling_ = false;
            update_watch();
            break;
        }
        const Step step = receive_frame(queue);
        if (step == Step::Done) {
            used = true;
        } else if (step == Step::Blocked) {
            break; // no frame waiting
        } else if (step == Step::Stopped) {
            return; // the driver broke the protocol: the transport resets the device
        }
    }
    if (used) {
        context_->notify_used(kReceiveQueue);
    }
}

VirtioNet::Step VirtioNet::hold_receive_buffers(VirtQueue& queue)
{
    const bool mergeable = (features_ & kNetFMrgRxbuf) != 0;
    for (;;) {
        // Without MRG_RXBUF a frame goes into one chain, which the driver sized for the
        // largest frame it can receive (5.1.6.3.1); with it, into as many as it takes.
        if (mergeable ? rx_room_ >= kMaxFrameRoom : !rx_chains_.empty()) {
            return Step::Done;
        }
        std::vector<DescriptorBuffer> storage;
        if (!rx_spare_storage_.empty()) {
            storage = std::move(rx_spare_storage_.back());
            rx_spare_storage_.pop_back();
        }
        auto chain = queue.pop(storage);
        if (!chain) {
            rx_spare_storage_.push_back(std::move(storage));
            if (queue.error()) {
                return Step::Stopped;
            }
            if (!rx_chains_.empty()) {
                return Step::Done; // less room than a maximal frame: a frame that needs more is dropped
            }
            if (queue.rearm_notifications()) {
                continue; // buffers arrived while re-arming (the lost-wakeup race, 2.7.10)
            }
            return Step::Stopped;
        }
        const uint64_t room = writable_len(*chain);
        if (room < kHeaderSize) {
            // 5.1.6.3.1: every receive buffer holds at least the header.
            context_->device_error(
                fmt::format("receive buffer of {} bytes is smaller than the virtio-net header", room));
            return Step::Stopped;
        }
        rx_room_ += room;
        rx_chains_.push_back(std::move(*chain));
    }
}

VirtioNet::Step VirtioNet::receive_frame(VirtQueue& queue)
{
    // The header lands in a host copy, is checked, and is then written to the first chain
    // with num_buffers filled in; the frame goes straight into the guest's buffers.
    const size_t chains = (features_ & kNetFMrgRxbuf) != 0 ? rx_chains_.size() : 1;
    rx_iov_.clear();
    rx_iov_.push_back(iovec{&rx_header_, sizeof(rx_header_)});
    uint64_t room = kHeaderSize;
    // One iovec stays for the overflow tail; chains beyond IOV_MAX buffers wait their turn.
    for (size_t i = 0; i < chains && rx_iov_.size() < kMaxIovecs - 1; ++i) {
        const auto appended =
            append_iovecs(memory_, rx_chains_[i], true, i == 0 ? kHeaderSize : 0, rx_iov_, kMaxIovecs - 1);
        if (!appended) {
            context_->device_error("receive buffer outside guest RAM");
            return Step::Stopped;
        }
        room += *appended;
    }
    rx_iov_.push_back(iovec{rx_overflow_.data(), rx_overflow_.size()});

    const net::IoResult result = backend_->read_frame(rx_iov_);
    if (would_block(result.error) || result.error == EINTR) {
        return Step::Blocked;
    }
    if (result.error != 0) {
        // The fd stays readable, so retrying would spin the I/O thread: treat the back end
        // as gone (a TAP whose interface was deleted fails reads with EBADFD).
        ++stats_.rx_errors;
        spdlog::warn("{}: read from the back end failed: {}", name(), errno_text(result.error));
        backend_lost();
        return Step::Blocked;
    }
    const bool mergeable = (features_ & kNetFMrgRxbuf) != 0;
    if (mergeable && result.bytes > room && result.bytes <= room + rx_overflow_.size()) {
        // The frame is whole but the buffers held now are too few: keep it until the driver
        // posts more, rather than drop a frame the host already handed over.
        auto header = sanitize_rx_header(rx_header_, features_);
        if (!header) {
            ++stats_.rx_dropped;
            return Step::Dropped;
        }
        rx_pending_.resize(result.bytes);
        size_t off = 0;
        for (const iovec& v : rx_iov_) {
            const size_t n = std::min<size_t>(v.iov_len, result.bytes - off);
            std::memcpy(rx_pending_.data() + off, v.iov_base, n);
            off += n;
            if (off == result.bytes) {
                break;
            }
        }
        std::memcpy(rx_pending_.data(), &*header, sizeof(*header));
        return Step::Done;
    }
    if (result.bytes > room || result.bytes < kHeaderSize) {
        // The held chains stay held for the next frame; their contents are scratch.
        ++stats_.rx_dropped;
        if (drop_log_allowed()) {
            spdlog::debug("{}: RX frame of {} bytes dropped: {} bytes of receive buffers posted", name(), result.bytes,
                          room);
        }
        return Step::Dropped;
    }
    auto header = sanitize_rx_header(rx_header_, features_);
    if (!header) {
        ++stats_.rx_dropped;
        if (drop_log_allowed()) {
            spdlog::debug("{}: RX frame with flags {:#x} gso_type {:#x} needs offloads the driver lacks", name(),
                          rx_header_.flags, rx_header_.gso_type);
        }
        return Step::Dropped;
    }

    // Spread over the chains in order; num_buffers says how many (5.1.6.4).
    rx_used_.clear();
    uint64_t left = result.bytes;
    for (size_t i = 0; left > 0; ++i) {
        const auto len = static_cast<uint32_t>(std::min(left, writable_len(rx_chains_[i])));
        rx_used_.push_back(UsedElement{rx_chains_[i].head(), len});
        left -= len;
    }
    header->num_buffers = static_cast<uint16_t>(rx_used_.size());
    if (!copy_to_chain(memory_, rx_chains_[0], std::as_bytes(std::span(&*header, 1)))) {
        context_->device_error("receive buffer outside guest RAM");
        return Step::Stopped;
    }
    // All chains of the frame become visible with one used.idx update.
    if (queue.add_used(rx_used_)) {
        return Step::Stopped;
    }
    ++stats_.rx_frames;
    stats_.rx_bytes += result.bytes - kHeaderSize;
    release_receive_buffers(rx_used_.size());
    return Step::Done;
}

VirtioNet::Step VirtioNet::deliver_pending(VirtQueue& queue)
{
    while (rx_room_ < rx_pending_.size()) {
        if (hold_receive_buffers(queue) == Step::Stopped) {
            return Step::Stopped;
        }
        if (rx_room_ >= rx_pending_.size()) {
            break;
        }
        // The queue is empty and the frame needs more: ask to be told of new buffers, and
        // take the ones that raced in (2.7.10).
        if (!queue.rearm_notifications()) {
            return Step::Stopped;
        }
    }
    rx_used_.clear();
    uint64_t left = rx_pending_.size();
    for (size_t i = 0; left > 0; ++i) {
        const auto len = static_cast<uint32_t>(std::min(left, writable_len(rx_chains_[i])));
        rx_used_.push_back(UsedElement{rx_chains_[i].head(), len});
        left -= len;
    }
    const auto num_buffers = static_cast<uint16_t>(rx_used_.size());
    std::memcpy(rx_pending_.data() + offsetof(NetHeader, num_buffers), &num_buffers, sizeof(num_buffers));
    size_t off = 0;
    for (size_t i = 0; i < rx_used_.size(); ++i) {
        if (!copy_to_chain(memory_, rx_chains_[i], std::span(rx_pending_).subspan(off, rx_used_[i].written_len))) {
            context_->device_error("receive buffer outside guest RAM");
            return Step::Stopped;
        }
        off += rx_used_[i].written_len;
    }
    if (queue.add_used(rx_used_)) {
        return Step::Stopped;
    }
    ++stats_.rx_frames;
    stats_.rx_bytes += rx_pending_.size() - kHeaderSize;
    release_receive_buffers(rx_used_.size());
    rx_pending_.clear();
    return Step::Done;
}

void VirtioNet::release_receive_buffers(size_t count)
{
    count = std::min(count, rx_chains_.size());
    for (size_t i = 0; i < count; ++i) {
        rx_room_ -= writable_len(rx_chains_[i]);
        rx_spare_storage_.push_back(std::move(rx_chains_[i]).take_storage());
    }
    rx_chains_.erase(rx_chains_.begin(), rx_chains_.begin() + static_cast<std::ptrdiff_t>(count));
}

} // namespace minivmm::virtio
