#include "cli/parse.hpp"

#include <fmt/format.h>

#include <charconv>

namespace minivmm::cli {
namespace {

// Splits "123abc" into 123 and "abc"; nullopt-like error string on no digits or overflow.
Parsed<std::pair<uint64_t, std::string_view>> split_number(std::string_view text, const char* what)
{
    uint64_t value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec == std::errc::result_out_of_range) {
        return fmt::format("{} '{}' is too large", what, text);
    }
    if (ec != std::errc() || ptr == text.data()) {
        return fmt::format("{} '{}' is not a number with an optional unit", what, text);
    }
    return std::pair{value, std::string_view(ptr, static_cast<size_t>(end - ptr))};
}

} // namespace

Parsed<uint64_t> parse_memory_size(std::string_view text)
{
    auto split = split_number(text, "memory size");
    if (auto* error = std::get_if<std::string>(&split)) {
        return *error;
    }
    auto [value, unit] = std::get<0>(split);
    unsigned shift = 0;
    if (unit.empty() || unit == "M" || unit == "m" || unit == "MiB" || unit == "MB") {
        shift = 20;
    } else if (unit == "K" || unit == "k" || unit == "KiB" || unit == "KB") {
        shift = 10;
    } else if (unit == "G" || unit == "g" || unit == "GiB" || unit == "GB") {
        shift = 30;
    } else if (unit == "T" || unit == "t" || unit == "TiB" || unit == "TB") {
        shift = 40;
    } else {
        return fmt::format("memory size '{}' has an unknown unit '{}' (use K, M, G or T)", text, unit);
    }
    if (value > (UINT64_MAX >> shift)) {
        return fmt::format("memory size '{}' is too large", text);
    }
    return value << shift;
}

Parsed<std::chrono::milliseconds> parse_duration(std::string_view text)
{
    auto split = split_number(text, "duration");
    if (auto* error = std::get_if<std::string>(&split)) {
        return *error;
    }
    auto [value, unit] = std::get<0>(split);
    uint64_t ms_per_unit = 0;
    if (unit.empty() || unit == "s") {
        ms_per_unit = 1000;
    } else if (unit == "ms") {
        ms_per_unit = 1;
    } else if (unit == "m" || unit == "min") {
        ms_per_unit = 60'000;
    } else if (unit == "h") {
        ms_per_unit = 3'600'000;
    } else {
        return fmt::format("duration '{}' has an unknown unit '{}' (use ms, s, m or h)", text, unit);
    }
    uint64_t ms = 0;
    if (__builtin_mul_overflow(value, ms_per_unit, &ms) || ms > static_cast<uint64_t>(INT64_MAX)) {
        return fmt::format("duration '{}' is too large", text);
    }
    if (ms == 0) {
        return fmt::format("duration '{}' must be positive", text);
    }
    return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

Parsed<ConsoleConfig> parse_console(std::string_view text)
{
    if (text == "stdio") {
        return ConsoleConfig{ConsoleMode::Stdio, {}};
    }
    if (text == "stdout") {
        return ConsoleConfig{ConsoleMode::Stdout, {}};
    }
    if (text == "none") {
        return ConsoleConfig{ConsoleMode::None, {}};
    }
    if (text.starts_with("file:") && text.size() > 5) {
        return ConsoleConfig{ConsoleMode::File, std::string(text.substr(5))};
    }
    return fmt::format("console '{}' is not one of stdio, stdout, none, file:PATH", text);
}

} // namespace minivmm::cli
