// An IrqLine that drives a GSI of the in-kernel interrupt controllers (KVM_IRQ_LINE).
#pragma once

#include "devices/bus_device.hpp"
#include "kvm/kvm.hpp"

namespace minivmm::vmm {

class KvmIrqLine final : public devices::IrqLine {
public:
    KvmIrqLine(const kvm::VmFd& vm, uint32_t gsi) : vm_(vm), gsi_(gsi) {}
    void set_level(bool high) override { vm_.set_irq_line(gsi_, high); }

private:
    const kvm::VmFd& vm_;
    uint32_t gsi_;
};

} // namespace minivmm::vmm
