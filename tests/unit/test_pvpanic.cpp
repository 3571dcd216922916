#include "devices/pvpanic.hpp"

#include <catch2/catch.hpp>

#include <array>

using namespace minivmm;

TEST_CASE("pvpanic advertises its events and reports a panic", "[unit][pvpanic]")
{
    int panics = 0;
    devices::PvPanic device([&] { ++panics; });
    std::array<uint8_t, 1> value{};
    device.read(0, value);
    CHECK(value[0] == (devices::PvPanic::kPanicked | devices::PvPanic::kCrashLoaded));

    const std::array<uint8_t, 1> crash_loaded{devices::PvPanic::kCrashLoaded};
    device.write(0, crash_loaded);
    CHECK(panics == 0);
    const std::array<uint8_t, 1> nothing{0};
    device.write(0, nothing);
    CHECK(panics == 0);
    const std::array<uint8_t, 1> panicked{devices::PvPanic::kPanicked};
    device.write(0, panicked);
    CHECK(panics == 1);
}
