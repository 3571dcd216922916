// Guest-triggered log lines are rate-limited (issue 13, defect 2): util::GuestLog itself, and
// each device a guest used to make log a line per request, driven a thousand times.
#include "devices/acpi_pm.hpp"
#include "devices/bus.hpp"
#include "devices/i8042.hpp"
#include "devices/pvpanic.hpp"
#include "devices/virtio/mmio_registers.hpp"
#include "devices/virtio/virtio_console.hpp"
#include "support/captured_log.hpp"
#include "support/captured_output.hpp"
#include "support/virtio_blk_driver.hpp"
#include "support/virtio_mmio_driver.hpp"
#include "util/guest_log.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <thread>

using namespace minivmm;
using namespace std::chrono_literals;
using minivmm::test::CapturedLog;
using minivmm::test::MmioDriver;

namespace {

constexpr int kRepeats = 1000;
constexpr auto kBurst = util::GuestLog::kBurst;

std::unique_ptr<virtio::VirtioDevice> make_console(memory::GuestMemory& memory)
{
    return std::make_unique<virtio::VirtioConsole>(memory, std::make_shared<test::CapturedOutput>(),
                                                   virtio::VirtioConsole::WindowSize{});
}

} // namespace

TEST_CASE("GuestLog lets a burst through, then counts what it holds back", "[unit][guest-log]")
{
    CapturedLog log;
    util::GuestLog guest_log("dev", 3, 200ms);
    for (int i = 0; i < 10; ++i) {
        guest_log.warn("event {}", i);
    }
    CHECK(log.lines() == std::vector<std::string>{"dev: event 0", "dev: event 1", "dev: event 2"});
    CHECK(guest_log.suppressed_total() == 7);
    std::this_thread::sleep_for(250ms);
    guest_log.warn("event {}", 10);
    REQUIRE(log.lines().size() == 4);
    CHECK(log.lines()[3] == "dev: event 10 (7 more not logged)");
}

TEST_CASE("GuestLog: a line below the level neither logs nor uses the budget", "[unit][guest-log]")
{
    CapturedLog log(spdlog::level::warn);
    util::GuestLog guest_log("dev", 2, 1h);
    for (int i = 0; i < 10; ++i) {
        guest_log.debug("noise {}", i);
    }
    guest_log.warn("first");
    guest_log.error("second");
    guest_log.warn("third");
    CHECK(log.lines() == std::vector<std::string>{"dev: first", "dev: second"});
    CHECK(guest_log.suppressed_total() == 1);
}

TEST_CASE("GuestLog is safe from several threads and keeps the budget", "[unit][guest-log]")
{
    CapturedLog log;
    util::GuestLog guest_log("dev", 5, 1h);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 500; ++i) {
                guest_log.warn("from a thread");
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    CHECK(log.lines().size() == 5);
    CHECK(guest_log.suppressed_total() == 1995);
}

TEST_CASE("pvpanic: a guest writing 'crash kernel loaded' in a loop does not flood the log",
          "[unit][guest-log][pvpanic]")
{
    CapturedLog log;
    devices::PvPanic device([] {});
    const std::array<uint8_t, 1> crash_loaded{devices::PvPanic::kCrashLoaded};
    for (int i = 0; i < kRepeats; ++i) {
        device.write(0, crash_loaded);
    }
    CHECK(log.count("crash kernel") >= 1);
    CHECK(log.lines().size() <= kBurst);
}

TEST_CASE("virtio-mmio: refused FEATURES_OK in a loop does not flood the log", "[unit][guest-log][virtio-mmio]")
{
    CapturedLog log;
    MmioDriver driver(make_console);
    for (int i = 0; i < kRepeats; ++i) {
        CHECK_FALSE(driver.negotiate(0)); // no VIRTIO_F_VERSION_1
    }
    CHECK(log.count("FEATURES_OK not set") >= 1);
    CHECK(log.lines().size() <= kBurst);
}

