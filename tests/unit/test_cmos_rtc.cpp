#include "devices/cmos_rtc.hpp"

#include "devices/bus.hpp"
#include "arch/x86_64/layout.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

using namespace minivmm;
using namespace std::chrono_literals;
using std::chrono::sys_days;
using TimePoint = std::chrono::system_clock::time_point;

namespace {

struct RecordingIrq final : devices::IrqLine {
    std::vector<bool> changes;
    std::atomic<bool> level = false;
    void set_level(bool high) override
    {
        changes.push_back(high);
        level = high;
    }
};

// Register numbers and bits as Linux's include/linux/mc146818rtc.h names them.
constexpr uint8_t SECONDS = 0x00, SECONDS_ALARM = 0x01, MINUTES = 0x02, MINUTES_ALARM = 0x03, HOURS = 0x04,
                  HOURS_ALARM = 0x05, DAY_OF_WEEK = 0x06, DAY_OF_MONTH = 0x07, MONTH = 0x08, YEAR = 0x09, REG_A = 0x0a,
                  REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d, CENTURY = 0x32;
constexpr uint8_t UIP = 0x80, DIV_RESET2 = 0x70;
constexpr uint8_t SET = 0x80, PIE = 0x40, AIE = 0x20, UIE = 0x10, DM_BINARY = 0x04, H24 = 0x02;
constexpr uint8_t IRQF = 0x80, PF = 0x40, AF = 0x20, UF = 0x10;

// Saturday 2024-03-09 17:05:42.5 UTC.
const TimePoint kStart = sys_days(std::chrono::year(2024) / 3 / 9) + 17h + 5min + 42s + 500ms;

struct Rtc {
    TimePoint now = kStart;
    std::shared_ptr<RecordingIrq> irq = std::make_shared<RecordingIrq>();
    devices::CmosRtc rtc;

    explicit Rtc(uint64_t ram = 0) : rtc(irq, ram, [this] { return now; }, devices::CmosRtc::TimerMode::Manual) {}

    uint8_t get(uint8_t reg)
    {
        const uint8_t index = reg;
        rtc.write(0, std::span<const uint8_t>(&index, 1));
        std::array<uint8_t, 1> value{};
        rtc.read(1, value);
        return value[0];
    }
    void set(uint8_t reg, uint8_t value)
    {
        const std::array<uint8_t, 2> index_and_data{reg, value};
        rtc.write(0, index_and_data); // a 16-bit out to 0x70: index, then data
    }
};

} // namespace

TEST_CASE("cmos rtc: time in BCD and binary", "[unit][rtc]")
{
    Rtc r;
    CHECK(r.get(REG_B) == H24); // 24-hour BCD, as Linux's rtc-cmos requires
    CHECK(r.get(SECONDS) == 0x42);
    CHECK(r.get(MINUTES) == 0x05);
    CHECK(r.get(HOURS) == 0x17);
    CHECK(r.get(DAY_OF_WEEK) == 0x07); // Saturday; 1 = Sunday
    CHECK(r.get(DAY_OF_MONTH) == 0x09);
    CHECK(r.get(MONTH) == 0x03);
    CHECK(r.get(YEAR) == 0x24);
    CHECK(r.get(CENTURY) == 0x20);

    r.set(REG_B, H24 | DM_BINARY);
    CHECK(r.get(SECONDS) == 42);
    CHECK(r.get(MINUTES) == 5);
    CHECK(r.get(HOURS) == 17);
    CHECK(r.get(YEAR) == 24);
    CHECK(r.get(CENTURY) == 20);

    r.now += 20s; // time follows the host clock
    CHECK(r.get(SECONDS) == 2);
    CHECK(r.get(MINUTES) == 6);
}

