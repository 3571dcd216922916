// virtio-net (virtio 1.2 section 5.1) over a host packet back end, normally a TAP device:
// receiveq 0 and transmitq 1. Offers MAC, STATUS (link up; down if the back end goes
// away), MRG_RXBUF, and checksum and TCP segmentation offloads both ways (CSUM,
// HOST_TSO4/6; GUEST_CSUM, GUEST_TSO4/6), handed to the TAP with TUNSETOFFLOAD when the
// driver is ready, so large TCP segments cross unsegmented. Left out: the control queue
// (no receive filters: the guest gets every frame the TAP hands over, no MAC change, no
// announcements), multiqueue, MTU, ECN and UFO/USO.
//
// Frames move by readv/writev straight between guest buffers and the back end; the
// virtio-net header travels through a host copy, checked against the negotiated features
// both ways. Back-pressure, without busy loops or frames lost after being acknowledged:
//  - TX: when the back end is full (EAGAIN) the chain stays unused, driver notifications
//    are suppressed, and the device waits for EPOLLOUT before retrying it.
//  - RX: with no receive buffers the device stops polling the back end (no EPOLLIN),
//    re-arms the driver's notifications and resumes on the next RX notification.
// A received frame that does not fit the buffers the driver posted is dropped and counted,
// as is one larger than kMaxFrameRoom, the largest a driver must take (5.1.6.3.1).
//
// Host memory is bounded whatever the guest does (kMaxBytesHeld, below): chains are at most
// the queue size long and zero-length descriptors cost nothing (descriptor_chain.hpp), the
// device holds at most queue-size receive chains, and a reset frees what the guest made
// it allocate.
#pragma once

#include "backends/net/mac_address.hpp"
#include "devices/virtio/net/net_header.hpp"
#include "backends/net/packet_backend.hpp"
#include "devices/virtio/virtio_device.hpp"
#include "memory/guest_memory.hpp"
#include "util/guest_log.hpp"

#include <sys/uio.h>

#include <cerrno>
#include <climits>

#include <memory>
#include <optional>
#include <vector>

namespace minivmm::virtio {

// Counters of one interface, for tests and diagnostics.
struct NetStats {
    uint64_t rx_frames = 0;
    uint64_t rx_bytes = 0;   // frame bytes, headers excluded
    uint64_t rx_dropped = 0; // too big for the posted buffers, or needing an offload not negotiated
    uint64_t rx_errors = 0;  // the back end failed a read
    uint64_t tx_frames = 0;
    uint64_t tx_bytes = 0;
    uint64_t tx_dropped = 0; // malformed header, or the back end refused the frame
};

class VirtioNet final : public VirtioDevice {
public:
    static constexpr unsigned kReceiveQueue = 0;
    static constexpr unsigned kTransmitQueue = 1;
    static constexpr uint16_t kQueueSize = 256;
    static constexpr uint64_t kFeatures = kNetFMac | kNetFStatus | kNetFMrgRxbuf | kNetFCsum | kNetFGuestCsum |
                                          kNetFHostTso4 | kNetFHostTso6 | kNetFGuestTso4 | kNetFGuestTso6;
    // 5.1.6.3.1: the largest frame with its header (a 64 KiB TSO segment). With MRG_RXBUF
    // the device gathers this much room before reading a frame, if the driver posted it.
    static constexpr uint32_t kMaxFrameRoom = 65562;
    // Frames moved per back-end wake-up, so one busy interface cannot starve the I/O thread.
    static constexpr unsigned kReceiveBurst = 64;
    // Catches the part of a received frame beyond the guest's buffers: a TAP cuts a frame to
    // the buffers it is read into, so without this room an oversized frame would arrive
    // truncated instead of being seen and dropped. Larger than anything a TAP hands over
    // (its MTU is at most 65521 and its GSO frames at most 64 KiB).
    static constexpr size_t kOverflowRoom = 64 * 1024 + 4096;
    // readv/writev take at most IOV_MAX buffers; a chain may have more (indirect tables).
    static constexpr size_t kMaxIovecs = IOV_MAX;
    // The most host memory a guest can make one NIC hold (bytes_held()), with Q = kQueueSize
    // and a buffer list of at most Q x 16 bytes per chain (descriptor_chain.hpp):
    //   (Q + 2) buffer lists x Q x 16     RX: Q held chains + 1 spare; TX: the one in progress
    //   + Q x sizeof(DescriptorChain)     the held RX chains
    //   + (Q + 1) x sizeof(vector)        the RX buffer lists' handles
    //   + IOV_MAX x 16 + (Q + 1) x 16     RX and TX iovecs
    //   + Q x 8                           used elements of one frame
    //   + kMaxFrameRoom + kOverflowRoom   a frame waiting for buffers; the overflow tail
    // = 1.2 MiB for Q = 256, whatever the guest writes; a reset frees the buffer lists and
    // the waiting frame. Guest RAM itself is not counted: buffers are read and written in
    // place. The back end's own queue (the TAP's) is the kernel's, bounded by it.
    static constexpr uint64_t kMaxBytesHeld =
        (uint64_t{kQueueSize} + 2) * kQueueSize * sizeof(DescriptorBuffer) + kQueueSize * sizeof(DescriptorChain) +
        (uint64_t{kQueueSize} + 1) * sizeof(std::vector<DescriptorBuffer>) + kMaxIovecs * sizeof(iovec) +
        (uint64_t{kQueueSize} + 1) * sizeof(iovec) + kQueueSize * sizeof(UsedElement) + kMaxFrameRoom + kOverflowRoom;

