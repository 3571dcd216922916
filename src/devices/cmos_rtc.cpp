#include "devices/cmos_rtc.hpp"

#include <algorithm>
#include <future>

namespace minivmm::devices {

namespace {

using std::chrono::floor;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// Register A (MC146818A "Register A").
constexpr uint8_t kAUpdateInProgress = 0x80; // UIP, read-only
constexpr uint8_t kADividerReset = 0x60;     // DV2-DV1 = 11: divider chain held in reset
constexpr uint8_t kARateMask = 0x0f;         // RS3-RS0
constexpr uint8_t kAWritable = 0x7f;
constexpr uint8_t kADefault = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate (PC BIOS)

// Register B.
constexpr uint8_t kBSet = 0x80;
constexpr uint8_t kBPeriodicEnable = 0x40; // PIE
constexpr uint8_t kBAlarmEnable = 0x20;    // AIE
constexpr uint8_t kBUpdateEnable = 0x10;   // UIE
constexpr uint8_t kBInterruptEnables = kBPeriodicEnable | kBAlarmEnable | kBUpdateEnable;
constexpr uint8_t kBBinary = 0x04; // DM
constexpr uint8_t kB24Hour = 0x02;
// What a PC BIOS leaves: 24-hour BCD. Linux's rtc-cmos refuses 12-hour mode.
constexpr uint8_t kBDefault = kB24Hour;

// Register C: the flags sit at the same bit positions as their enables in register B.
constexpr uint8_t kCInterruptRequest = 0x80; // IRQF
constexpr uint8_t kCPeriodic = 0x40;         // PF
constexpr uint8_t kCAlarm = 0x20;            // AF
constexpr uint8_t kCUpdateEnded = 0x10;      // UF

// Register D: VRT, the battery is always good. Bit 6 must read 0 (Linux checks it).
constexpr uint8_t kDValidRamAndTime = 0x80;

constexpr uint8_t kHourPm = 0x80;       // 12-hour mode
constexpr uint8_t kAlarmDontCare = 0xc0; // alarm bytes 0xc0-0xff match every value

// "UIP ... set ... 244 us before the update cycle" (MC146818A "Update Cycle").
constexpr nanoseconds kUipWindow = std::chrono::microseconds(244);

constexpr int64_t kTimeBaseHz = 32768;
constexpr int64_t kNanosPerSecond = 1'000'000'000;

// An alarm is checked once per update; after a clock jump of more than a day every
// possible alarm time has passed, so at most a day of updates is examined.
constexpr int64_t kMaxAlarmScan = 86400;

// Count of 32.768 kHz time-base cycles since the epoch (the divider chain's taps).
int64_t time_base_cycles(std::chrono::system_clock::time_point t)
{
    const auto whole = floor<seconds>(t);
    const int64_t sub = std::chrono::duration_cast<nanoseconds>(t - whole).count();
    return whole.time_since_epoch().count() * kTimeBaseHz + sub * kTimeBaseHz / kNanosPerSecond;
}

std::chrono::system_clock::time_point from_time_base_cycles(int64_t cycles)
{
    const int64_t whole = cycles / kTimeBaseHz;
    const int64_t rem = cycles % kTimeBaseHz;
    // Round up so the wake-up lands at or after the edge.
    const int64_t sub_ns = (rem * kNanosPerSecond + kTimeBaseHz - 1) / kTimeBaseHz;
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(seconds(whole) + nanoseconds(sub_ns)));
}

} // namespace

CmosRtc::CmosRtc(std::shared_ptr<IrqLine> irq, uint64_t ram_bytes, Clock clock, TimerMode timer,
                 std::function<void()> thread_start)
    : irq_(std::move(irq)), clock_(std::move(clock))
{
    cmos_[static_cast<size_t>(Register::StatusA)] = kADefault;
    cmos_[static_cast<size_t>(Register::StatusB)] = kBDefault;
    last_tick_ = clock_();

    if (ram_bytes != 0) {
        // The memory sizes a PC BIOS records (as QEMU's pc_cmos_init does): base memory in
        // KiB, memory above 1 MiB in KiB (capped), 16 MiB..4 GiB and above 4 GiB in 64 KiB.
        constexpr uint64_t kKiB = 1024;
        constexpr uint64_t kMiB = 1024 * kKiB;
        constexpr uint64_t kLowRamMax = 3 * 1024 * kMiB; // the MMIO hole starts at 3 GiB
        const uint64_t low = std::min(ram_bytes, kLowRamMax);
        const uint64_t high = ram_bytes - low;
        auto put = [this](size_t at, uint64_t value, int bytes) {
            for (int i = 0; i < bytes; ++i) {
                cmos_[at + static_cast<size_t>(i)] = static_cast<uint8_t>(value >> (8 * i));
            }
        };
        const uint64_t base_kib = std::min<uint64_t>(low / kKiB, 640);
        const uint64_t extended_kib = std::min<uint64_t>(low > kMiB ? (low - kMiB) / kKiB : 0, 0xffff);
        const uint64_t above_16m = std::min<uint64_t>(low > 16 * kMiB ? (low - 16 * kMiB) / (64 * kKiB) : 0, 0xffff);
        const uint64_t above_4g = std::min<uint64_t>(high / (64 * kKiB), 0xffffff);
        put(0x15, base_kib, 2);
        put(0x17, extended_kib, 2);
        put(0x30, extended_kib, 2);
        put(0x34, above_16m, 2);
        put(0x5b, above_4g, 3);
    }

    if (timer == TimerMode::Thread) {
        std::promise<void> started;
        auto result = started.get_future();
        timer_thread_ = std::thread([this, &started, thread_start = std::move(thread_start)] {
            try {
                if (thread_start) {
                    thread_start();
                }
            } catch (...) {
                started.set_exception(std::current_exception());
                return;
            }
            started.set_value();
            timer_loop();
        });
        try {
            result.get();
        } catch (...) {
            timer_thread_.join();
            throw;
        }
    }
}