TEST_CASE("cmos rtc: 12-hour mode with the PM bit", "[unit][rtc]")
{
    Rtc r;
    r.set(REG_B, 0); // 12-hour BCD
    CHECK(r.get(HOURS) == (0x80 | 0x05));
    r.now = sys_days(std::chrono::year(2024) / 3 / 9) + 30min;
    CHECK(r.get(HOURS) == 0x12); // 12 AM
    r.now += 12h;
    CHECK(r.get(HOURS) == (0x80 | 0x12)); // 12 PM
    r.set(REG_B, DM_BINARY);
    CHECK(r.get(HOURS) == (0x80 | 12));
    // Writing a 12-hour value: 11 PM.
    r.set(HOURS, 0x80 | 11);
    r.set(REG_B, DM_BINARY | H24);
    CHECK(r.get(HOURS) == 23);
}

TEST_CASE("cmos rtc: century register", "[unit][rtc]")
{
    Rtc r;
    r.now = sys_days(std::chrono::year(1999) / 12 / 31) + 23h + 59min + 59s;
    CHECK(r.get(YEAR) == 0x99);
    CHECK(r.get(CENTURY) == 0x19);
    r.now += 1s;
    CHECK(r.get(YEAR) == 0x00);
    CHECK(r.get(CENTURY) == 0x20);
    CHECK(r.get(MONTH) == 0x01);
}

TEST_CASE("cmos rtc: SET freezes updates and guest-written time persists as an offset", "[unit][rtc]")
{
    Rtc r;
    // Linux's mc146818_set_time: SET, divider reset, write the fields, restore B, then A.
    const uint8_t save_control = r.get(REG_B);
    r.set(REG_B, save_control | SET);
    const uint8_t save_freq = r.get(REG_A);
    r.set(REG_A, save_freq | DIV_RESET2);
    r.now += 5s;
    CHECK(r.get(SECONDS) == 0x42); // frozen
    CHECK((r.get(REG_A) & UIP) == 0);
    r.set(YEAR, 0x30);
    r.set(MONTH, 0x02);
    r.set(DAY_OF_MONTH, 0x31); // inconsistent mid-sequence: 31 February
    r.set(MONTH, 0x12);
    r.set(HOURS, 0x23);
    r.set(MINUTES, 0x59);
    r.set(SECONDS, 0x50);
    r.set(CENTURY, 0x20);
    r.now += 3s;
    CHECK(r.get(SECONDS) == 0x50);
    r.set(REG_B, save_control);
    r.now += 3s;
    CHECK(r.get(SECONDS) == 0x50); // still frozen: the divider is in reset
    r.set(REG_A, save_freq);
    CHECK(r.get(SECONDS) == 0x50);
    r.now += 15s;
    CHECK(r.get(SECONDS) == 0x05);
    CHECK(r.get(MINUTES) == 0x00);
    CHECK(r.get(HOURS) == 0x00);
    CHECK(r.get(DAY_OF_MONTH) == 0x01);
    CHECK(r.get(MONTH) == 0x01);
    CHECK(r.get(YEAR) == 0x31);
    CHECK(r.get(CENTURY) == 0x20);
    r.now += 24h;
    CHECK(r.get(DAY_OF_MONTH) == 0x02);

    SECTION("a write without SET applies at once")
    {
        r.set(MINUTES, 0x30);
        CHECK(r.get(MINUTES) == 0x30);
        r.now += 60s;
        CHECK(r.get(MINUTES) == 0x31);
        CHECK(r.get(DAY_OF_MONTH) == 0x02);
    }
    SECTION("setting SET clears UIE")
    {
        r.set(REG_B, H24 | UIE);
        r.set(REG_B, H24 | UIE | SET);
        CHECK(r.get(REG_B) == (H24 | SET));
    }
}

TEST_CASE("cmos rtc: registers C and D", "[unit][rtc]")
{
    Rtc r;
    r.set(REG_A, 0x20); // periodic rate 0: PF would be set too (it is, whatever PIE says)
    CHECK(r.get(REG_D) == 0x80); // VRT; bit 6 clear or Linux calls the RTC inaccessible
    CHECK(r.get(REG_C) == 0);
    r.now += 1s;
    CHECK(r.get(REG_C) == UF); // flags are set even when not enabled, without IRQF
    CHECK(r.get(REG_C) == 0);  // and the read cleared them
    CHECK(r.irq->changes.empty());

    r.set(REG_B, H24 | UIE);
    r.now += 1s;
    r.rtc.tick();
    CHECK(r.irq->level);
    CHECK(r.get(REG_C) == (IRQF | UF));
    CHECK_FALSE(r.irq->level);
    CHECK(r.irq->changes == std::vector<bool>{true, false});
    r.set(REG_C, 0xff); // read-only
    r.set(REG_D, 0x00);
    CHECK(r.get(REG_C) == 0);
    CHECK(r.get(REG_D) == 0x80);
}

