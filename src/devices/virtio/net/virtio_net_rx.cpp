// virtio-net receive: virtio 1.2 sections 5.1.6.3 and 5.1.6.4 (mergeable buffers). Frames
// are read from the back end straight into the guest's held receive chains.
#include "devices/virtio/net/virtio_net.hpp"

#include "devices/virtio/net/chain_io.hpp"
#include "util/sys_error.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace minivmm::virtio {

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
            const Step step = deliver_pending(queue);
            if (step == Step::Stopped) {
                if (queue.error()) {
                    return;
                }
                rx_polling_ = false; // resumed by the driver's next receive notification
                update_watch();
                break;
            }
            used = used || step == Step::Done;
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
        // A driver has at most queue-size chains in flight (each needs a head of its own):
        // with that many held, a new avail entry re-uses a head the device holds. Hold no
        // more, so a hostile driver cannot make the device hold more than that.
        if (rx_chains_.size() >= queue.size()) {
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

    const backends::IoResult result = backend_->read_frame(rx_iov_);
    if (would_block(result.error) || result.error == EINTR) {
        return Step::Blocked;
    }
    if (result.error != 0) {
        // The fd stays readable, so retrying would spin the I/O thread: treat the back end
        // as gone (a TAP whose interface was deleted fails reads with EBADFD).
        ++stats_.rx_errors;
        log_.warn("read from the back end failed: {}", util::errno_text(result.error));
        backend_lost();
        return Step::Blocked;
    }
    if (result.bytes > kMaxFrameRoom) {
        // Larger than any frame the driver must take (5.1.6.3.1): no buffers it may post
        // would ever be enough, so waiting for them would stall receive for good. The
        // read consumed it (the back end cut it to the buffers and the overflow tail).
        drop_oversized(result.bytes);
        return Step::Dropped;
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
        log_.debug("RX frame of {} bytes dropped: {} bytes of receive buffers posted", result.bytes, room);
        return Step::Dropped;
    }
    auto header = sanitize_rx_header(rx_header_, features_);
    if (!header) {
        ++stats_.rx_dropped;
        log_.debug("RX frame with flags {:#x} gso_type {:#x} needs offloads the driver lacks", rx_header_.flags,
                   rx_header_.gso_type);
        return Step::Dropped;
    }

    // num_buffers says how many chains the frame spreads over (5.1.6.4).
    spread_over_held_chains(result.bytes);
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
        if (rx_chains_.size() >= queue.size()) {
            // Every chain the driver may have in flight is held, and together they are too
            // small for the frame: it can never be delivered.
            ++stats_.rx_dropped;
            log_.debug("RX frame of {} bytes dropped: {} bytes in {} receive buffers", rx_pending_.size(), rx_room_,
                       rx_chains_.size());
            rx_pending_.clear();
            return Step::Dropped;
        }
        // The queue is empty and the frame needs more: ask to be told of new buffers, and
        // take the ones that raced in (2.7.10).
        if (!queue.rearm_notifications()) {
            return Step::Stopped;
        }
    }
    spread_over_held_chains(rx_pending_.size());
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

void VirtioNet::drop_oversized(uint64_t bytes)
{
    ++stats_.rx_dropped;
    // The peer decides these, not the guest, but a peer can be as hostile: rate-limited.
    log_.warn("RX frame of {} bytes or more dropped: larger than {} bytes with its header", bytes, kMaxFrameRoom);
}

void VirtioNet::spread_over_held_chains(uint64_t bytes)
{
    rx_used_.clear();
    for (size_t i = 0; bytes > 0 && i < rx_chains_.size(); ++i) {
        const auto len = static_cast<uint32_t>(std::min(bytes, writable_len(rx_chains_[i])));
        rx_used_.push_back(UsedElement{rx_chains_[i].head(), len});
        bytes -= len;
    }
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
