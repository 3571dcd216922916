#include "devices/debug_exit.hpp"

#include "devices/bus.hpp"
#include "arch/x86_64/layout.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <memory>
#include <vector>

using namespace minivmm;

TEST_CASE("debug exit: a written byte is reported, reads return 0", "[unit][debug_exit]")
{
    std::vector<int> codes;
    auto dev = std::make_shared<devices::DebugExit>([&](int code) { codes.push_back(code); });
    devices::Bus bus("pio");
    bus.add(arch::kDebugExitPort, devices::DebugExit::kPortCount, dev, "debug-exit");

    const std::array<uint8_t, 1> byte{42};
    CHECK(bus.write(arch::kDebugExitPort, byte));
    const std::array<uint8_t, 1> zero{0};
    CHECK(bus.write(arch::kDebugExitPort, zero));
    const std::array<uint8_t, 1> high{255};
    CHECK(bus.write(arch::kDebugExitPort, high));
    // outw/outl: the low byte counts.
    const std::array<uint8_t, 2> word{7, 1};
    CHECK(bus.write(arch::kDebugExitPort, word));
    const std::array<uint8_t, 4> dword{3, 0xff, 0xff, 0xff};
    CHECK(bus.write(arch::kDebugExitPort, dword));
    // A write at 0xf5 is not the exit port.
    CHECK(bus.write(arch::kDebugExitPort + 1, byte));
    CHECK(codes == std::vector<int>{42, 0, 255, 7, 3});

    std::array<uint8_t, 4> value{1, 2, 3, 4};
    CHECK(bus.read(arch::kDebugExitPort, value));
    CHECK(value == std::array<uint8_t, 4>{0, 0, 0, 0});
}