CmosRtc::~CmosRtc()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    timer_wakeup_.notify_all();
    if (timer_thread_.joinable()) {
        timer_thread_.join();
    }
}

void CmosRtc::read(uint64_t offset, std::span<uint8_t> data)
{
    std::lock_guard lock(mutex_);
    const TimePoint now = clock_();
    tick_locked(now);
    for (size_t i = 0; i < data.size() && offset + i < kPortCount; ++i) {
        if (static_cast<Port>(offset + i) == Port::Data) {
            data[i] = read_register(index_, now);
        } else {
            data[i] = 0xff; // the index port is write-only on a PC
        }
    }
    update_irq();
}

void CmosRtc::write(uint64_t offset, std::span<const uint8_t> data)
{
    std::lock_guard lock(mutex_);
    const TimePoint now = clock_();
    tick_locked(now);
    for (size_t i = 0; i < data.size() && offset + i < kPortCount; ++i) {
        if (static_cast<Port>(offset + i) == Port::Data) {
            write_register(index_, data[i], now);
        } else {
            index_ = data[i] & 0x7f; // bit 7 gates NMI on a PC; there is no NMI to gate
        }
    }
    update_irq();
}

void CmosRtc::tick()
{
    std::lock_guard lock(mutex_);
    tick_locked(clock_());
    update_irq();
}

std::optional<std::chrono::system_clock::time_point> CmosRtc::next_deadline() const
{
    std::lock_guard lock(mutex_);
    return next_deadline_locked(clock_());
}

uint8_t CmosRtc::read_register(uint8_t reg, TimePoint now)
{
    switch (static_cast<Register>(reg)) {
    case Register::Seconds:
        return encode(current_time(now).second);
    case Register::Minutes:
        return encode(current_time(now).minute);
    case Register::Hours:
        return encode_hours(current_time(now).hour);
    case Register::DayOfWeek: {
        const std::chrono::weekday weekday(floor<std::chrono::days>(to_seconds(current_time(now))));
        return encode(weekday.c_encoding() + 1); // 1 = Sunday
    }
    case Register::DayOfMonth:
        return encode(current_time(now).day);
    case Register::Month:
        return encode(current_time(now).month);
    case Register::Year:
        return encode(static_cast<unsigned>((current_time(now).year % 100 + 100) % 100));
    case Register::Century:
        return encode(static_cast<unsigned>(std::clamp(current_time(now).year / 100, 0, 99)));
    case Register::StatusA: {
        uint8_t value = cmos_[reg] & kAWritable;
        // UIP: the last 244 us before each update, never while updates are inhibited.
        const auto since_second = now - floor<seconds>(now);
        if (clock_running() && since_second >= seconds(1) - kUipWindow) {
            value |= kAUpdateInProgress;
        }
        return value;
    }
    case Register::StatusC: {
        // Reading C clears every flag and with them IRQF and the interrupt request.
        const uint8_t enabled = flags_ & cmos_[static_cast<size_t>(Register::StatusB)] & kBInterruptEnables;
        const uint8_t value = flags_ | (enabled != 0 ? kCInterruptRequest : 0);
        flags_ = 0;
        timer_wakeup_.notify_all(); // disabled-until-read sources may be due again
        return value;
    }
    case Register::StatusD:
        return kDValidRamAndTime;
    case Register::SecondsAlarm:
    case Register::MinutesAlarm:
    case Register::HoursAlarm:
    case Register::StatusB:
        break;
    }
    return cmos_[reg];
}

