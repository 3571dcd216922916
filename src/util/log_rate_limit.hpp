// Rate limiting for log lines a guest can trigger (STYLE.md practice 10): at most `burst`
// lines per `period`; the lines held back are counted and reported by the next one let through.
#pragma once

#include <chrono>
#include <cstdint>

namespace minivmm::util {

class LogRateLimit final {
public:
    using Clock = std::chrono::steady_clock;

    explicit LogRateLimit(unsigned burst = 10, Clock::duration period = std::chrono::seconds(5))
        : burst_(burst), period_(period)
    {
    }

    // Whether a line may be logged at `now`. When it may, `suppressed` is set to the number
    // of lines held back since the previous one that was let through.
    [[nodiscard]] bool allow(Clock::time_point now, uint64_t& suppressed)
    {
        if (now - window_start_ >= period_ || now < window_start_) {
            window_start_ = now;
            used_ = 0;
        }
        if (used_ >= burst_) {
            ++held_back_;
            return false;
        }
        ++used_;
        suppressed = held_back_;
        held_back_ = 0;
        return true;
    }
    [[nodiscard]] bool allow(uint64_t& suppressed) { return allow(Clock::now(), suppressed); }

private:
    unsigned burst_;
    Clock::duration period_;
    Clock::time_point window_start_{};
    unsigned used_ = 0;
    uint64_t held_back_ = 0;
};

} // namespace minivmm::util
