#include "cli/cli_output.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <string>

namespace minivmm::cli {

void setup_logging(spdlog::level::level_enum level)
{
    auto logger = spdlog::stderr_color_mt("minivmm");
    logger->set_pattern("minivmm: %^%l%$: %v");
    logger->set_level(level);
    spdlog::set_default_logger(logger);
}

void print_console_tail(const Console& console)
{
    const std::string tail = console.tail();
    std::fprintf(stderr, "minivmm: last %zu console lines:\n", Console::kTailLines);
    if (tail.empty()) {
        std::fputs("  (no console output)\n", stderr);
    }
    std::size_t pos = 0;
    while (pos < tail.size()) {
        const auto nl = tail.find('\n', pos);
        std::fprintf(stderr, "  | %.*s\n", static_cast<int>(nl - pos), tail.data() + pos);
        pos = nl + 1;
    }
}

} // namespace minivmm::cli
