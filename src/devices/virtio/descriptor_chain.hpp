// Split-virtqueue descriptors and chains: virtio 1.2 sections 2.7.5 (descriptor table),
// 2.7.5.3 (indirect descriptors) and 2.7.4.2 (readable before writable). A chain is walked
// and checked as a whole when popped, so a device only ever sees a well-formed chain.
// Every guest value is hostile: indexes, lengths and addresses are bounded and checked.
//
// Host memory: a chain holds at most queue_size buffers (2.7.5.3.1: "A driver MUST NOT
// create a descriptor chain longer than the Queue Size of the device"; a longer one is
// ChainTooLong, and an indirect table of more than queue_size entries, which only such a
// chain could fill, is BadIndirectLength: both need a reset, as in QEMU, which refuses
// chains of more than 1024), and zero-length descriptors are checked but not kept. So a chain's buffer list
// is at most queue_size x sizeof(DescriptorBuffer) = queue_size x 16 bytes (4 KiB for a
// 256-entry queue) whatever the guest writes; tables are read entry by entry, never copied.
#pragma once

#include "memory/guest_address.hpp"
#include "memory/guest_memory.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace minivmm::virtio {

// A protocol violation by the driver; the device answers with DEVICE_NEEDS_RESET (2.1.2).
enum class QueueError {
    RingOutsideMemory,      // a ring, table entry or ring field could not be accessed
    AvailIdxJump,           // avail.idx moved forward by more than the queue size
    HeadOutOfRange,         // avail ring head index >= queue size
    NextOutOfRange,         // desc.next >= queue size (or indirect table entries)
    ChainTooLong,           // a loop, or more descriptors than the queue size (2.7.5.3.1)
    BufferOutsideMemory,    // a buffer (or indirect table) does not lie in RAM
    LengthOverflow,         // the chain's total length does not fit in 32 bits
    ReadAfterWrite,         // device-readable descriptor after a device-writable one (2.7.4.2)
    IndirectNotNegotiated,  // VIRTQ_DESC_F_INDIRECT without VIRTIO_F_INDIRECT_DESC
    NestedIndirect,         // INDIRECT inside an indirect table (2.7.5.3.1)
    IndirectWithNext,       // INDIRECT and NEXT both set (2.7.5.3.1)
    BadIndirectLength,      // indirect table length zero, not a multiple of 16, or > queue size entries
    UsedHeadOutOfRange,     // the device tried to return a head >= queue size
};

[[nodiscard]] std::string_view to_string(QueueError error);

// struct virtq_desc, 2.7.5 (little-endian; x86 hosts only).
struct VirtqDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
static_assert(sizeof(VirtqDesc) == 16);

inline constexpr uint16_t kVirtqDescFNext = 1;
inline constexpr uint16_t kVirtqDescFWrite = 2;
inline constexpr uint16_t kVirtqDescFIndirect = 4;

struct DescriptorBuffer {
    memory::GuestAddress addr;
    uint32_t len = 0;
    bool device_writable = false;
};
static_assert(sizeof(DescriptorBuffer) == 16);

struct ChainResult;

class DescriptorChain final {
public:
    // Walks the chain starting at `head` in the table at `table` of `queue_size` entries.
    [[nodiscard]] static ChainResult walk(const memory::GuestMemory& memory, memory::GuestAddress table,
                                          uint16_t queue_size, uint16_t head, bool indirect_allowed);
    // As above, but builds the buffer list in `storage` (cleared first, capacity kept), so a
    // device that hands the storage back with take_storage() walks chains without allocating.
    // On success the chain owns the storage; on failure `storage` keeps it.
    [[nodiscard]] static ChainResult walk(const memory::GuestMemory& memory, memory::GuestAddress table,
                                          uint16_t queue_size, uint16_t head, bool indirect_allowed,
                                          std::vector<DescriptorBuffer>& storage);

    [[nodiscard]] uint16_t head() const { return head_; }
    // The chain's non-empty buffers, in order (zero-length descriptors are left out).
    [[nodiscard]] std::span<const DescriptorBuffer> buffers() const { return buffers_; }
    // Host bytes the buffer list occupies (its capacity), for memory accounting.
    [[nodiscard]] size_t storage_bytes() const { return buffers_.capacity() * sizeof(DescriptorBuffer); }
    // Sum of all buffer lengths; fits in 32 bits by construction.
    [[nodiscard]] uint32_t total_len() const { return total_len_; }
    // The buffer list's storage, for the next walk (the chain is empty afterwards).
    [[nodiscard]] std::vector<DescriptorBuffer> take_storage() &&
    {
        total_len_ = 0;
        return std::move(buffers_);
    }

private:
    DescriptorChain(uint16_t head, std::vector<DescriptorBuffer> buffers, uint32_t total_len)
        : head_(head), buffers_(std::move(buffers)), total_len_(total_len)
    {
    }

    uint16_t head_ = 0;
    std::vector<DescriptorBuffer> buffers_;
    uint32_t total_len_ = 0;
};

// Either a checked chain or the error that stopped the walk.
struct ChainResult {
    std::optional<DescriptorChain> chain;
    std::optional<QueueError> error;
};

} // namespace minivmm::virtio
