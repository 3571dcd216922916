// The platform devices hold a fixed amount of host memory whatever the guest does (the
// "Host memory" line of each one's header): a million random port accesses of a hostile
// guest, at every log level, leave the heap where it was.
#include "support/process_memory.hpp"
#include "support/platform_bus.hpp"

#include <catch2/catch.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <random>

using namespace minivmm;

namespace {

struct DiscardOutput final : devices::ConsoleOutput {
    void write(std::span<const uint8_t>) override {}
};

void hammer(test::PlatformBus& platform, std::mt19937& random, int accesses)
{
    std::uniform_int_distribution<uint32_t> any;
    for (int i = 0; i < accesses; ++i) {
        const uint32_t r = any(random);
        // Mostly the devices' ports (0x0-0x7ff holds all of them), sometimes anywhere.
        const auto port = static_cast<uint16_t>((r & 0x80000000U) != 0 ? r : r % 0x800);
        const std::size_t len = std::size_t{1} << (any(random) % 3);
        uint8_t bytes[4];
        const uint32_t value = any(random);
        std::memcpy(bytes, &value, sizeof(bytes));
        if ((r & 0x40000000U) != 0) {
            (void)platform.pio.write(port, std::span<const uint8_t>(bytes, len));
        } else {
            (void)platform.pio.read(port, std::span<uint8_t>(bytes, len));
        }
        if (i % 1024 == 0) {
            platform.clock_now += std::chrono::milliseconds(any(random) % 2000);
            platform.rtc->tick();
        }
    }
}

} // namespace

TEST_CASE("platform devices: a million hostile port accesses leave the heap where it was",
          "[unit][bounds][platform]")
{
    // Every level, so guest-triggered lines are formatted too (into a sink that drops them).
    const auto previous = spdlog::default_logger();
    auto null_logger = std::make_shared<spdlog::logger>("null", std::make_shared<spdlog::sinks::null_sink_mt>());
    null_logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(null_logger);
    DiscardOutput output;
    test::PlatformBus platform(output);
    std::mt19937 random(1234);
    hammer(platform, random, 20000); // warm-up: what allocates once has done so
    const std::size_t before = test::heap_bytes_in_use();
    hammer(platform, random, 1000000);
    const std::size_t after = test::heap_bytes_in_use();
    spdlog::set_default_logger(previous);
    INFO("heap in use before " << before << ", after " << after);
    CHECK(after <= before);
}
