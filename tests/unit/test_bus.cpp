#include "devices/bus.hpp"

#include <minivmm/error.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <vector>

using namespace minivmm;

namespace {

// Records accesses; reads return offset + i so a test can see which bytes it got.
struct RecordingDevice final : devices::BusDevice {
    struct Access {
        bool write;
        uint64_t offset;
        std::vector<uint8_t> data;
    };
    std::vector<Access> accesses;
    bool touch_reads = true;

    void read(uint64_t offset, std::span<uint8_t> data) override
    {
        accesses.push_back({false, offset, {}});
        if (touch_reads) {
            for (size_t i = 0; i < data.size(); ++i) {
                data[i] = static_cast<uint8_t>(offset + i);
            }
        }
    }
    void write(uint64_t offset, std::span<const uint8_t> data) override
    {
        accesses.push_back({true, offset, {data.begin(), data.end()}});
    }
};

} // namespace

TEST_CASE("bus dispatches by address with device-relative offsets", "[unit][bus]")
{
    devices::Bus bus("test");
    auto a = std::make_shared<RecordingDevice>();
    auto b = std::make_shared<RecordingDevice>();
    bus.add(0x3f8, 8, a, "a");
    bus.add(0x70, 2, b, "b");

    std::array<uint8_t, 1> byte{};
    CHECK(bus.read(0x3fd, byte));
    CHECK(byte[0] == 5);
    REQUIRE(a->accesses.size() == 1);
    CHECK(a->accesses[0].offset == 5);

    const std::array<uint8_t, 2> word{0x34, 0x12};
    CHECK(bus.write(0x70, word));
    REQUIRE(b->accesses.size() == 1);
    CHECK(b->accesses[0].write);
    CHECK(b->accesses[0].data == std::vector<uint8_t>{0x34, 0x12});
}

TEST_CASE("unclaimed addresses read as all-ones and writes are dropped", "[unit][bus]")
{
    devices::Bus bus("test");
    auto a = std::make_shared<RecordingDevice>();
    bus.add(0x100, 4, a, "a");
    std::array<uint8_t, 4> data{1, 2, 3, 4};
    CHECK_FALSE(bus.read(0x200, data));
    CHECK(data == std::array<uint8_t, 4>{0xff, 0xff, 0xff, 0xff});
    CHECK_FALSE(bus.write(0x0, data));
    SECTION("an access straddling a device's end is not delivered")
    {
        CHECK_FALSE(bus.read(0x102, data));
        CHECK(a->accesses.empty());
    }
}

TEST_CASE("read buffers are zeroed before the device sees them", "[unit][bus]")
{
    devices::Bus bus("test");
    auto a = std::make_shared<RecordingDevice>();
    a->touch_reads = false;
    bus.add(0x100, 4, a, "a");
    std::array<uint8_t, 4> data{0xaa, 0xbb, 0xcc, 0xdd};
    CHECK(bus.read(0x100, data));
    CHECK(data == std::array<uint8_t, 4>{0, 0, 0, 0});
}

TEST_CASE("overlapping, empty and wrapping ranges are rejected", "[unit][bus]")
{
    devices::Bus bus("test");
    auto dev = std::make_shared<RecordingDevice>();
    bus.add(0x100, 0x10, dev, "first");
    CHECK_THROWS_AS(bus.add(0x108, 0x10, dev, "overlaps end"), HostError);
    CHECK_THROWS_AS(bus.add(0xf8, 0x10, dev, "overlaps start"), HostError);
    CHECK_THROWS_AS(bus.add(0x104, 0x4, dev, "inside"), HostError);
    CHECK_THROWS_AS(bus.add(0x0, 0x1000, dev, "around"), HostError);
    CHECK_THROWS_AS(bus.add(0x200, 0, dev, "empty"), HostError);
    CHECK_THROWS_AS(bus.add(UINT64_MAX - 2, 0x10, dev, "wraps"), HostError);
    CHECK_NOTHROW(bus.add(0x110, 0x10, dev, "adjacent"));
    CHECK_NOTHROW(bus.add(UINT64_MAX - 0xf, 0x10, dev, "at the very top"));
    CHECK(bus.ranges().size() == 3);
}
