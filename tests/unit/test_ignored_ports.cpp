#include "devices/ignored_ports.hpp"

#include "devices/bus.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <memory>

using namespace minivmm;

TEST_CASE("ignored ports: the legacy table registers cleanly and reads its value", "[unit][ignored_ports]")
{
    devices::Bus bus("pio");
    devices::add_ignored_ports(bus);
    CHECK(bus.ranges().size() == devices::IgnoredPorts::kLegacyRanges.size());
    // The 8237 detection read and an inl at the PCI config address.
    std::array<uint8_t, 1> dma_page{};
    CHECK(bus.read(0x87, dma_page));
    CHECK(dma_page[0] == 0xff);
    std::array<uint8_t, 4> pci{};
    CHECK(bus.read(0xcf8, pci));
    CHECK(pci == std::array<uint8_t, 4>{0xff, 0xff, 0xff, 0xff});
    const std::array<uint8_t, 1> post{0x42};
    CHECK(bus.write(0x80, post));

    devices::IgnoredPorts zero(0);
    std::array<uint8_t, 2> value{1, 1};
    zero.read(0, value);
    CHECK(value == std::array<uint8_t, 2>{0, 0});
}
