#include <minivmm/log.hpp>

#include <spdlog/spdlog.h>

namespace minivmm {

void set_log_level(LogLevel level)
{
    switch (level) {
    case LogLevel::Trace:
        spdlog::set_level(spdlog::level::trace);
        return;
    case LogLevel::Debug:
        spdlog::set_level(spdlog::level::debug);
        return;
    case LogLevel::Info:
        spdlog::set_level(spdlog::level::info);
        return;
    case LogLevel::Warn:
        spdlog::set_level(spdlog::level::warn);
        return;
    case LogLevel::Error:
        spdlog::set_level(spdlog::level::err);
        return;
    case LogLevel::Off:
        spdlog::set_level(spdlog::level::off);
        return;
    }
}

} // namespace minivmm
