// vcpu::ExitStats: the per-vCPU counts of exits to userspace logged at debug level.
#include "vcpu/exit_stats.hpp"

#include <catch2/catch.hpp>

#include <array>

using namespace minivmm;
using namespace minivmm::vcpu;
using Catch::Matchers::Contains;
using namespace std::chrono_literals;

TEST_CASE("exit stats count exits by kind and by port or address", "[unit][vcpu]")
{
    ExitStats stats;
    std::array<uint8_t, 4> data{};
    for (int i = 0; i < 5; ++i) {
        stats.count(exits::IoOut{0x3f8, 1, std::span<const uint8_t>(data.data(), 1)}, 1000ns);
        stats.count(exits::IoIn{0x3fd, 1, std::span<uint8_t>(data.data(), 1)}, 1000ns);
    }
    stats.count(exits::IoOut{0x70, 1, std::span<const uint8_t>(data.data(), 1)}, 1000ns);
    stats.count(exits::MmioWrite{0xd0000050, std::span<const uint8_t>(data.data(), 4)}, 1000ns);
    stats.count(exits::MmioRead{0xd0000000, std::span<uint8_t>(data.data(), 4)}, 1000ns);
    stats.count(exits::Hlt{}, 0ns);
    stats.count(exits::Interrupted{}, 0ns);
    stats.count(exits::Shutdown{}, 0ns);

    CHECK(stats.total() == 16);
    CHECK(stats.of(ExitStats::Kind::IoOut) == 6);
    CHECK(stats.of(ExitStats::Kind::IoIn) == 5);
    CHECK(stats.of(ExitStats::Kind::MmioRead) == 1);
    CHECK(stats.of(ExitStats::Kind::MmioWrite) == 1);
    CHECK(stats.of(ExitStats::Kind::Hlt) == 1);
    CHECK(stats.of(ExitStats::Kind::Interrupted) == 1);
    CHECK(stats.of(ExitStats::Kind::Other) == 1);
    CHECK(stats.at(ExitStats::Kind::IoOut, 0x3f8) == 5);
    CHECK(stats.at(ExitStats::Kind::IoIn, 0x3f8) == 0); // kinds are apart
    CHECK(stats.at(ExitStats::Kind::MmioWrite, 0xd0000050) == 1);
    const std::string summary = stats.summary();
    CHECK_THAT(summary, Contains("16 exits, 0.0 ms handling them: io-in 5 (0x3fd x5), io-out 6 (0x3f8 x5, 0x70 x1)"));
    CHECK_THAT(summary, Contains("mmio-write 1 (0xd0000050 x1)") && Contains("hlt 1") && Contains("other 1"));
}

TEST_CASE("exit stats keep a bounded number of addresses", "[unit][vcpu]")
{
    ExitStats stats;
    std::array<uint8_t, 1> data{};
    for (uint16_t port = 0; port < 100; ++port) {
        stats.count(exits::IoIn{port, 1, std::span<uint8_t>(data)}, 0ns);
    }
    CHECK(stats.of(ExitStats::Kind::IoIn) == 100);
    CHECK(stats.at(ExitStats::Kind::IoIn, 63) == 1);
    CHECK(stats.at(ExitStats::Kind::IoIn, 64) == 0);
    CHECK_THAT(stats.summary(), Contains(", ...)") && Contains("36 at addresses past the first 64"));
}