TEST_CASE("cmos rtc: NVRAM and the index register", "[unit][rtc]")
{
    Rtc r;
    for (unsigned i = 0x0e; i < devices::CmosRtc::kCmosSize; ++i) {
        if (i != CENTURY) {
            r.set(static_cast<uint8_t>(i), static_cast<uint8_t>(i ^ 0x5a));
        }
    }
    for (unsigned i = 0x0e; i < devices::CmosRtc::kCmosSize; ++i) {
        if (i != CENTURY) {
            CHECK(r.get(static_cast<uint8_t>(i)) == static_cast<uint8_t>(i ^ 0x5a));
        }
    }
    // Bit 7 of the index is the NMI mask: 0x8f addresses 0x0f.
    r.set(0x80 | 0x0f, 0x33);
    CHECK(r.get(0x0f) == 0x33);
    CHECK(r.get(0x80 | 0x0f) == 0x33);
    // The index port reads as an open bus.
    std::array<uint8_t, 1> index{};
    r.rtc.read(0, index);
    CHECK(index[0] == 0xff);
}

TEST_CASE("cmos rtc: BIOS memory size bytes", "[unit][rtc]")
{
    Rtc r(5ULL << 30); // 3 GiB below the hole, 2 GiB above 4 GiB
    CHECK((r.get(0x15) | r.get(0x16) << 8) == 640);
    CHECK((r.get(0x17) | r.get(0x18) << 8) == 0xffff);
    CHECK((r.get(0x30) | r.get(0x31) << 8) == 0xffff);
    CHECK((r.get(0x34) | r.get(0x35) << 8) == ((3LL << 30) - (16LL << 20)) / 65536);
    CHECK((r.get(0x5b) | r.get(0x5c) << 8 | r.get(0x5d) << 16) == (2LL << 30) / 65536);
    Rtc none;
    CHECK(none.get(0x15) == 0);
}

TEST_CASE("cmos rtc: UIP in the last 244 us before each second", "[unit][rtc]")
{
    Rtc r;
    const TimePoint second = std::chrono::floor<std::chrono::seconds>(kStart) + 1s;
    r.now = second - 300us;
    CHECK((r.get(REG_A) & UIP) == 0);
    r.now = second - 200us;
    CHECK((r.get(REG_A) & UIP) != 0);
    CHECK(r.get(SECONDS) == 0x42); // not yet updated
    r.now = second - 1ns;
    CHECK((r.get(REG_A) & UIP) != 0);
    r.now = second;
    CHECK((r.get(REG_A) & UIP) == 0);
    CHECK(r.get(SECONDS) == 0x43);
    CHECK((r.get(REG_A) & 0x7f) == 0x26); // divider and rate as a BIOS leaves them

    r.now = second + 1s - 100us;
    r.set(REG_B, H24 | SET);
    CHECK((r.get(REG_A) & UIP) == 0); // no updates, no UIP
}

TEST_CASE("cmos rtc: update-ended interrupt", "[unit][rtc]")
{
    Rtc r;
    r.set(REG_A, 0x20); // periodic rate 0: PF would be set too (it is, whatever PIE says)
    CHECK_FALSE(r.rtc.next_deadline());
    r.set(REG_B, H24 | UIE);
    const TimePoint next_second = std::chrono::floor<std::chrono::seconds>(kStart) + 1s;
    CHECK(r.rtc.next_deadline() == next_second);
    r.now = next_second - 1ms;
    r.rtc.tick();
    CHECK_FALSE(r.irq->level);
    r.now = next_second;
    r.rtc.tick();
    CHECK(r.irq->level);
    CHECK_FALSE(r.rtc.next_deadline()); // nothing more to do until C is read
    CHECK(r.get(REG_C) == (IRQF | UF));
    CHECK_FALSE(r.irq->level);
    CHECK(r.rtc.next_deadline() == next_second + 1s);
}

