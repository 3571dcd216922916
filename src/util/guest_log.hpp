// The one path for log lines a guest can trigger (docs/architecture.md "Guest-triggered log
// lines"; STYLE.md practice 10). A guest that repeats what makes a device log (a refused
// feature set, a bad ring address, an unaligned request, a pvpanic write...) must not flood
// the host's logs, whatever the log level: each device, transport or platform device owns one
// GuestLog named after itself, and every line it logs on the guest's account goes through it.
// At most kBurst lines per kPeriod get through (per GuestLog, all levels together); the lines
// held back are counted, and the next line let through says how many there were.
//
//     util::GuestLog log_{"virtio-blk vda"};
//     log_.warn("unaligned cache=none request of {} bytes ...", len);
//
// A line below the logger's level costs one comparison and uses none of the budget. Safe from
// any thread (vCPU threads and the I/O thread may share one GuestLog).
#pragma once

#include "util/log_rate_limit.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>

namespace minivmm::util {

class GuestLog final {
public:
    static constexpr unsigned kBurst = 10;
    static constexpr LogRateLimit::Clock::duration kPeriod = std::chrono::seconds(5);

    explicit GuestLog(std::string source, unsigned burst = kBurst, LogRateLimit::Clock::duration period = kPeriod)
        : source_(std::move(source)), limit_(burst, period)
    {
    }
    GuestLog(const GuestLog&) = delete;
    GuestLog& operator=(const GuestLog&) = delete;

    template <typename... Args>
    void log(spdlog::level::level_enum level, fmt::format_string<Args...> format, Args&&... args)
    {
        if (!spdlog::should_log(level)) {
            return;
        }
        uint64_t suppressed = 0;
        if (admit(suppressed)) {
            emit(level, fmt::format(format, std::forward<Args>(args)...), suppressed);
        }
    }
    template <typename... Args>
    void error(fmt::format_string<Args...> format, Args&&... args)
    {
        log(spdlog::level::err, format, std::forward<Args>(args)...);
    }
    template <typename... Args>
    void warn(fmt::format_string<Args...> format, Args&&... args)
    {
        log(spdlog::level::warn, format, std::forward<Args>(args)...);
    }
    template <typename... Args>
    void info(fmt::format_string<Args...> format, Args&&... args)
    {
        log(spdlog::level::info, format, std::forward<Args>(args)...);
    }
    template <typename... Args>
    void debug(fmt::format_string<Args...> format, Args&&... args)
    {
        log(spdlog::level::debug, format, std::forward<Args>(args)...);
    }

    [[nodiscard]] const std::string& source() const { return source_; }
    // Lines held back so far (for tests and diagnostics).
    [[nodiscard]] uint64_t suppressed_total() const
    {
        std::lock_guard lock(mutex_);
        return suppressed_total_;
    }

private:
    [[nodiscard]] bool admit(uint64_t& suppressed)
    {
        std::lock_guard lock(mutex_);
        if (limit_.allow(suppressed)) {
            return true;
        }
        ++suppressed_total_;
        return false;
    }
    void emit(spdlog::level::level_enum level, const std::string& message, uint64_t suppressed) const
    {
        if (suppressed == 0) {
            spdlog::log(level, "{}: {}", source_, message);
        } else {
            spdlog::log(level, "{}: {} ({} more not logged)", source_, message, suppressed);
        }
    }

    const std::string source_;
    mutable std::mutex mutex_;
    LogRateLimit limit_;
    uint64_t suppressed_total_ = 0;
};

} // namespace minivmm::util
