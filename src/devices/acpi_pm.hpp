// The ACPI power-management registers of a hardware-reduced platform, at the I/O ports the
// FADT names (arch::kAcpiPmPort): SLEEP_CONTROL_REG and SLEEP_STATUS_REG (ACPI 6.5
// section 4.8.3.7) and RESET_REG (4.8.3.6), one byte each.
//
// Sleep control: a write with SLP_EN (bit 5) set and SLP_TYP (bits 4:2) equal to the S5
// value of the DSDT's \_S5_ powers the VM off; Linux writes (5 << 2) | 0x20 = 0x34 after
// clearing WAK_STS. Other sleep types (S1-S4) are not supported and are ignored, logged
// once. Sleep status reads 0: the VM never sleeps, so WAK_STS is never set; writes (the
// guest clearing WAK_STS) are ignored. Reset: writing arch::kAcpiResetValue resets the
// VM; other values are ignored. Wider accesses use their first byte; reads of sleep
// control and reset read 0.
// Host memory a guest can make it hold: none beyond its fixed state (sizeof(AcpiPm)); tested
// with every platform device in tests/unit/test_platform_bounds.cpp.
#pragma once

#include "devices/bus_device.hpp"
#include "util/guest_log.hpp"

#include <cstdint>
#include <functional>
#include <span>

namespace minivmm::devices {

class AcpiPm final : public BusDevice {
public:
    // Registered at arch::kAcpiPmPort for kPortCount ports.
    static constexpr uint64_t kPortCount = 3;

    enum class Register : uint8_t {
        SleepControl = 0,
        SleepStatus = 1,
        Reset = 2,
    };

    static constexpr uint8_t kSleepEnable = 1u << 5;   // SLP_EN
    static constexpr uint8_t kSleepTypeMask = 0x1c;    // SLP_TYP, bits 4:2
    static constexpr uint8_t kSleepTypeShift = 2;

    // The callbacks run on the writing vCPU thread.
    AcpiPm(std::function<void()> power_off, std::function<void()> reset);

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

private:
    void write_sleep_control(uint8_t value);

    const std::function<void()> power_off_;
    const std::function<void()> reset_;
    util::GuestLog log_{"ACPI"};
};

} // namespace minivmm::devices
