// Split virtqueue, device side: virtio 1.2 section 2.7. The transport sets size, ring
// addresses, ready and the negotiated features; the device pops checked descriptor chains
// (2.7.13.2), returns them through the used ring (2.7.8) and asks whether to interrupt
// (2.7.10, 2.7.7). Packed virtqueues (2.8) are out of scope: minivmm never offers
// VIRTIO_F_RING_PACKED. No KVM dependency.
#pragma once

#include "devices/virtio/descriptor_chain.hpp"
#include "memory/guest_address.hpp"
#include "memory/guest_memory.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace minivmm::virtio {

inline constexpr uint16_t kVirtqAvailFNoInterrupt = 1; // 2.7.6
inline constexpr uint16_t kVirtqUsedFNoNotify = 1;     // 2.7.8
inline constexpr uint32_t kVirtqMaxSize = 32768;       // 2.7: Queue Size <= 32768

// One entry for the used ring: a chain head and the bytes the device wrote to it (2.7.8).
struct UsedElement {
    uint16_t head = 0;
    uint32_t written_len = 0;
};

class VirtQueue final {
public:
    // `max_size` must be a power of two <= 32768 (clamped to a valid value otherwise).
    VirtQueue(memory::GuestMemory& memory, uint16_t max_size);

    // --- Transport-set state (4.2.2 QueueNum/QueueReady/QueueDesc*/...) ---
    [[nodiscard]] uint16_t max_size() const { return max_size_; }
    [[nodiscard]] uint16_t size() const { return size_; }
    // False (and no change) unless `size` is a non-zero power of two <= max_size().
    [[nodiscard]] bool set_size(uint16_t size);
    [[nodiscard]] bool ready() const { return ready_; }
    void set_ready(bool ready) { ready_ = ready; }
    void set_desc_addr(memory::GuestAddress addr) { desc_ = addr; }
    void set_avail_addr(memory::GuestAddress addr) { avail_ = addr; }
    void set_used_addr(memory::GuestAddress addr) { used_ = addr; }
    [[nodiscard]] memory::GuestAddress desc_addr() const { return desc_; }
    [[nodiscard]] memory::GuestAddress avail_addr() const { return avail_; }
    [[nodiscard]] memory::GuestAddress used_addr() const { return used_; }
    void set_event_idx(bool enabled) { event_idx_ = enabled; }
    void set_indirect_desc(bool enabled) { indirect_desc_ = enabled; }
    // Back to the state after construction (device reset, 2.4).
    void reset();

    // Alignment (2.7: desc 16, avail 2, used 4) and all three rings inside RAM.
    [[nodiscard]] bool validate() const;

    // --- Device side ---
    // The next available chain, or nullopt when none is pending or the driver broke the
    // protocol; error() then says which, and stays set until reset().
    [[nodiscard]] std::optional<DescriptorChain> pop();
    // As pop(), building the chain in `storage` (see DescriptorChain::walk): with storage
    // recycled through DescriptorChain::take_storage() a device pops without allocating.
    [[nodiscard]] std::optional<DescriptorChain> pop(std::vector<DescriptorBuffer>& storage);
    [[nodiscard]] std::optional<QueueError> error() const { return error_; }

    // Writes used element {head, written_len} and publishes used.idx (2.7.8, 2.7.13.3).
    // Returns the error, if any (head out of range, ring outside RAM); it is also kept in error().
    [[nodiscard]] std::optional<QueueError> add_used(uint16_t head, uint32_t written_len);
    // Writes several used elements and publishes them with one used.idx update, so the
    // driver sees all of them or none: the buffers of one mergeable-buffer frame (5.1.6.4).
    [[nodiscard]] std::optional<QueueError> add_used(std::span<const UsedElement> elements);

    // Whether the driver wants an interrupt for the used entries added since the last call
    // (2.7.10): avail.flags NO_INTERRUPT, or with EVENT_IDX the used_event rule.
    [[nodiscard]] bool needs_notification();

    // Driver-notification suppression (2.7.10): with EVENT_IDX write used.avail_event,
    // otherwise set or clear used.flags NO_NOTIFY. False if the ring is outside RAM.
    [[nodiscard]] bool set_avail_event(uint16_t idx);
    [[nodiscard]] bool set_notifications_suppressed(bool suppressed);
    // After draining the ring: ask the driver to notify again (EVENT_IDX: avail_event =
    // next_avail; otherwise clear NO_NOTIFY) and report whether buffers arrived in the
    // meantime, which the device must then process (the classic lost-wakeup race, 2.7.10).
    // Usage: do { while (auto chain = q.pop()) ...; } while (q.rearm_notifications());
    [[nodiscard]] bool rearm_notifications();

    [[nodiscard]] uint16_t next_avail() const { return next_avail_; }
    [[nodiscard]] uint16_t next_used() const { return next_used_; }

    // 2.7.10: true if `event_idx` lies in (old_idx, new_idx], in 16-bit modular arithmetic.
    [[nodiscard]] static constexpr bool vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
    {
        return static_cast<uint16_t>(new_idx - event_idx - 1) < static_cast<uint16_t>(new_idx - old_idx);
    }

private:
    [[nodiscard]] std::optional<uint16_t> read_u16(memory::GuestAddress base, uint64_t offset) const;
    [[nodiscard]] bool write_u16(memory::GuestAddress base, uint64_t offset, uint16_t value);

    memory::GuestMemory& memory_;
    uint16_t max_size_;
    uint16_t size_;
    bool ready_ = false;
    memory::GuestAddress desc_;
    memory::GuestAddress avail_;
    memory::GuestAddress used_;
    bool event_idx_ = false;
    bool indirect_desc_ = false;

    uint16_t next_avail_ = 0;     // last_avail_idx: next avail ring slot to consume
    uint16_t next_used_ = 0;      // value of used.idx after the last add_used
    uint16_t signalled_used_ = 0; // next_used_ at the last needs_notification()
    std::optional<QueueError> error_;
};

} // namespace minivmm::virtio