TEST_CASE("cmos rtc: alarm interrupt", "[unit][rtc]")
{
    Rtc r;
    r.set(REG_A, 0x20); // periodic rate 0: PF would be set too (it is, whatever PIE says)
    r.set(HOURS_ALARM, 0x17);
    r.set(MINUTES_ALARM, 0x05);
    r.set(SECONDS_ALARM, 0x45);
    r.set(REG_B, H24 | AIE);
    r.now += 2s; // 17:05:44.5
    r.rtc.tick();
    CHECK_FALSE(r.irq->level);
    CHECK(r.get(REG_C) == UF);
    r.now += 1s; // 17:05:45.5
    r.rtc.tick();
    CHECK(r.irq->level);
    CHECK(r.get(REG_C) == (IRQF | AF | UF));
    CHECK_FALSE(r.irq->level);
    r.now += 1s;
    CHECK(r.get(REG_C) == UF); // 17:05:46: no match

    SECTION("don't-care bytes match every second")
    {
        r.set(HOURS_ALARM, 0xc0);
        r.set(MINUTES_ALARM, 0xff);
        r.set(SECONDS_ALARM, 0xc0);
        r.now += 1s;
        CHECK(r.get(REG_C) == (IRQF | AF | UF));
    }
    SECTION("an alarm passed during a jump still fires")
    {
        r.now += 24h;
        CHECK(r.get(REG_C) == (IRQF | AF | UF));
    }
}

TEST_CASE("cmos rtc: periodic interrupt", "[unit][rtc]")
{
    Rtc r;
    // PF is set at the default 1024 Hz whether or not PIE is; without PIE, no IRQF.
    r.now += 1ms;
    CHECK(r.get(REG_C) == PF);
    CHECK(r.irq->changes.empty());
    r.now = std::chrono::floor<std::chrono::seconds>(kStart) + 100ms;
    (void)r.get(REG_C);
    r.set(REG_A, 0x20 | 0x0f); // 2 Hz: an edge every 500 ms
    r.set(REG_B, H24 | PIE);
    const TimePoint edge = std::chrono::floor<std::chrono::seconds>(kStart) + 500ms;
    CHECK(r.rtc.next_deadline() == edge);
    r.now += 300ms;
    r.rtc.tick();
    CHECK_FALSE(r.irq->level);
    r.now = edge;
    r.rtc.tick();
    CHECK(r.irq->level);
    CHECK(r.get(REG_C) == (IRQF | PF));
    CHECK_FALSE(r.irq->level);
    r.set(REG_A, 0x20); // rate 0: off
    r.now += 2s;
    CHECK(r.get(REG_C) == UF);
    CHECK_FALSE(r.rtc.next_deadline());
}

TEST_CASE("cmos rtc: the timer thread raises the IRQ without guest accesses", "[unit][rtc]")
{
    auto irq = std::make_shared<RecordingIrq>();
    auto rtc = std::make_shared<devices::CmosRtc>(irq);
    devices::Bus bus("pio");
    bus.add(arch::kRtcPort, devices::CmosRtc::kPortCount, rtc, "rtc");
    auto set = [&](uint8_t reg, uint8_t value) {
        const std::array<uint8_t, 1> index{reg};
        const std::array<uint8_t, 1> data{value};
        bus.write(arch::kRtcPort, index);
        bus.write(arch::kRtcPort + 1, data);
    };
    set(REG_A, 0x26); // 1024 Hz
    set(REG_B, H24 | PIE);
    for (int i = 0; i < 1000 && !irq->level; ++i) {
        std::this_thread::sleep_for(1ms);
    }
    CHECK(irq->level);
    set(REG_B, H24);
}
