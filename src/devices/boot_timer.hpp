// The boot timer (docs/architecture.md "Guest physical memory map"): the test guest
// writes the byte arch::kBootTimerMagic to arch::kBootTimer when its userland
// starts (busybox `devmem 0xc0000000 8 123`), and the VM records the time since minivmm
// started. Modelled on Firecracker's boot-timer device. Reads return 0; other values and
// offsets are ignored.
// Host memory a guest can make it hold: none (no state of its own); tests/unit/test_platform_bounds.cpp.
#pragma once

#include "devices/bus_device.hpp"

#include <cstdint>
#include <functional>
#include <span>

namespace minivmm::devices {

class BootTimer final : public BusDevice {
public:
    // A whole page at arch::kBootTimer, so that any access there lands on a device
    // rather than in the bus's unhandled-access path.
    static constexpr uint64_t kWindowSize = 0x1000;

    // `on_boot_done` is called on every magic write (on the writing vCPU thread, no lock
    // held): recording only the first one, and logging it once, is the caller's job.
    explicit BootTimer(std::function<void()> on_boot_done);

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

private:
    const std::function<void()> on_boot_done_;
};

} // namespace minivmm::devices
