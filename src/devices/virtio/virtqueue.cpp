// Split virtqueue, device side: virtio 1.2 sections 2.7.6-2.7.10 and 2.7.13.
#include "devices/virtio/virtqueue.hpp"

#include <atomic>
#include <bit>

namespace minivmm::virtio {

namespace {

// Ring layouts (2.7.6, 2.7.8): flags, idx, ring[size], then used_event / avail_event.
constexpr uint64_t kFlagsOffset = 0;
constexpr uint64_t kIdxOffset = 2;
constexpr uint64_t kRingOffset = 4;
constexpr uint64_t kAvailElemSize = 2;
constexpr uint64_t kUsedElemSize = 8;

struct VirtqUsedElem {
    uint32_t id;
    uint32_t len;
};
static_assert(sizeof(VirtqUsedElem) == kUsedElemSize);

constexpr uint16_t valid_max(uint16_t max_size)
{
    if (max_size == 0) {
        return 1;
    }
    return std::bit_floor(max_size); // <= 32768 for any uint16_t
}

} // namespace

VirtQueue::VirtQueue(memory::GuestMemory& memory, uint16_t max_size)
    : memory_(memory), max_size_(valid_max(max_size)), size_(max_size_)
{
}

bool VirtQueue::set_size(uint16_t size)
{
    if (size == 0 || !std::has_single_bit(size) || size > max_size_) {
        return false;
    }
    size_ = size;
    return true;
}

void VirtQueue::reset()
{
    size_ = max_size_;
    ready_ = false;
    desc_ = avail_ = used_ = memory::GuestAddress();
    event_idx_ = indirect_desc_ = false;
    next_avail_ = next_used_ = signalled_used_ = 0;
    error_.reset();
}

bool VirtQueue::validate() const
{
    if (desc_.value() % 16 != 0 || avail_.value() % 2 != 0 || used_.value() % 4 != 0) {
        return false;
    }
    const uint64_t n = size_;
    return memory_.contains(desc_, n * sizeof(VirtqDesc)) &&
           memory_.contains(avail_, kRingOffset + n * kAvailElemSize + 2) &&
           memory_.contains(used_, kRingOffset + n * kUsedElemSize + 2);
}

std::optional<uint16_t> VirtQueue::read_u16(memory::GuestAddress base, uint64_t offset) const
{
    auto addr = base.checked_add(offset);
    return addr ? memory_.try_read_obj<uint16_t>(*addr) : std::nullopt;
}

bool VirtQueue::write_u16(memory::GuestAddress base, uint64_t offset, uint16_t value)
{
    auto addr = base.checked_add(offset);
    return addr && memory_.try_write_obj(*addr, value);
}

std::optional<DescriptorChain> VirtQueue::pop()
{
    std::vector<DescriptorBuffer> storage;
    return pop(storage);
}

std::optional<DescriptorChain> VirtQueue::pop(std::vector<DescriptorBuffer>& storage)
{
    if (error_) {
        return std::nullopt;
    }
    auto avail_idx = read_u16(avail_, kIdxOffset);
    if (!avail_idx) {
        error_ = QueueError::RingOutsideMemory;
        return std::nullopt;
    }
    const auto pending = static_cast<uint16_t>(*avail_idx - next_avail_);
    if (pending > size_) {
        error_ = QueueError::AvailIdxJump;
        return std::nullopt;
    }
    if (pending == 0) {
        return std::nullopt;
    }
    // Read ring entries only after seeing idx (pairs with the driver's write barrier, 2.7.13).
    std::atomic_thread_fence(std::memory_order_acquire);
    const uint64_t slot = next_avail_ % size_;
    auto head = read_u16(avail_, kRingOffset + slot * kAvailElemSize);
    if (!head) {
        error_ = QueueError::RingOutsideMemory;
        return std::nullopt;
    }
    auto result = DescriptorChain::walk(memory_, desc_, size_, *head, indirect_desc_, storage);
    if (result.error) {
        error_ = result.error;
        return std::nullopt;
    }
    ++next_avail_;
    return std::move(result.chain);
}

std::optional<QueueError> VirtQueue::add_used(uint16_t head, uint32_t written_len)
{
    const UsedElement element{head, written_len};
    return add_used(std::span(&element, 1));
}

std::optional<QueueError> VirtQueue::add_used(std::span<const UsedElement> elements)
{
    // More elements than the ring holds would overwrite entries the driver has not seen.
    if (elements.size() > size_) {
        error_ = QueueError::UsedHeadOutOfRange;
        return error_;
    }
    for (size_t i = 0; i < elements.size(); ++i) {
        if (elements[i].head >= size_) {
            error_ = QueueError::UsedHeadOutOfRange;
            return error_;
        }
        const uint64_t slot = (next_used_ + i) % size_;
        auto elem_addr = used_.checked_add(kRingOffset + slot * kUsedElemSize);
        if (!elem_addr ||
            !memory_.try_write_obj(*elem_addr, VirtqUsedElem{elements[i].head, elements[i].written_len})) {
            error_ = QueueError::RingOutsideMemory;
            return error_;
        }
    }
    // The elements must be visible before the index that publishes them (2.7.13.3).
    std::atomic_thread_fence(std::memory_order_release);
    const auto new_idx = static_cast<uint16_t>(next_used_ + elements.size());
    if (!write_u16(used_, kIdxOffset, new_idx)) {
        error_ = QueueError::RingOutsideMemory;
        return error_;
    }
    next_used_ = new_idx;
    return std::nullopt;
}

bool VirtQueue::needs_notification()
{
    // used.idx must be visible before we read the driver's suppression state (2.7.10).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const uint16_t old_idx = signalled_used_;
    const uint16_t new_idx = next_used_;
    signalled_used_ = new_idx;
    if (old_idx == new_idx) {
        return false;
    }
    if (event_idx_) {
        auto used_event = read_u16(avail_, kRingOffset + uint64_t{size_} * kAvailElemSize);
        // An unreadable ring cannot suppress: interrupt, and let the driver sort it out.
        return !used_event || vring_need_event(*used_event, new_idx, old_idx);
    }
    auto flags = read_u16(avail_, kFlagsOffset);
    return !flags || (*flags & kVirtqAvailFNoInterrupt) == 0;
}

bool VirtQueue::set_avail_event(uint16_t idx)
{
    const bool ok = write_u16(used_, kRingOffset + uint64_t{size_} * kUsedElemSize, idx);
    // The driver must see avail_event before we re-check avail.idx (2.7.10).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return ok;
}

bool VirtQueue::rearm_notifications()
{
    const bool armed = event_idx_ ? set_avail_event(next_avail_) : set_notifications_suppressed(false);
    if (!armed) {
        error_ = QueueError::RingOutsideMemory;
        return false;
    }
    const auto avail_idx = read_u16(avail_, kIdxOffset);
    return !error_ && avail_idx && *avail_idx != next_avail_;
}

bool VirtQueue::set_notifications_suppressed(bool suppressed)
{
    if (event_idx_) {
        // With EVENT_IDX the device uses avail_event instead of used.flags (2.7.10).
        return true;
    }
    const bool ok = write_u16(used_, kFlagsOffset, suppressed ? kVirtqUsedFNoNotify : uint16_t{0});
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return ok;
}

} // namespace minivmm::virtio
