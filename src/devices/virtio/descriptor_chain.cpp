// Descriptor chain walk: virtio 1.2 sections 2.7.5, 2.7.5.3.1 and 2.7.4.2.
#include "devices/virtio/descriptor_chain.hpp"

namespace minivmm::virtio {

std::string_view to_string(QueueError error)
{
    switch (error) {
    case QueueError::RingOutsideMemory: return "virtqueue ring or descriptor outside guest RAM";
    case QueueError::AvailIdxJump: return "avail.idx moved forward by more than the queue size";
    case QueueError::HeadOutOfRange: return "avail ring head index out of range";
    case QueueError::NextOutOfRange: return "descriptor next index out of range";
    case QueueError::ChainTooLong: return "descriptor chain loops or is longer than the queue size";
    case QueueError::BufferOutsideMemory: return "descriptor buffer outside guest RAM";
    case QueueError::LengthOverflow: return "descriptor chain length overflows 32 bits";
    case QueueError::ReadAfterWrite: return "device-readable descriptor after a device-writable one";
    case QueueError::IndirectNotNegotiated: return "indirect descriptor without VIRTIO_F_INDIRECT_DESC";
    case QueueError::NestedIndirect: return "indirect descriptor inside an indirect table";
    case QueueError::IndirectWithNext: return "descriptor has both INDIRECT and NEXT set";
    case QueueError::BadIndirectLength: return "indirect table length invalid";
    case QueueError::UsedHeadOutOfRange: return "used element head index out of range";
    }
    return "unknown virtqueue error";
}

namespace {

ChainResult fail(QueueError error) { return ChainResult{std::nullopt, error}; }

} // namespace

ChainResult DescriptorChain::walk(const memory::GuestMemory& memory, memory::GuestAddress table, uint16_t queue_size,
                                  uint16_t head, bool indirect_allowed)
{
    std::vector<DescriptorBuffer> storage;
    return walk(memory, table, queue_size, head, indirect_allowed, storage);
}

ChainResult DescriptorChain::walk(const memory::GuestMemory& memory, memory::GuestAddress table, uint16_t queue_size,
                                  uint16_t head, bool indirect_allowed, std::vector<DescriptorBuffer>& storage)
{
    if (head >= queue_size) {
        return fail(QueueError::HeadOutOfRange);
    }
    uint64_t table_size = queue_size;
    uint64_t index = head;
    uint64_t visited = 0;
    uint64_t descriptors = 0; // buffer descriptors, direct and indirect: at most queue_size
    bool in_indirect = false;
    bool seen_writable = false;
    uint32_t total = 0;
    std::vector<DescriptorBuffer>& buffers = storage;
    buffers.clear();

    for (;;) {
        // A chain can visit each entry of its table at most once; more means a loop.
        if (visited >= table_size) {
            return fail(QueueError::ChainTooLong);
        }
        ++visited;
        auto where = table.checked_add(index * sizeof(VirtqDesc));
        auto desc = where ? memory.try_read_obj<VirtqDesc>(*where) : std::nullopt;
        if (!desc) {
            return fail(QueueError::RingOutsideMemory);
        }

        if ((desc->flags & kVirtqDescFIndirect) != 0) {
            if (!indirect_allowed) {
                return fail(QueueError::IndirectNotNegotiated);
            }
            if (in_indirect) {
                return fail(QueueError::NestedIndirect);
            }
            if ((desc->flags & kVirtqDescFNext) != 0) {
                return fail(QueueError::IndirectWithNext);
            }
            // A table longer than the queue size holds more than any chain may use (2.7.5.3.1).
            if (desc->len == 0 || desc->len % sizeof(VirtqDesc) != 0 || desc->len / sizeof(VirtqDesc) > queue_size) {
                return fail(QueueError::BadIndirectLength);
            }
            if (!memory.contains(memory::GuestAddress(desc->addr), desc->len)) {
                return fail(QueueError::BufferOutsideMemory);
            }
            // The WRITE flag of the descriptor naming the table is ignored (2.7.5.3.2).
            table = memory::GuestAddress(desc->addr);
            table_size = desc->len / sizeof(VirtqDesc);
            index = 0;
            visited = 0;
            in_indirect = true;
            continue;
        }

        // 2.7.5.3.1: no chain longer than the queue size, indirect entries included.
        if (++descriptors > queue_size) {
            return fail(QueueError::ChainTooLong);
        }
        if (!memory.contains(memory::GuestAddress(desc->addr), desc->len)) {
            return fail(QueueError::BufferOutsideMemory);
        }
        const bool writable = (desc->flags & kVirtqDescFWrite) != 0;
        if (!writable && seen_writable) {
            return fail(QueueError::ReadAfterWrite);
        }
        seen_writable = seen_writable || writable;
        if (__builtin_add_overflow(total, desc->len, &total)) {
            return fail(QueueError::LengthOverflow);
        }
        if (desc->len != 0) {
            // An empty buffer carries nothing: checked like any other, but costs no storage.
            buffers.push_back(DescriptorBuffer{memory::GuestAddress(desc->addr), desc->len, writable});
        }

        if ((desc->flags & kVirtqDescFNext) == 0) {
            break;
        }
        if (desc->next >= table_size) {
            return fail(QueueError::NextOutOfRange);
        }
        index = desc->next;
    }
    return ChainResult{DescriptorChain(head, std::move(buffers), total), std::nullopt};
}

} // namespace minivmm::virtio
