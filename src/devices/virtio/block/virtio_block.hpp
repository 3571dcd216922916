// virtio-blk device (virtio 1.2 section 5.2) on a disk image (raw or qcow2: the backend's
// business, not the device's), one request queue.
// Offers FLUSH, SEG_MAX, BLK_SIZE (512), DISCARD, WRITE_ZEROES and RO for readonly disks;
// not offered: SIZE_MAX, GEOMETRY, TOPOLOGY, CONFIG_WCE (the cache is always writeback as far
// as the guest knows: FLUSH makes writes durable), MQ, SECURE_ERASE, LIFETIME, ZONED.
// Requests run asynchronously on a BlockBackend (io_uring, or synchronous I/O as the
// fallback); completions come back through VirtioContext::watch() on the I/O thread.
//
// Host memory a guest can make the device hold (kMaxBytesHeld, below; bytes_held()), with
// Q = kQueueSize, S = the slots (min(backend capacity, Q)) and a chain of at most Q buffers
// (descriptor_chain.hpp): per slot its request's data pieces and iovecs (Q x 16 each) and
// DISCARD / WRITE_ZEROES segments (kMaxDiscardSeg x 16), the bounce buffers (cache=none only,
// grown on first use), and the one chain being parsed (Q x 16, freed after parsing): 2.2 MiB
// + 32 MiB of bounce buffers for Q = S = 256. Slots are popped only while one is free, so a
// driver offering more requests than the queue holds gets no more in flight. The slots'
// vectors and the bounce buffers are kept across a reset, for reuse. The back end's own
// state (an io_uring of S entries) is sized by the host, not the guest; a qcow2 disk's
// backend holds what qcow2_image.hpp bounds per image (L2 caches, copy-on-write buffers).
#pragma once

#include "backends/block/block_backend.hpp"
#include "devices/virtio/block/block_request.hpp"
#include "backends/block/bounce_pool.hpp"
#include "backends/block/disk_backend.hpp"
#include "backends/block/disk_image.hpp"
#include "devices/virtio/virtio_device.hpp"
#include "util/guest_log.hpp"


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
    // The most host memory a guest can make one disk hold, with S = Q = kQueueSize:
    //   S x (sizeof(Slot) + Q x 16 + Q x 16 + kMaxDiscardSeg x 16)   the slots and their requests
    //   + 2S x 8 + S x 8                                             free-slot list, completions
    //   + kBounceBuffers x (kMaxBounceBytes + 32)                    bounce buffers (cache=none)
    //   + Q x 16                                                     the chain being parsed
    static constexpr uint64_t kSlotBytes = 160; // at least sizeof(Slot), checked in virtio_block.cpp
    static constexpr uint64_t kMaxBytesHeld =
        uint64_t{kQueueSize} * (kSlotBytes + kQueueSize * 16ULL + kQueueSize * 16ULL + kMaxDiscardSeg * 16ULL) +
        3ULL * kQueueSize * 8 + kBounceBuffers * (kMaxBounceBytes + backends::BouncePool::kBufferOverhead) +
        kQueueSize * 16ULL;

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
    // Completes every request in flight, then flushes a writable disk through its backend
    // (fdatasync; for qcow2 the metadata write-back too); says so if that failed (what the
    // guest wrote may then be lost).
    [[nodiscard]] std::optional<std::string> quiesce() override;
    // The backend's (which quiesce() also runs on the main thread).
    void add_syscalls(util::SeccompPolicy& policy) const override;

    [[nodiscard]] const backends::DiskImage& image() const { return image_; }
    [[nodiscard]] const backends::BlockBackend& backend() const { return *backend_; }
    [[nodiscard]] std::size_t requests_in_flight() const { return slots_.size() - free_slots_.size(); }
    // Host bytes the device holds on the guest's behalf now (the chain being parsed aside):
    // at most kMaxBytesHeld.
    [[nodiscard]] uint64_t bytes_held() const;

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
    util::GuestLog log_; // every line a driver can provoke (after image_: named after it)
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