void CmosRtc::write_register(uint8_t reg, uint8_t value, TimePoint now)
{
    DateTime time = current_time(now);
    switch (static_cast<Register>(reg)) {
    case Register::Seconds:
        time.second = std::min(decode(value), 59U);
        set_time(time, now);
        return;
    case Register::Minutes:
        time.minute = std::min(decode(value), 59U);
        set_time(time, now);
        return;
    case Register::Hours:
        time.hour = std::min(decode_hours(value), 23U);
        set_time(time, now);
        return;
    case Register::DayOfMonth:
        time.day = std::clamp(decode(value), 1U, 31U);
        set_time(time, now);
        return;
    case Register::Month:
        time.month = std::clamp(decode(value), 1U, 12U);
        set_time(time, now);
        return;
    case Register::Year:
        time.year = time.year / 100 * 100 + static_cast<int>(std::min(decode(value), 99U));
        set_time(time, now);
        return;
    case Register::Century:
        time.year = static_cast<int>(std::min(decode(value), 99U)) * 100 + time.year % 100;
        set_time(time, now);
        return;
    case Register::DayOfWeek:
        return; // derived from the date
    case Register::StatusA: {
        const bool was_running = clock_running();
        cmos_[reg] = value & kAWritable;
        on_run_state_change(was_running, now);
        timer_wakeup_.notify_all();
        return;
    }
    case Register::StatusB: {
        const bool was_running = clock_running();
        if ((value & kBSet) != 0) {
            value &= static_cast<uint8_t>(~kBUpdateEnable); // "SET ... clears UIE"
        }
        cmos_[reg] = value;
        on_run_state_change(was_running, now);
        timer_wakeup_.notify_all();
        return;
    }
    case Register::StatusC:
    case Register::StatusD:
        return; // read-only
    case Register::SecondsAlarm:
    case Register::MinutesAlarm:
    case Register::HoursAlarm:
        break;
    }
    cmos_[reg] = value;
}

bool CmosRtc::divider_running() const
{
    return (cmos_[static_cast<size_t>(Register::StatusA)] & kADividerReset) != kADividerReset;
}

bool CmosRtc::clock_running() const
{
    return divider_running() && (cmos_[static_cast<size_t>(Register::StatusB)] & kBSet) == 0;
}

CmosRtc::DateTime CmosRtc::current_time(TimePoint now) const
{
    if (frozen_) {
        return *frozen_;
    }
    return to_date_time(floor<seconds>(now) + offset_);
}

void CmosRtc::set_time(const DateTime& time, TimePoint now)
{
    if (frozen_) {
        // Stopped (SET or divider reset): the registers hold what the guest wrote, however
        // inconsistent mid-sequence; they are interpreted when the clock restarts.
        frozen_ = time;
        return;
    }
    offset_ = to_seconds(time) - floor<seconds>(now);
}

void CmosRtc::on_run_state_change(bool was_running, TimePoint now)
{
    const bool running = clock_running();
    if (was_running && !running) {
        frozen_ = to_date_time(floor<seconds>(now) + offset_);
    } else if (!was_running && running && frozen_) {
        offset_ = to_seconds(*frozen_) - floor<seconds>(now);
        frozen_.reset();
    }
}

uint8_t CmosRtc::encode(unsigned value) const
{
    value %= 100;
    if ((cmos_[static_cast<size_t>(Register::StatusB)] & kBBinary) != 0) {
        return static_cast<uint8_t>(value);
    }
    return static_cast<uint8_t>((value / 10) << 4 | value % 10);
}

unsigned CmosRtc::decode(uint8_t value) const
{
    if ((cmos_[static_cast<size_t>(Register::StatusB)] & kBBinary) != 0) {
        return value;
    }
    return (value >> 4) * 10U + (value & 0x0fU);
}

uint8_t CmosRtc::encode_hours(unsigned hour) const
{
    if ((cmos_[static_cast<size_t>(Register::StatusB)] & kB24Hour) != 0) {
        return encode(hour);
    }
    // 12-hour mode: 12, 1..11 with bit 7 set for PM ("Time, Calendar and Alarm Data Modes").
    const unsigned twelve = hour % 12 == 0 ? 12 : hour % 12;
    return static_cast<uint8_t>(encode(twelve) | (hour >= 12 ? kHourPm : 0));
}

unsigned CmosRtc::decode_hours(uint8_t value) const
{
    if ((cmos_[static_cast<size_t>(Register::StatusB)] & kB24Hour) != 0) {
        return decode(value);
    }
    const unsigned twelve = decode(static_cast<uint8_t>(value & ~kHourPm)) % 12;
    return twelve + ((value & kHourPm) != 0 ? 12 : 0);
}

