// One virtio-mmio device plugged into the VM (docs/architecture.md "virtio-mmio device
// n"): its transport on the MMIO bus at the slot's base, its interrupt on an irqfd bound
// to the slot's GSI, and one eventfd per queue that KVM_IOEVENTFD signals when the
// driver writes that queue's index to QueueNotify, so a notification costs the vCPU no exit
// to userspace. The I/O thread reads the eventfds and runs the device.
#pragma once

#include "arch/x86_64/virtio_mmio_slots.hpp"
#include "devices/bus.hpp"
#include "devices/virtio/mmio_transport.hpp"
#include "util/unique_fd.hpp"
#include "util/event_loop.hpp"
#include "kvm/kvm.hpp"

#include <memory>
#include <vector>

namespace minivmm::vmm {

class VirtioSlot final {
public:
    VirtioSlot(const kvm::VmFd& vm, util::EventLoop& events, memory::GuestMemory& memory, devices::Bus& mmio,
               const arch::VirtioMmioSlot& slot, std::unique_ptr<virtio::VirtioDevice> device);
    ~VirtioSlot();
    VirtioSlot(const VirtioSlot&) = delete;
    VirtioSlot& operator=(const VirtioSlot&) = delete;

    [[nodiscard]] virtio::MmioTransport& transport() { return *transport_; }

private:
    util::EventLoop& events_;
    std::vector<util::UniqueFd> notify_fds_; // one per queue
    std::shared_ptr<virtio::MmioTransport> transport_;
};

} // namespace minivmm::vmm
