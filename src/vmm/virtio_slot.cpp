#include "vmm/virtio_slot.hpp"

#include "devices/virtio/mmio_registers.hpp"
#include "util/sys_error.hpp"
#include "vmm/irqfd_trigger.hpp"
#include "arch/x86_64/layout.hpp"

#include <spdlog/spdlog.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace minivmm::vmm {

static_assert(arch::kVirtioMmioStride >= virtio::mmio::kWindowSize, "a slot holds the whole register window");

VirtioSlot::VirtioSlot(const kvm::VmFd& vm, util::EventLoop& events, memory::GuestMemory& memory, devices::Bus& mmio,
                       const arch::VirtioMmioSlot& slot, std::unique_ptr<virtio::VirtioDevice> device)
    : events_(events)
{
    const uint64_t base = slot.base;
    const uint32_t gsi = slot.gsi;
    const size_t queues = device->queue_max_sizes().size();
    for (size_t q = 0; q < queues; ++q) {
        util::UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!fd) {
            util::throw_sys_error("eventfd (virtio queue notify)");
        }
        notify_fds_.push_back(std::move(fd));
    }
    auto irq = std::make_shared<IrqfdTrigger>();
    vm.register_irqfd(irq->fd(), gsi);
    // Without an ioeventfd (or for a write KVM did not match) the notify reaches the
    // transport as an MMIO exit; it signals the same eventfd, so one path runs the device.
    transport_ = std::make_shared<virtio::MmioTransport>(memory, std::move(device), irq, events,
                                                         [this](unsigned queue) {
                                                             const uint64_t one = 1;
                                                             [[maybe_unused]] const ssize_t n =
                                                                 ::write(notify_fds_[queue].get(), &one, sizeof(one));
                                                         });
    for (size_t q = 0; q < queues; ++q) {
        const int fd = notify_fds_[q].get();
        vm.register_ioeventfd(fd, base + virtio::mmio::kQueueNotify, 4, false, q);
        if (!events.add(fd, EPOLLIN, [this, fd, q](uint32_t) {
                uint64_t count = 0;
                [[maybe_unused]] const ssize_t n = ::read(fd, &count, sizeof(count));
                transport_->process_notify(static_cast<unsigned>(q));
            })) {
            util::throw_sys_error("epoll_ctl (virtio queue notify)");
        }
    }
    mmio.add(base, slot.size, transport_, fmt::format("{} (virtio-mmio {})", transport_->name(), slot.index));
    spdlog::debug("virtio-mmio {}: {} at {:#x}, GSI {}, {} queue(s)", slot.index, transport_->name(), base, gsi, queues);
}

VirtioSlot::~VirtioSlot()
{
    for (const auto& fd : notify_fds_) {
        events_.remove(fd.get());
    }
}

} // namespace minivmm::vmm
