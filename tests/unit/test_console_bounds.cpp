// The console capture holds at most its limit in memory, whatever the guest writes and however
// (issue 13, defect 5: one 512 MiB virtio-console write used to leave the process at 515 MiB).
#include "console/console_capture.hpp"
#include "console/guest_console.hpp"
#include "devices/virtio/virtio_console.hpp"
#include "memory/byte_span.hpp"
#include "support/process_memory.hpp"
#include "support/virtio_mmio_driver.hpp"

#include <minivmm/vm_config.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace minivmm;
using minivmm::test::MmioDriver;

namespace {

std::span<const uint8_t> as_u8(const std::string& s) { return memory::as_u8(std::as_bytes(std::span(s))); }

} // namespace

TEST_CASE("console capture: one write larger than the limit keeps its tail and no more memory",
          "[unit][console][bounds]")
{
    constexpr std::size_t kLimit = 1 << 20;
    console::ConsoleCapture capture(kLimit);
    capture.write(as_u8("before\n"));
    std::string big(64 << 20, 'x');
    for (std::size_t i = 0; i < big.size(); i += 4096) {
        big[i] = static_cast<char>('a' + (i / 4096) % 26);
    }
    capture.write(as_u8(big));
    CHECK(capture.bytes_held() <= kLimit);
    const std::string kept = capture.text();
    REQUIRE(kept.size() <= kLimit);
    CHECK(kept.size() >= kLimit / 2);
    CHECK(big.ends_with(kept));
    // Offsets still count every byte the guest wrote.
    CHECK(capture.since(0).begin == 7 + big.size() - kept.size());

    // Small writes after it: still within the limit.
    for (int i = 0; i < 100000; ++i) {
        capture.write(as_u8("line " + std::to_string(i) + "\n"));
        if (i % 10000 == 0) {
            CHECK(capture.bytes_held() <= kLimit);
        }
    }
    CHECK(capture.bytes_held() <= kLimit);
    CHECK(capture.tail(1) == "line 99999\n");
}

TEST_CASE("console capture: many writes that each fit never hold more than the limit", "[unit][console][bounds]")
{
    constexpr std::size_t kLimit = 1000;
    console::ConsoleCapture capture(kLimit);
    std::string all;
    for (int i = 0; i < 5000; ++i) {
        const std::string chunk(static_cast<std::size_t>(1 + i % 997), static_cast<char>('a' + i % 26));
        capture.write(as_u8(chunk));
        all += chunk;
        REQUIRE(capture.bytes_held() <= kLimit);
    }
    CHECK(all.ends_with(capture.text()));
}

TEST_CASE("a 512 MiB virtio-console write leaves the process within the capture limit", "[unit][console][bounds]")
{
    constexpr uint64_t kWrite = 512ULL << 20;
    constexpr uint64_t kData = 16ULL << 20;
    ConsoleConfig config;
    config.mode = ConsoleMode::None; // kept in memory only
    console::GuestConsole guest_console(config, [](const ExitStatus&) {});
    MmioDriver driver(
        [&](memory::GuestMemory& memory) {
            return std::make_unique<virtio::VirtioConsole>(memory, guest_console.output(),
                                                           virtio::VirtioConsole::WindowSize{});
        },
        kData + kWrite + (1 << 20));
    driver.bring_up(2);
    // One descriptor of 512 MiB of guest RAM (never touched by the guest: it reads as zeros).
    driver.desc(1, 0, kData, static_cast<uint32_t>(kWrite), 0);
    driver.offer(1, 0);
    const uint64_t before = test::resident_bytes();
    driver.kick(1);
    REQUIRE(driver.used_idx(1) == 1);
    const uint64_t grown = test::resident_bytes() - std::min(test::resident_bytes(), before);
    INFO("resident memory grew by " << (grown >> 20) << " MiB; capture limit " << (config.capture_limit >> 20)
                                    << " MiB");
    CHECK(grown <= config.capture_limit + (16 << 20));
    CHECK(guest_console.console().output().size() <= config.capture_limit);
}