    VirtioNet(memory::GuestMemory& memory, std::unique_ptr<backends::PacketBackend> backend, backends::MacAddress mac);

    // VirtioDevice
    [[nodiscard]] uint32_t device_id() const override { return kDeviceIdNet; }
    [[nodiscard]] std::string name() const override;
    [[nodiscard]] uint64_t device_features() const override { return kFeatures; }
    [[nodiscard]] std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize, kQueueSize}; }
    void read_config(uint64_t offset, std::span<uint8_t> data) override;
    void write_config(uint64_t offset, std::span<const uint8_t> data) override;
    void attach(VirtioContext& context) override;
    void activate(uint64_t features, std::span<VirtQueue> queues) override;
    void queue_notify(unsigned index) override;
    void reset() override;
    void add_syscalls(util::SeccompPolicy& policy) const override { backend_->add_syscalls(policy); }

    [[nodiscard]] const NetStats& stats() const { return stats_; }
    // Host bytes the device holds on the guest's behalf now: at most kMaxBytesHeld.
    [[nodiscard]] uint64_t bytes_held() const;
    [[nodiscard]] backends::MacAddress mac() const { return backends::MacAddress(config_.mac); }
    // The back end's offloads follow the GUEST_* features: what the driver can receive.
    [[nodiscard]] static backends::Offloads guest_offloads(uint64_t features);

private:
    enum class Step { Done, Dropped, Blocked, Stopped };
    static constexpr uint64_t kHeaderSize = sizeof(NetHeader);
    [[nodiscard]] static bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK; }
    // Moves rx_pending_ into the guest's buffers: Done, or Stopped (not enough buffers yet,
    // or a protocol error in the queue).
    [[nodiscard]] Step deliver_pending(VirtQueue& queue);

    void on_backend_event(uint32_t events);
    void backend_lost();
    // Which of EPOLLIN/EPOLLOUT the device needs now; tells the poller when that changed.
    void update_watch();

    void transmit();
    [[nodiscard]] Step transmit_chain(const DescriptorChain& chain);

    void receive();
    void resume_receive();
    // Holds enough popped receive chains for the next frame; Stopped when there is none
    // (notifications re-armed) or the driver broke the protocol.
    [[nodiscard]] Step hold_receive_buffers(VirtQueue& queue);
    [[nodiscard]] Step receive_frame(VirtQueue& queue);
    // Fills rx_used_ with the held chains a frame of `bytes` (header included) fills, in
    // order, each with the bytes it gets (5.1.6.4). The held chains must have the room.
    void spread_over_held_chains(uint64_t bytes);
    void release_receive_buffers(size_t count);
    // Counts and logs (warning, rate-limited) a received frame over kMaxFrameRoom.
    void drop_oversized(uint64_t bytes);

    memory::GuestMemory& memory_;
    std::unique_ptr<backends::PacketBackend> backend_;
    util::GuestLog log_; // drops and refusals a driver (or the peer) can provoke; after backend_
    NetConfigSpace config_{};
    VirtioContext* context_ = nullptr;
    std::span<VirtQueue> queues_;
    uint64_t features_ = 0;
    bool active_ = false;
    bool backend_lost_ = false;
    uint32_t watched_events_ = 0;
    NetStats stats_;

    // Transmit side: the chain the back end could not take yet (EAGAIN), and scratch that
    // keeps the hot path free of allocations once warm.
    bool tx_blocked_ = false;
    std::optional<DescriptorChain> tx_pending_;
    std::vector<DescriptorBuffer> tx_storage_;
    std::vector<iovec> tx_iov_;
    NetHeader tx_header_{};

    // Receive side: chains popped and held for the next frames (in ring order), their
    // writable bytes, recycled chain storage, and a tail buffer that catches the part of
    // a frame beyond the guest's buffers so an oversized frame is seen and dropped.
    bool rx_polling_ = false;
    std::vector<DescriptorChain> rx_chains_;
    uint64_t rx_room_ = 0;
    std::vector<std::vector<DescriptorBuffer>> rx_spare_storage_;
    std::vector<iovec> rx_iov_;
    // A frame read while the held buffers were too few for it (mergeable buffers only): kept
    // here, header first, until the driver posts enough buffers. The TAP is not read meanwhile.
    std::vector<std::byte> rx_pending_;
    std::vector<UsedElement> rx_used_;
    std::vector<std::byte> rx_overflow_;
    NetHeader rx_header_{};
};

} // namespace minivmm::virtio