bool CmosRtc::alarm_matches(const DateTime& time) const
{
    // Each alarm byte is compared with its time register in the current data mode;
    // 0xc0-0xff in an alarm byte is "don't care" ("Alarm Interrupt").
    auto matches = [this](Register alarm, uint8_t current) {
        const uint8_t value = cmos_[static_cast<size_t>(alarm)];
        return (value & kAlarmDontCare) == kAlarmDontCare || value == current;
    };
    return matches(Register::SecondsAlarm, encode(time.second)) && matches(Register::MinutesAlarm, encode(time.minute)) &&
           matches(Register::HoursAlarm, encode_hours(time.hour));
}

unsigned CmosRtc::periodic_shift() const
{
    // Rate select (table "Periodic Interrupt Rate", 32.768 kHz time base): RS 3..15 tap
    // the divider at 2^(RS-1) cycles; RS 1 and 2 repeat the rates of RS 8 and 9.
    const unsigned rate = cmos_[static_cast<size_t>(Register::StatusA)] & kARateMask;
    if (rate == 0) {
        return 0;
    }
    return rate <= 2 ? rate + 7 : rate - 1;
}

void CmosRtc::tick_locked(TimePoint now)
{
    if (now <= last_tick_) {
        last_tick_ = now; // the host clock went back: nothing happened in between
        return;
    }
    const unsigned shift = periodic_shift();
    if (shift != 0 && divider_running() &&
        (time_base_cycles(now) >> shift) > (time_base_cycles(last_tick_) >> shift)) {
        flags_ |= kCPeriodic; // PF is set whether or not PIE is (register C)
    }
    if (clock_running()) {
        const Seconds last_second = floor<seconds>(last_tick_);
        const int64_t updates = (floor<seconds>(now) - last_second).count();
        if (updates > 0) {
            flags_ |= kCUpdateEnded;
            for (int64_t k = std::max<int64_t>(1, updates - kMaxAlarmScan + 1); k <= updates; ++k) {
                if (alarm_matches(to_date_time(last_second + seconds(k) + offset_))) {
                    flags_ |= kCAlarm;
                    break;
                }
            }
        }
    }
    last_tick_ = now;
}

std::optional<CmosRtc::TimePoint> CmosRtc::next_deadline_locked(TimePoint now) const
{
    // Only sources that are enabled and not already flagged can change the IRQ line.
    const uint8_t waiting = cmos_[static_cast<size_t>(Register::StatusB)] & kBInterruptEnables &
                            static_cast<uint8_t>(~flags_);
    std::optional<TimePoint> deadline;
    if ((waiting & (kCUpdateEnded | kCAlarm)) != 0 && clock_running()) {
        deadline = floor<seconds>(now) + seconds(1);
    }
    const unsigned shift = periodic_shift();
    if ((waiting & kCPeriodic) != 0 && shift != 0 && divider_running()) {
        const int64_t next_edge = ((time_base_cycles(now) >> shift) + 1) << shift;
        const TimePoint edge = from_time_base_cycles(next_edge);
        deadline = deadline ? std::min(*deadline, edge) : edge;
    }
    return deadline;
}

void CmosRtc::update_irq()
{
    // IRQF = (PF & PIE) | (AF & AIE) | (UF & UIE): the line stays asserted until a read
    // of register C clears the flags ("Register C").
    const bool level = (flags_ & cmos_[static_cast<size_t>(Register::StatusB)] & kBInterruptEnables) != 0;
    if (level != irq_level_) {
        irq_level_ = level;
        irq_->set_level(level);
    }
}

void CmosRtc::timer_loop()
{
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        const TimePoint now = clock_();
        tick_locked(now);
        update_irq();
        if (const auto deadline = next_deadline_locked(now)) {
            timer_wakeup_.wait_for(lock, *deadline - now);
        } else {
            timer_wakeup_.wait(lock);
        }
    }
}

CmosRtc::DateTime CmosRtc::to_date_time(Seconds time)
{
    const auto days = floor<std::chrono::days>(time);
    const std::chrono::year_month_day date(days);
    const std::chrono::hh_mm_ss clock(time - days);
    return DateTime{static_cast<int>(date.year()),
                    static_cast<unsigned>(date.month()),
                    static_cast<unsigned>(date.day()),
                    static_cast<unsigned>(clock.hours().count()),
                    static_cast<unsigned>(clock.minutes().count()),
                    static_cast<unsigned>(clock.seconds().count())};
}

CmosRtc::Seconds CmosRtc::to_seconds(const DateTime& time)
{
    // Day overflow (31 February, written mid-sequence) rolls into the next month, as
    // [time.cal.ymd.nonmembers] defines for a year_month_day with a valid year and month.
    const std::chrono::sys_days first_of_month =
        std::chrono::year(time.year) / std::chrono::month(time.month) / std::chrono::day(1);
    return first_of_month + std::chrono::days(time.day - 1) + std::chrono::hours(time.hour) +
           std::chrono::minutes(time.minute) + seconds(time.second);
}

} // namespace minivmm::devices
