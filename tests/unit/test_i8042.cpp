#include "devices/i8042.hpp"

#include "devices/bus.hpp"
#include "arch/x86_64/layout.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <memory>
#include <optional>

using namespace minivmm;

namespace {

constexpr uint64_t kData = 0;   // port 0x60
constexpr uint64_t kStatus = 4; // port 0x64
constexpr uint8_t kOutputFull = 0x01, kInputFull = 0x02, kAuxData = 0x20;

struct Controller {
    int resets = 0;
    devices::I8042 dev{[this] { ++resets; }};

    uint8_t in(uint64_t port)
    {
        std::array<uint8_t, 1> byte{};
        dev.read(port, byte);
        return byte[0];
    }
    void out(uint64_t port, uint8_t value) { dev.write(port, std::span<const uint8_t>(&value, 1)); }
    // Linux's i8042_command: command, optional parameter, optional answer.
    std::optional<uint8_t> command(uint8_t cmd, std::optional<uint8_t> param = std::nullopt)
    {
        REQUIRE((in(kStatus) & kInputFull) == 0);
        out(kStatus, cmd);
        if (param) {
            REQUIRE((in(kStatus) & kInputFull) == 0);
            out(kData, *param);
        }
        if ((in(kStatus) & kOutputFull) == 0) {
            return std::nullopt;
        }
        return in(kData);
    }
};

} // namespace

TEST_CASE("i8042: idle status: nothing pending, input buffer empty", "[unit][i8042]")
{
    Controller c;
    const uint8_t status = c.in(kStatus);
    CHECK((status & (kOutputFull | kInputFull)) == 0);
    CHECK(status == 0x14); // system flag, not inhibited
    c.out(kStatus, 0xad);
    CHECK(c.in(kStatus) == 0x1c); // plus "last write was a command"
    CHECK(c.resets == 0);
}

TEST_CASE("i8042: 0xfe pulses the reset line", "[unit][i8042]")
{
    Controller c;
    c.out(kStatus, 0xfe);
    CHECK(c.resets == 1);
    c.out(kStatus, 0xff); // pulses no line
    CHECK(c.resets == 1);
    c.out(kStatus, 0xf0); // pulses all four, reset among them
    CHECK(c.resets == 2);
    SECTION("and so does clearing output port bit 0")
    {
        CHECK(c.command(0xd1, 0xdf) == std::nullopt); // A20 on, reset line high
        CHECK(c.resets == 2);
        CHECK(c.command(0xd0) == 0xdf);
        CHECK(c.command(0xd1, 0xde) == std::nullopt);
        CHECK(c.resets == 3);
    }
}

TEST_CASE("i8042: configuration byte round trip", "[unit][i8042]")
{
    Controller c;
    // Linux reads the CTR until two reads agree, then writes it back changed.
    const auto first = c.command(0x20);
    REQUIRE(first);
    CHECK(*first == devices::I8042::kInitialConfig);
    CHECK(c.command(0x20) == first);
    CHECK(c.command(0x60, 0x45) == std::nullopt);
    CHECK(c.command(0x20) == 0x45);
    CHECK((c.in(kStatus) & kOutputFull) == 0); // the answer was consumed
    CHECK((c.in(kStatus) & 0x04) != 0);        // SYS follows CTR bit 2
    c.command(0x60, 0x00);
    CHECK((c.in(kStatus) & 0x04) == 0);
    // Port enable/disable commands flip their CTR bits.
    c.command(0xa7);
    c.command(0xad);
    CHECK(c.command(0x20) == 0x30);
    c.command(0xa8);
    c.command(0xae);
    CHECK(c.command(0x20) == 0x00);
}

TEST_CASE("i8042: unknown commands and keyboard bytes are ignored", "[unit][i8042]")
{
    Controller c;
    CHECK(c.command(0x12) == std::nullopt);
    CHECK(c.command(0xc0) == std::nullopt);
    c.out(kData, 0xf2); // "get ID" for a keyboard that is not there: no answer
    CHECK((c.in(kStatus) & kOutputFull) == 0);
    CHECK(c.command(0x20) == devices::I8042::kInitialConfig);
    CHECK(c.resets == 0);
}

TEST_CASE("i8042: Linux's direct probe answers at once: controller yes, AUX port no", "[unit][i8042]")
{
    Controller c;
    CHECK(c.command(0xaa) == 0x55); // controller self test
    CHECK(c.command(0xab) == 0x00); // keyboard interface test
    // AUX loop: an answer without the AUX status bit ...
    c.out(kStatus, 0xd3);
    c.out(kData, 0x5a);
    const uint8_t status = c.in(kStatus);
    CHECK((status & kOutputFull) != 0);
    CHECK((status & kAuxData) == 0);
    // ... then the AUX interface test reports a stuck clock line.
    c.out(kStatus, 0xa9);
    CHECK(c.in(kData) == 0x01);
    CHECK((c.in(kStatus) & kOutputFull) == 0);
}

TEST_CASE("i8042: through the PIO bus at 0x60 and 0x64", "[unit][i8042]")
{
    int resets = 0;
    devices::Bus bus("pio");
    bus.add(arch::kI8042DataPort, devices::I8042::kPortCount, std::make_shared<devices::I8042>([&] { ++resets; }),
            "i8042");
    const std::array<uint8_t, 1> pulse{0xfe};
    CHECK(bus.write(arch::kI8042CommandPort, pulse));
    CHECK(resets == 1);
    std::array<uint8_t, 1> port_b{0xaa};
    CHECK(bus.read(0x61, port_b));
    CHECK(port_b[0] == 0);
}
