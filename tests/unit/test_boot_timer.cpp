#include "devices/boot_timer.hpp"

#include "devices/bus.hpp"
#include "arch/x86_64/layout.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <memory>

using namespace minivmm;

TEST_CASE("boot timer: the magic byte calls back, other writes do not", "[unit][boot_timer]")
{
    int calls = 0;
    devices::Bus bus("mmio");
    bus.add(arch::kBootTimer, devices::BootTimer::kWindowSize, std::make_shared<devices::BootTimer>([&] { ++calls; }),
            "boot-timer");

    const std::array<uint8_t, 1> other{122};
    CHECK(bus.write(arch::kBootTimer, other));
    CHECK(calls == 0);
    const std::array<uint8_t, 1> magic{arch::kBootTimerMagic};
    CHECK(bus.write(arch::kBootTimer + 8, magic)); // lands, but not the register
    CHECK(calls == 0);
    CHECK(bus.write(arch::kBootTimer, magic)); // busybox `devmem 0xc0000000 8 123`
    CHECK(calls == 1);
    const std::array<uint8_t, 4> magic32{arch::kBootTimerMagic, 0, 0, 0};
    CHECK(bus.write(arch::kBootTimer, magic32)); // devmem ... 32 123
    CHECK(calls == 2);

    std::array<uint8_t, 8> value{};
    value.fill(0xaa);
    CHECK(bus.read(arch::kBootTimer + 0xff8, value));
    CHECK(value == std::array<uint8_t, 8>{});
}
