#include "devices/boot_timer.hpp"

#include "devices/bus.hpp"
#include "vmm/platform.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <memory>

using namespace minivmm;

TEST_CASE("boot timer: the magic byte calls back, other writes do not", "[unit][boot_timer]")
{
    int calls = 0;
    Bus bus("mmio");
    bus.add(platform::kBootTimer, BootTimer::kWindowSize, std::make_shared<BootTimer>([&] { ++calls; }), "boot-timer");

    const std::array<uint8_t, 1> other{122};
    CHECK(bus.write(platform::kBootTimer, other));
    CHECK(calls == 0);
    const std::array<uint8_t, 1> magic{platform::kBootTimerMagic};
    CHECK(bus.write(platform::kBootTimer + 8, magic)); // lands, but not the register
    CHECK(calls == 0);
    CHECK(bus.write(platform::kBootTimer, magic)); // busybox `devmem 0xc0000000 8 123`
    CHECK(calls == 1);
    const std::array<uint8_t, 4> magic32{platform::kBootTimerMagic, 0, 0, 0};
    CHECK(bus.write(platform::kBootTimer, magic32)); // devmem ... 32 123
    CHECK(calls == 2);

    std::array<uint8_t, 8> value{};
    value.fill(0xaa);
    CHECK(bus.read(platform::kBootTimer + 0xff8, value));
    CHECK(value == std::array<uint8_t, 8>{});
}
