// An edge-triggered interrupt a device raises without knowing how it is delivered: in the
// VMM an eventfd bound to a GSI with KVM_IRQFD (so no ioctl on the device's thread), in
// tests a counter. trigger() must be cheap and safe from any thread.
#pragma once

namespace minivmm::devices {

class InterruptTrigger {
public:
    virtual ~InterruptTrigger() = default;
    virtual void trigger() = 0;
};

} // namespace minivmm::devices
