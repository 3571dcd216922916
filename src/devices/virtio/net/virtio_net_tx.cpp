// virtio-net transmit: virtio 1.2 section 5.1.6.2. Each chain's frame is written to the back
// end straight from guest memory; a chain is used only after its frame was written.
#include "devices/virtio/net/virtio_net.hpp"

#include "devices/virtio/net/chain_io.hpp"
#include "util/sys_error.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <optional>
#include <utility>

namespace minivmm::virtio {

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
        log_.debug("TX chain of {} bytes has no room for the virtio-net header", chain.total_len());
        return Step::Dropped;
    }
    const auto checked = sanitize_tx_header(header, features_);
    if (!checked) {
        ++stats_.tx_dropped;
        log_.debug("TX header flags {:#x} gso_type {:#x} need offloads not negotiated (features {:#x})", header.flags,
                   header.gso_type, features_);
        return Step::Dropped;
    }
    tx_header_ = *checked;
    tx_iov_.clear();
    tx_iov_.push_back(iovec{&tx_header_, sizeof(tx_header_)});
    const auto appended = append_iovecs(memory_, chain, false, kHeaderSize, tx_iov_, kMaxIovecs);
    if (!appended || *appended < readable_len(chain) - kHeaderSize) {
        ++stats_.tx_dropped;
        log_.debug("TX chain of {} buffers dropped: more than {} buffers, or outside RAM", chain.buffers().size(),
                   kMaxIovecs);
        return Step::Dropped;
    }
    for (;;) {
        const backends::IoResult result = backend_->write_frame(tx_iov_);
        if (result.error == EINTR) {
            continue;
        }
        if (would_block(result.error)) {
            return Step::Blocked;
        }
        if (result.error != 0) {
            // E.g. EIO while the TAP is down, EINVAL for a frame the kernel finds malformed.
            ++stats_.tx_dropped;
            log_.debug("TX frame of {} bytes dropped: {}", chain.total_len(), util::errno_text(result.error));
            return Step::Dropped;
        }
        ++stats_.tx_frames;
        stats_.tx_bytes += result.bytes - std::min<uint64_t>(result.bytes, kHeaderSize);
        return Step::Done;
    }
}

} // namespace minivmm::virtio
