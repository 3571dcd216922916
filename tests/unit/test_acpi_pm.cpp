// The ACPI PM device: S5 through the sleep control register, reset through the reset
// register (ACPI 6.5 sections 4.8.3.7 and 4.8.3.6), at the ports the FADT names.
#include "devices/acpi_pm.hpp"

#include "devices/bus.hpp"
#include "arch/x86_64/layout.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <memory>

using namespace minivmm;

namespace {

constexpr uint64_t kSleepControl = 0;
constexpr uint64_t kSleepStatus = 1;
constexpr uint64_t kReset = 2;

struct Pm {
    int power_offs = 0;
    int resets = 0;
    devices::AcpiPm dev{[this] { ++power_offs; }, [this] { ++resets; }};

    void out(uint64_t offset, uint8_t value) { dev.write(offset, std::span<const uint8_t>(&value, 1)); }
    uint8_t in(uint64_t offset)
    {
        std::array<uint8_t, 1> byte{0xaa};
        dev.read(offset, byte);
        return byte[0];
    }
};

uint8_t sleep_command(uint8_t type, bool enable)
{
    return static_cast<uint8_t>((type << 2) | (enable ? 0x20 : 0x00));
}

} // namespace

TEST_CASE("ACPI PM: SLP_EN with the S5 type powers off", "[unit][acpi]")
{
    Pm pm;
    pm.out(kSleepControl, 0x34); // what Linux's acpi_hw_extended_sleep writes for \_S5_ = 5
    CHECK(pm.power_offs == 1);
    CHECK(sleep_command(arch::kAcpiS5SleepType, true) == 0x34);
    pm.out(kSleepControl, 0x34 | 0x80 | 0x03); // other bits do not matter
    CHECK(pm.power_offs == 2);
    CHECK(pm.resets == 0);
}

TEST_CASE("ACPI PM: other sleep types and SLP_EN clear do nothing", "[unit][acpi]")
{
    Pm pm;
    for (uint8_t type = 0; type < 8; ++type) {
        INFO("SLP_TYP " << int{type});
        pm.out(kSleepControl, sleep_command(type, false));
        if (type != arch::kAcpiS5SleepType) {
            pm.out(kSleepControl, sleep_command(type, true));
        }
    }
    CHECK(pm.power_offs == 0);
    CHECK(pm.resets == 0);
}

TEST_CASE("ACPI PM: the reset value resets, other values do not", "[unit][acpi]")
{
    Pm pm;
    for (const uint8_t value : {0x00, 0x01, 0x06, 0x41, 0x43, 0xfe, 0xff}) {
        pm.out(kReset, value);
    }
    CHECK(pm.resets == 0);
    pm.out(kReset, arch::kAcpiResetValue);
    CHECK(pm.resets == 1);
    pm.out(kSleepControl, arch::kAcpiResetValue); // the reset value elsewhere
    pm.out(kSleepStatus, arch::kAcpiResetValue);
    CHECK(pm.resets == 1);
    CHECK(pm.power_offs == 0);
}

TEST_CASE("ACPI PM: registers read 0, sleep status ignores WAK_STS clears", "[unit][acpi]")
{
    Pm pm;
    pm.out(kSleepStatus, 0x80); // Linux clears WAK_STS before sleeping
    CHECK(pm.in(kSleepControl) == 0);
    CHECK(pm.in(kSleepStatus) == 0);
    CHECK(pm.in(kReset) == 0);
    CHECK(pm.power_offs == 0);
    pm.dev.write(kSleepControl, {}); // an empty access
    pm.out(7, 0x34);                 // beyond the block
    CHECK(pm.power_offs == 0);
}

TEST_CASE("ACPI PM: through the PIO bus at the FADT's ports", "[unit][acpi]")
{
    int power_offs = 0;
    int resets = 0;
    devices::Bus bus("pio");
    bus.add(arch::kAcpiPmPort, devices::AcpiPm::kPortCount,
            std::make_shared<devices::AcpiPm>([&] { ++power_offs; }, [&] { ++resets; }), "acpi-pm");
    const std::array<uint8_t, 1> wake_clear{0x80};
    CHECK(bus.write(arch::kAcpiSleepStatusPort, wake_clear));
    const std::array<uint8_t, 1> s5{0x34};
    CHECK(bus.write(arch::kAcpiSleepControlPort, s5));
    CHECK(power_offs == 1);
    const std::array<uint8_t, 1> reset{arch::kAcpiResetValue};
    CHECK(bus.write(arch::kAcpiResetPort, reset));
    CHECK(resets == 1);
}
