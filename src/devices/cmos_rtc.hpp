// The MC146818A real-time clock and its CMOS RAM, at ports 0x70 (index) / 0x71 (data),
// IRQ 8 (Motorola MC146818A datasheet: "Address Map", "Time, Calendar and Alarm
// Locations", "Registers A-D", "Interrupts").
//
// The time is the host's UTC clock plus an offset the guest sets by writing the time
// registers (with SET in register B, as Linux does, or without). It is computed on each
// read, in BCD or binary and 12- or 24-hour form as register B asks at that moment. UIP
// is set during the last 244 us of each host second, and the update happens at the
// boundary. UF, AF and PF are evaluated from the clock on every register access and by
// tick(); with TimerMode::Thread an internal thread calls tick() when an enabled
// interrupt is due, so the IRQ is raised without guest polling.
// Left out: daylight saving (DSE is stored, never acted on), the square-wave output
// (SQWE is stored), time bases other than 32.768 kHz (divider values other than "reset"
// run the clock normally), the day-of-week counter (derived from the date; writes to it
// are ignored), sub-second phase of guest-set time (the seconds tick with the host's).
// Host memory a guest can make it hold: none beyond its fixed state (the 128-byte CMOS
// array and registers, sizeof(CmosRtc)); tested in tests/unit/test_platform_bounds.cpp.
#pragma once

#include "devices/bus_device.hpp"

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

namespace minivmm::devices {

class CmosRtc final : public BusDevice {
public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;

    // Registered at arch::kRtcPort.
    static constexpr uint64_t kPortCount = 2;
    static constexpr size_t kCmosSize = 128;

    enum class Port : uint8_t {
        Index = 0, // bit 7 is the PC's NMI mask, ignored here
        Data = 1,
    };

    // CMOS locations (MC146818A "Address Map"; century: the PC/ACPI FADT convention).
    enum class Register : uint8_t {
        Seconds = 0x00,
        SecondsAlarm = 0x01,
        Minutes = 0x02,
        MinutesAlarm = 0x03,
        Hours = 0x04,
        HoursAlarm = 0x05,
        DayOfWeek = 0x06,
        DayOfMonth = 0x07,
        Month = 0x08,
        Year = 0x09,
        StatusA = 0x0a,
        StatusB = 0x0b,
        StatusC = 0x0c,
        StatusD = 0x0d,
        Century = 0x32,
    };

    enum class TimerMode {
        Manual, // interrupts advance only on register accesses and tick() (tests)
        Thread, // an internal thread ticks when an enabled interrupt is due
    };

    // `ram_bytes`, when nonzero, is reported in the BIOS memory-size bytes (0x15-0x18,
    // 0x30-0x31, 0x34-0x35, 0x5b-0x5d), split around the 3 GiB..4 GiB hole. With
    // TimerMode::Thread, the timer thread runs `thread_start` first (its seccomp filter); an
    // exception from it is rethrown here.
    explicit CmosRtc(std::shared_ptr<IrqLine> irq, uint64_t ram_bytes = 0,
                     Clock clock = [] { return std::chrono::system_clock::now(); },
                     TimerMode timer = TimerMode::Thread, std::function<void()> thread_start = {});
    ~CmosRtc() override;
    CmosRtc(const CmosRtc&) = delete;
    CmosRtc& operator=(const CmosRtc&) = delete;

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

    // Evaluate the interrupt flags at clock() and update the IRQ line.
    void tick();
    // When tick() next has something to do for an enabled interrupt, in the clock's time;
    // nullopt while no enabled interrupt can still become pending.
    [[nodiscard]] std::optional<std::chrono::system_clock::time_point> next_deadline() const;

private:
    using TimePoint = std::chrono::system_clock::time_point;
    using Seconds = std::chrono::sys_seconds;

    // Broken-down UTC time as the time registers hold it, in binary and 24-hour form.
    struct DateTime {
        int year = 2000;
        unsigned month = 1; // 1-12
        unsigned day = 1;   // 1-31
        unsigned hour = 0;  // 0-23
        unsigned minute = 0;
        unsigned second = 0;
    };

    [[nodiscard]] uint8_t read_register(uint8_t reg, TimePoint now);
    void write_register(uint8_t reg, uint8_t value, TimePoint now);

    [[nodiscard]] bool clock_running() const;   // not SET, divider not in reset
    [[nodiscard]] bool divider_running() const; // divider not in reset
    [[nodiscard]] DateTime current_time(TimePoint now) const;
    void set_time(const DateTime& time, TimePoint now);
    void on_run_state_change(bool was_running, TimePoint now);

    [[nodiscard]] uint8_t encode(unsigned value) const;
    [[nodiscard]] unsigned decode(uint8_t value) const;
    [[nodiscard]] uint8_t encode_hours(unsigned hour) const;
    [[nodiscard]] unsigned decode_hours(uint8_t value) const;
    [[nodiscard]] bool alarm_matches(const DateTime& time) const;
    [[nodiscard]] unsigned periodic_shift() const; // 0: periodic interrupt off

    void tick_locked(TimePoint now);
    [[nodiscard]] std::optional<TimePoint> next_deadline_locked(TimePoint now) const;
    void update_irq();
    void timer_loop();

    static DateTime to_date_time(Seconds time);
    static Seconds to_seconds(const DateTime& time);

    const std::shared_ptr<IrqLine> irq_;
    const Clock clock_;

    mutable std::mutex mutex_;
    std::array<uint8_t, kCmosSize> cmos_{}; // NVRAM, alarms, registers A and B
    uint8_t index_ = 0;
    std::chrono::seconds offset_{0};  // guest time minus host time, while running
    std::optional<DateTime> frozen_;  // the time registers while the clock is stopped
    uint8_t flags_ = 0;               // register C: PF, AF, UF
    TimePoint last_tick_;
    bool irq_level_ = false;

    std::condition_variable timer_wakeup_;
    bool stopping_ = false;
    std::thread timer_thread_; // last: starts once everything above is initialised
};

} // namespace minivmm::devices
