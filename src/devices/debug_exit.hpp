// The debug-exit port for test harnesses (in the manner of QEMU's isa-debug-exit, but the
// byte is passed on unchanged): a guest write of byte N at port 0xf4 reports N, and the VM
// exits with that code (docs/architecture.md "Exit codes"). Reads return 0.
// Host memory a guest can make it hold: none (stateless); tests/unit/test_platform_bounds.cpp.
#pragma once

#include "devices/bus_device.hpp"

#include <cstdint>
#include <functional>
#include <span>

namespace minivmm::devices {

class DebugExit final : public BusDevice {
public:
    // Registered at arch::kDebugExitPort. Four ports, so that an `outw`/`outl` to 0xf4
    // reaches the device (the bus rejects an access straddling the end of a range); the
    // low byte, at offset 0, is the code. Writes starting at 0xf5-0xf7 are ignored.
    static constexpr uint64_t kPortCount = 4;

    // `on_exit` is called on the writing vCPU thread, with no lock held.
    explicit DebugExit(std::function<void(int)> on_exit);

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

private:
    const std::function<void(int)> on_exit_;
};

} // namespace minivmm::devices
