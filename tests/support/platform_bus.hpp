// The platform devices on a port I/O bus as the VM builder wires them (the UART, the CMOS RTC
// on a clock the caller moves, the i8042, the ACPI PM block, pvpanic, debug-exit and the
// ignored ports), with every exit callback a no-op: for the fuzz target and the tests that
// drive them as a hostile guest would.
#pragma once

#include "arch/x86_64/layout.hpp"
#include "devices/acpi_pm.hpp"
#include "devices/bus.hpp"
#include "devices/cmos_rtc.hpp"
#include "devices/console_output.hpp"
#include "devices/debug_exit.hpp"
#include "devices/i8042.hpp"
#include "devices/ignored_ports.hpp"
#include "devices/pvpanic.hpp"
#include "devices/serial.hpp"

#include <chrono>
#include <memory>

namespace minivmm::test {

struct PlatformBus {
    struct NullIrq final : devices::IrqLine {
        void set_level(bool) override {}
    };

    // `output` receives the UART's bytes; it must outlive the bus.
    explicit PlatformBus(devices::ConsoleOutput& output)
    {
        serial = std::make_shared<devices::Serial8250>(std::make_shared<NullIrq>(), output);
        pio.add(arch::kCom1Port, 8, serial, "serial");
        rtc = std::make_shared<devices::CmosRtc>(std::make_shared<NullIrq>(), 256ULL << 20,
                                                 [this] { return clock_now; }, devices::CmosRtc::TimerMode::Manual);
        pio.add(arch::kRtcPort, 2, rtc, "rtc");
        pio.add(arch::kI8042DataPort, devices::I8042::kPortCount, std::make_shared<devices::I8042>([] {}), "i8042");
        pio.add(arch::kAcpiPmPort, devices::AcpiPm::kPortCount, std::make_shared<devices::AcpiPm>([] {}, [] {}),
                "pm");
        pio.add(arch::kPvPanicPort, devices::PvPanic::kPortCount, std::make_shared<devices::PvPanic>([] {}),
                "pvpanic");
        pio.add(arch::kDebugExitPort, devices::DebugExit::kPortCount,
                std::make_shared<devices::DebugExit>([](int) {}), "debug-exit");
        devices::add_ignored_ports(pio);
    }
    PlatformBus(const PlatformBus&) = delete;
    PlatformBus& operator=(const PlatformBus&) = delete;

    std::chrono::system_clock::time_point clock_now{std::chrono::seconds(1'700'000'000)};
    devices::Bus pio{"pio"};
    std::shared_ptr<devices::Serial8250> serial;
    std::shared_ptr<devices::CmosRtc> rtc;
};

} // namespace minivmm::test
