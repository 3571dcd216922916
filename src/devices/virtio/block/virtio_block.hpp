// virtio-blk device (virtio 1.2 section 5.2) on a disk image (raw or qcow2: the backend's
// business, not the device's), one request queue.
// Offers FLUSH, SEG_MAX, BLK_SIZE (512), DISCARD, WRITE_ZEROES and RO for readonly disks;
// not offered: SIZE_MAX, GEOMETRY, TOPOLOGY, CONFIG_WCE (the cache is always writeback as far
// as the guest knows: FLUSH makes writes durable), MQ, SECURE_ERASE, LIFETIME, ZONED.
// Requests run asynchronously on a BlockBackend (io_uring, or synchronous I/O as the
// fallback); completions come back through VirtioContext::watch() on the I/O thread.
//
// Host memory a guest can make the device hold, with Q = kQueueSize, S = the slots
// (min(backend capacity, Q)) and a chain of at most Q buffers (descriptor_chain.hpp):
//   S x (Q x 16 + Q x 16)          per request in flight, its data pieces and their iovecs
//   + S x kMaxDiscardSeg x 16      DISCARD / WRITE_ZEROES segments (16 per request)
//   + Q x 16                       the one chain being parsed (freed after parsing)
//   + kBounceBuffers x kMaxBounceBytes  bounce buffers, cache=none only, grown on first use
// = 2.1 MiB + 32 MiB of bounce buffers for Q = S = 256. A qcow2 disk adds what its backend
// holds (qcow2_image.hpp: the L2 caches and copy-on-write buffers, bounded per image). Slots are popped only while one is
// free, so a driver offering more requests than the queue holds gets no more in flight.
// The slots' vectors and the bounce buffers are kept across a reset, for reuse.
#pragma once

#include "backends/block/block_backend.hpp"
#include "devices/virtio/block/block_request.hpp"
#include "backends/block/bounce_pool.hpp"
#include "backends/block/disk_backend.hpp"
#include "backends/block/disk_image.hpp"
#include "devices/virtio/virtio_device.hpp"


#include <sys/uio.h>

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace minivmm::virtio {

class VirtioBlock final : public VirtioDevice {
public:
    static constexpr uint16_t kQueueSize = 256;
    // Data buffers per request: the queue minus header and status (what QEMU offers).
    static constexpr uint32_t kSegMax = kQueueSize - 2;
    static constexpr uint32_t kMaxDiscardSectors = 1U << 21; // 1 GiB per segment
    static constexpr uint32_t kMaxDiscardSeg = 16;
    static constexpr uint32_t kMaxWriteZeroesSectors = 1U << 21;
    static constexpr uint32_t kMaxWriteZeroesSeg = 16;
    static constexpr uint32_t kDiscardSectorAlignment = 8; // 4 KiB: the usual filesystem block
    // Unaligned requests on a cache=none disk larger than this get IOERR.
    static constexpr std::size_t kMaxBounceBytes = 4 * 1024 * 1024;
    static constexpr std::size_t kBounceBuffers = 8;

    // Opens options.path (ConfigError naming it when it cannot be used) and picks the
    // backend (Auto: io_uring, synchronous I/O where io_uring is unavailable).
    VirtioBlock(const backends::DiskOptions& options, memory::GuestMemory& memory,
                backends::BlockBackendKind backend = backends::BlockBackendKind::Auto);
    // From parts: `backend` must work on image.fd(). Up to backend->capacity() (at most
    // kQueueSize) requests are in flight at once.
    VirtioBlock(backends::DiskImage image, std::unique_ptr<backends::BlockBackend> backend,
                memory::GuestMemory& memory);
    ~VirtioBlock() override;
    VirtioBlock(const VirtioBlock&) = delete;
    VirtioBlock& operator=(const VirtioBlock&) = delete;

    [[nodiscard]] uint32_t device_id() const override { return kDeviceIdBlock; }
    [[nodiscard]] std::string name() const override;
    [[nodiscard]] uint64_t device_features() const override;
    [[nodiscard]] std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize}; }
    void read_config(uint64_t offset, std::span<uint8_t> data) override;
    void write_config(uint64_t offset, std::span<const uint8_t> data) override;
    void attach(VirtioContext& context) override;
    void activate(uint64_t features, std::span<VirtQueue> queues) override;
    void queue_notify(unsigned index) override;
    // Waits for every request in flight and drops its result: nothing is written to guest
    // memory afterwards. Stops watching the backend's completion fd.
    void reset() override;
    // Completes every request in flight, then flushes through the backend (fdatasync, and
    // for qcow2 the metadata write-back).
    void quiesce() override;

    [[nodiscard]] const backends::DiskImage& image() const { return image_; }
    [[nodiscard]] const backends::BlockBackend& backend() const { return *backend_; }
    [[nodiscard]] std::size_t requests_in_flight() const { return slots_.size() - free_slots_.size(); }

private:
    // A request between pop and used ring. Slot index = backend tag.
    struct Slot {
        bool busy = false;
        BlockRequest request;
        std::vector<iovec> iov;
        std::optional<std::size_t> bounce;
        std::size_t segment = 0; // DISCARD / WRITE_ZEROES: the one in progress
    };

    void init();
    void run();
    [[nodiscard]] bool reap();
    [[nodiscard]] bool pop_requests();
    [[nodiscard]] bool can_take() const;
    void take(const DescriptorChain& chain);
    void start(std::size_t slot);
    void start_transfer(std::size_t slot);
    [[nodiscard]] bool map_guest_buffers(Slot& slot);
    [[nodiscard]] bool fill_bounce(std::size_t slot_index);
    void start_segment(std::size_t slot);
    void submit(std::size_t slot, const backends::DiskOp& op);
    void op_done(std::size_t slot, int error);
    void get_id(std::size_t slot);
    void complete(std::size_t slot, uint8_t status, uint32_t data_written);
    void answer(uint16_t head, memory::GuestAddress status, uint8_t code, uint32_t data_written);
    void release(std::size_t slot);
    void settle();
    void fail(std::string_view why);
    void enable_notifications(bool enable);
    void guest_error(BlockRequestError why);
    void host_error(int error);

    memory::GuestMemory& memory_;
    backends::DiskImage image_;
    backends::BouncePool bounce_;
    std::vector<Slot> slots_;
    std::vector<std::size_t> free_slots_;
    std::vector<backends::BlockBackend::Completion> completions_;
    // Declared last: destroyed first, so I/O still in flight ends before the buffers go.
    std::unique_ptr<backends::BlockBackend> backend_;

    VirtioContext* context_ = nullptr;
    VirtQueue* queue_ = nullptr;
    uint64_t features_ = 0;
    BlockLimits limits_;
    bool active_ = false;
    bool broken_ = false;   // device_error() raised: nothing more until reset()
    bool watching_ = false; // backend completion fd registered with the context
    bool used_added_ = false;
    std::optional<std::size_t> waiting_for_bounce_;

    std::array<uint64_t, 6> type_counts_{};
    std::bitset<kBlockRequestErrorKinds> warned_;
    std::vector<int> warned_errnos_;
};

} // namespace minivmm::virtio
