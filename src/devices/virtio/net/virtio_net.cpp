// virtio-net device: virtio 1.2 section 5.1.5 (initialization), configuration, reset and
// back-end events; transmit is in virtio_net_tx.cpp, receive in virtio_net_rx.cpp.
#include "devices/virtio/net/virtio_net.hpp"

#include "memory/byte_span.hpp"
#include "util/sys_error.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sys/epoll.h>

#include <algorithm>
#include <cstddef>
#include <utility>

namespace minivmm::virtio {
namespace {

constexpr uint32_t kReadable = EPOLLIN;
constexpr uint32_t kWritable = EPOLLOUT;
constexpr uint32_t kBroken = EPOLLERR | EPOLLHUP;

} // namespace

VirtioNet::VirtioNet(memory::GuestMemory& memory, std::unique_ptr<backends::PacketBackend> backend,
                     backends::MacAddress mac)
    : memory_(memory), backend_(std::move(backend)), log_(name()), rx_overflow_(kOverflowRoom)
{
    config_.mac = mac.bytes();
    config_.status = kNetSLinkUp;
    config_.max_virtqueue_pairs = 1;
    // Sized for the common case up front, so frames move without allocating.
    // Reserved at their largest (a header and a chain's at most kQueueSize buffers; IOV_MAX),
    // so a guest cannot make them grow.
    tx_iov_.reserve(kQueueSize + 1);
    rx_iov_.reserve(kMaxIovecs);
    rx_chains_.reserve(kQueueSize);
    rx_spare_storage_.reserve(kQueueSize + 1);
    rx_used_.reserve(kQueueSize);
}

std::string VirtioNet::name() const { return fmt::format("virtio-net {}", backend_->name()); }

backends::Offloads VirtioNet::guest_offloads(uint64_t features)
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
    const auto bytes = memory::object_u8(config_).subspan(static_cast<size_t>(offset));
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
        util::throw_sys_error(fmt::format("epoll_ctl ({})", name()));
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
        log_.warn("the back end refused the offloads the driver negotiated: it hands over finished frames");
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
    // Give back what the guest made the device allocate (buffer lists, a waiting frame): a
    // reset returns the device to its footprint after construction.
    rx_spare_storage_.clear();
    tx_storage_ = std::vector<DescriptorBuffer>();
    rx_pending_ = std::vector<std::byte>(); // its buffers went with the reset
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
        spdlog::warn("{}: epoll_ctl(MOD) failed: {}", name(), util::errno_text(errno));
        return;
    }
    watched_events_ = events;
}

uint64_t VirtioNet::bytes_held() const
{
    const auto list = [](const std::vector<DescriptorBuffer>& buffers) {
        return buffers.capacity() * sizeof(DescriptorBuffer);
    };
    uint64_t bytes = rx_chains_.capacity() * sizeof(DescriptorChain) +
                     rx_spare_storage_.capacity() * sizeof(std::vector<DescriptorBuffer>) +
                     (rx_iov_.capacity() + tx_iov_.capacity()) * sizeof(iovec) +
                     rx_used_.capacity() * sizeof(UsedElement) + rx_pending_.capacity() + rx_overflow_.capacity() +
                     list(tx_storage_);
    for (const DescriptorChain& chain : rx_chains_) {
        bytes += chain.storage_bytes();
    }
    for (const auto& spare : rx_spare_storage_) {
        bytes += list(spare);
    }
    if (tx_pending_) {
        bytes += tx_pending_->storage_bytes();
    }
    return bytes;
}

} // namespace minivmm::virtio
