#include "devices/acpi_pm.hpp"

#include "arch/x86_64/layout.hpp"

#include <algorithm>

namespace minivmm::devices {

static_assert(AcpiPm::kPortCount == arch::kAcpiPmPortCount);
static_assert(arch::kAcpiSleepControlPort - arch::kAcpiPmPort ==
              static_cast<uint16_t>(AcpiPm::Register::SleepControl));
static_assert(arch::kAcpiSleepStatusPort - arch::kAcpiPmPort ==
              static_cast<uint16_t>(AcpiPm::Register::SleepStatus));
static_assert(arch::kAcpiResetPort - arch::kAcpiPmPort == static_cast<uint16_t>(AcpiPm::Register::Reset));

AcpiPm::AcpiPm(std::function<void()> power_off, std::function<void()> reset)
    : power_off_(std::move(power_off)), reset_(std::move(reset))
{
}

void AcpiPm::read(uint64_t /*offset*/, std::span<uint8_t> data)
{
    // Every register reads 0: no wake status, and the write-only control registers.
    std::fill(data.begin(), data.end(), uint8_t{0});
}

void AcpiPm::write(uint64_t offset, std::span<const uint8_t> data)
{
    if (data.empty() || offset >= kPortCount) {
        return;
    }
    const uint8_t value = data[0];
    switch (static_cast<Register>(offset)) {
    case Register::SleepControl:
        write_sleep_control(value);
        return;
    case Register::SleepStatus:
        return; // WAK_STS is write-1-to-clear and never set
    case Register::Reset:
        if (value == arch::kAcpiResetValue && reset_) {
            reset_();
        }
        return;
    }
}

void AcpiPm::write_sleep_control(uint8_t value)
{
    if ((value & kSleepEnable) == 0) {
        return;
    }
    const uint8_t type = static_cast<uint8_t>((value & kSleepTypeMask) >> kSleepTypeShift);
    if (type == arch::kAcpiS5SleepType) {
        if (power_off_) {
            power_off_();
        }
        return;
    }
    log_.warn("guest asked for sleep type {} (only S5, type {}, is supported); ignored", type, arch::kAcpiS5SleepType);
}

} // namespace minivmm::devices
