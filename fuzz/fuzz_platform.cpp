// libFuzzer target: the platform devices through the port I/O bus exactly as a vCPU's I/O
// exits reach them (the UART, the CMOS RTC with a fuzzer-driven clock, the i8042 reset line,
// the ACPI PM block, pvpanic, debug-exit and the ignored ports), plus host console input. The
// input is a little program:
//   0 port:u16 size:u8 v:u32    OUT of `size` (1, 2 or 4) bytes
//   1 port:u16 size:u8          IN
//   2 n:u8 bytes[n]             host console input to the UART
//   3 s:u32                     advance the RTC's clock by s % 10000 milliseconds and tick it
// Ports are taken modulo 0x1000 so that most inputs hit a device. Never a crash, a hang, or
// unbounded host memory (the UART's host queue is bounded).
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
#include "fuzz_support.hpp"

#include <chrono>
#include <cstring>
#include <memory>

using namespace minivmm;

namespace {

struct NullIrq final : devices::IrqLine {
    void set_level(bool) override {}
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    fuzz::silence_logs();
    fuzz::Input in(data, size);
    fuzz::NullOutput output;
    auto clock_now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    devices::Bus pio("pio");
    auto serial = std::make_shared<devices::Serial8250>(std::make_shared<NullIrq>(), output);
    pio.add(arch::kCom1Port, 8, serial, "serial");
    auto rtc = std::make_shared<devices::CmosRtc>(std::make_shared<NullIrq>(), 256ULL << 20,
                                                  [&clock_now] { return clock_now; },
                                                  devices::CmosRtc::TimerMode::Manual);
    pio.add(arch::kRtcPort, 2, rtc, "rtc");
    pio.add(arch::kI8042DataPort, devices::I8042::kPortCount, std::make_shared<devices::I8042>([] {}), "i8042");
    pio.add(arch::kAcpiPmPort, devices::AcpiPm::kPortCount, std::make_shared<devices::AcpiPm>([] {}, [] {}), "pm");
    pio.add(arch::kPvPanicPort, devices::PvPanic::kPortCount, std::make_shared<devices::PvPanic>([] {}), "pvpanic");
    pio.add(arch::kDebugExitPort, devices::DebugExit::kPortCount, std::make_shared<devices::DebugExit>([](int) {}),
            "debug-exit");
    devices::add_ignored_ports(pio);
    for (int steps = 0; !in.empty() && steps < 512; ++steps) {
        switch (in.take<uint8_t>() % 4) {
        case 0: {
            const uint16_t port = in.take<uint16_t>() % 0x1000;
            const uint8_t sizes[] = {1, 2, 4};
            const uint8_t len = sizes[in.take<uint8_t>() % 3];
            const uint32_t value = in.take<uint32_t>();
            uint8_t bytes[4];
            std::memcpy(bytes, &value, 4);
            (void)pio.write(port, std::span<const uint8_t>(bytes, len));
            break;
        }
        case 1: {
            const uint16_t port = in.take<uint16_t>() % 0x1000;
            const uint8_t sizes[] = {1, 2, 4};
            uint8_t bytes[4] = {};
            (void)pio.read(port, std::span<uint8_t>(bytes, sizes[in.take<uint8_t>() % 3]));
            break;
        }
        case 2: {
            (void)serial->receive(in.bytes(in.take<uint8_t>()));
            break;
        }
        default:
            clock_now += std::chrono::milliseconds(in.take<uint32_t>() % 10'000);
            rtc->tick();
            break;
        }
    }
    return 0;
}
