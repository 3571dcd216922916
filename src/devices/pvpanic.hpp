// pvpanic: how a guest kernel tells the VMM it panicked (QEMU's docs/specs/pvpanic.rst,
// the ISA variant at port 0x505 that Linux's pvpanic-mmio driver binds through the ACPI
// device "QEMU0001"). Reads return the events this device understands; a write with the
// "panicked" bit ends the run as a guest crash, before the kernel's own panic action
// (with panic=-1: an immediate reboot, which would otherwise look like a clean reboot).
// Host memory a guest can make it hold: none (stateless; its log lines are rate-limited);
// tests/unit/test_platform_bounds.cpp.
#pragma once

#include "devices/bus_device.hpp"
#include "util/guest_log.hpp"

#include <cstdint>
#include <functional>

namespace minivmm::devices {

class PvPanic final : public BusDevice {
public:
    static constexpr uint8_t kPanicked = 1U << 0;    // PVPANIC_PANICKED
    static constexpr uint8_t kCrashLoaded = 1U << 1; // PVPANIC_CRASH_LOADED: a kdump kernel takes over
    static constexpr uint64_t kPortCount = 1;

    explicit PvPanic(std::function<void()> on_panic) : on_panic_(std::move(on_panic)) {}

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

private:
    std::function<void()> on_panic_;
    util::GuestLog log_{"pvpanic"};
};

} // namespace minivmm::devices
