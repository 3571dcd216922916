// The interface every emulated device presents to the PIO and MMIO buses.
#pragma once

#include <cstdint>
#include <span>

namespace minivmm::devices {

// A device sees accesses relative to the start of its own range. The bus has zero-filled
// `data` before read() is called, so a device that leaves bytes untouched leaks nothing.
// Devices may be called from several vCPU threads at once and lock internally.
class BusDevice {
public:
    virtual ~BusDevice() = default;
    virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
    virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

// An interrupt line into the guest's interrupt controllers (a GSI of the in-kernel
// IOAPIC/PIC). Implemented on KVM_IRQ_LINE; tests use a recording fake.
class IrqLine {
public:
    virtual ~IrqLine() = default;
    virtual void set_level(bool high) = 0;
    // An edge: raise and lower again.
    void pulse()
    {
        set_level(true);
        set_level(false);
    }
};

} // namespace minivmm::devices
