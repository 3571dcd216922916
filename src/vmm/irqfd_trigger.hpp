// An InterruptTrigger on an eventfd that KVM_IRQFD binds to a GSI: trigger() is one
// write(2), from any thread, and KVM injects the edge without a userspace ioctl.
#pragma once

#include "devices/interrupt_trigger.hpp"
#include "util/unique_fd.hpp"

namespace minivmm::vmm {

class IrqfdTrigger final : public devices::InterruptTrigger {
public:
    IrqfdTrigger();
    void trigger() override;
    [[nodiscard]] int fd() const { return fd_.get(); }

private:
    util::UniqueFd fd_;
};

} // namespace minivmm::vmm
