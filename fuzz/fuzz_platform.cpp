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
#include "fuzz_support.hpp"
#include "support/platform_bus.hpp"

#include <chrono>
#include <cstring>

using namespace minivmm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    fuzz::silence_logs();
    fuzz::Input in(data, size);
    fuzz::NullOutput output;
    test::PlatformBus platform(output);
    auto& pio = platform.pio;
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
            (void)platform.serial->receive(in.bytes(in.take<uint8_t>()));
            break;
        }
        default:
            platform.clock_now += std::chrono::milliseconds(in.take<uint32_t>() % 10'000);
            platform.rtc->tick();
            break;
        }
    }
    return 0;
}