TEST_CASE("virtio-mmio: a bad queue address then a reset, in a loop, does not flood the log",
          "[unit][guest-log][virtio-mmio]")
{
    using namespace virtio::mmio;
    CapturedLog log(spdlog::level::warn);
    MmioDriver driver(make_console);
    for (int i = 0; i < kRepeats; ++i) {
        REQUIRE(driver.negotiate(virtio::kFVersion1));
        driver.setup_queue(0, 16);
        driver.set(kQueueDescLow, 0); // QueueReady is set: ignored; select and redo queue 1 instead
        driver.set(kQueueSel, 1);
        driver.set(kQueueNum, 16);
        driver.set(kQueueDescLow, 0x1001); // misaligned (2.7: 16-byte alignment)
        driver.set(kQueueReady, 1);
        driver.driver_ok();
        REQUIRE(driver.transport.needs_reset());
        driver.set(kStatus, 0); // a reset clears NEEDS_RESET, and used to clear the once-flag
    }
    CHECK(log.count("needs reset") >= 1);
    CHECK(log.lines().size() <= kBurst);
}

TEST_CASE("virtio-mmio: every guest-triggered debug line is rate-limited too", "[unit][guest-log][virtio-mmio]")
{
    using namespace virtio::mmio;
    CapturedLog log;
    MmioDriver driver(make_console);
    for (int i = 0; i < kRepeats; ++i) {
        std::array<uint8_t, 2> half{};
        driver.transport.read(kStatus, half);   // not 32 bits wide
        driver.transport.write(kStatus, half);
        driver.set(0x0fc, 1);                    // unknown register
        (void)driver.reg(kQueueNotify);          // write-only register
        driver.set(kStatus, kStatusFailed);      // the driver gives up
        driver.set(kStatus, 0);
    }
    CHECK(log.lines().size() <= kBurst);
}

TEST_CASE("virtio-blk: unaligned cache=none requests over the bounce limit, in a loop, do not flood the log",
          "[unit][guest-log][virtio-blk]")
{
    using namespace minivmm::test;
    TempImage file(16 * 1024 * 1024, "/var/tmp");
    std::unique_ptr<BlkHarness> h;
    try {
        h = BlkHarness::make(file.config(false, DiskCache::None), TestBackend::Synchronous, 256, 32);
    } catch (const ConfigError& e) {
        WARN("no O_DIRECT on /var/tmp, skipping: " << e.what());
        return;
    }
    REQUIRE(h);
    REQUIRE(h->device->image().direct());
    CapturedLog log;
    auto& d = h->driver;
    const auto header = d.alloc(16);
    d.memory.write_obj(header, virtio::BlkReqHeader{virtio::kBlkTIn, 0, 0});
    const uint32_t len = virtio::VirtioBlock::kMaxBounceBytes + 512;
    const auto data = d.alloc(len + 1, 4096) + 1; // unaligned
    const auto status = d.alloc(1);
    for (int i = 0; i < 100; ++i) {
        d.offer({{header, 16, false}, {data, len, true}, {status, 1, true}});
        REQUIRE(h->run_until(1).size() == 1);
        CHECK(h->status(BlkChain{0, data, len, status}) == virtio::kBlkSIoErr);
    }
    CHECK(log.count("bounce buffer") >= 1);
    CHECK(log.lines().size() <= kBurst);
}

TEST_CASE("platform devices: guest-triggered lines in a loop do not flood the log", "[unit][guest-log]")
{
    CapturedLog log;
    devices::Bus bus("PIO");
    auto acpi = std::make_shared<devices::AcpiPm>([] {}, [] {});
    bus.add(0x600, devices::AcpiPm::kPortCount, acpi, "ACPI PM");
    auto i8042 = std::make_shared<devices::I8042>([] {});
    bus.add(0x60, devices::I8042::kPortCount, i8042, "i8042");
    for (int i = 0; i < kRepeats; ++i) {
        const std::array<uint8_t, 1> sleep_s3{static_cast<uint8_t>(0x20 | (3 << 2))};
        bus.write(0x600, sleep_s3);
        const std::array<uint8_t, 1> unknown{static_cast<uint8_t>(0x80 + i % 16)};
        bus.write(0x64, unknown);
        const std::array<uint8_t, 1> byte{};
        bus.write(0x1000 + static_cast<uint64_t>(i), byte); // nothing there: a new address each time
    }
    CHECK(log.count("sleep type") >= 1);
    CHECK(log.lines().size() <= 3 * kBurst);
}
