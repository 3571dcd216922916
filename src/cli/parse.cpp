#include "cli/parse.hpp"


#include <fmt/format.h>

#include <charconv>

namespace minivmm::cli {
namespace {

// "a,b,,c" -> {"a", "b", "", "c"}; "" -> {""}.
std::vector<std::string_view> split(std::string_view text, char separator)
{
    std::vector<std::string_view> words;
    size_t start = 0;
    for (size_t pos = text.find(separator); pos != std::string_view::npos; pos = text.find(separator, start)) {
        words.push_back(text.substr(start, pos - start));
        start = pos + 1;
    }
    words.push_back(text.substr(start));
    return words;
}


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
    ConsoleConfig config;
    bool backend_seen = false;
    for (const auto word : split(text, ',')) {
        if (word == "serial" || word == "virtio") {
            config.device = word == "serial" ? ConsoleDevice::Serial : ConsoleDevice::Virtio;
            continue;
        }
        if (backend_seen) {
            return fmt::format("console '{}' names two outputs", text);
        }
        backend_seen = true;
        if (word == "stdio") {
            config.mode = ConsoleMode::Stdio;
        } else if (word == "stdout") {
            config.mode = ConsoleMode::Stdout;
        } else if (word == "none") {
            config.mode = ConsoleMode::None;
        } else if (word.starts_with("file:") && word.size() > 5) {
            config.mode = ConsoleMode::File;
            config.path = std::string(word.substr(5));
        } else {
            return fmt::format("console '{}': '{}' is not one of serial, virtio, stdio, stdout, none, file:PATH", text,
                               word);
        }
    }
    return config;
}

Parsed<DiskConfig> parse_disk(std::string_view text)
{
    DiskConfig disk;
    const auto words = split(text, ',');
    for (size_t i = 0; i < words.size(); ++i) {
        const auto word = words[i];
        const auto eq = word.find('=');
        if (eq == std::string_view::npos) {
            if (i == 0 && !word.empty()) { // a bare first word is the path
                disk.path = std::string(word);
                continue;
            }
            return fmt::format("disk '{}': '{}' is not KEY=VALUE", text, word);
        }
        const auto key = word.substr(0, eq);
        const auto value = word.substr(eq + 1);
        if (key == "path") {
            disk.path = std::string(value);
        } else if (key == "readonly" || key == "ro") {
            if (value != "on" && value != "off") {
                return fmt::format("disk '{}': readonly must be on or off, not '{}'", text, value);
            }
            disk.readonly = value == "on";
        } else if (key == "serial") {
            disk.serial = std::string(value);
        } else if (key == "cache") {
            if (value != "none" && value != "writeback") {
                return fmt::format("disk '{}': cache must be none or writeback, not '{}'", text, value);
            }
            disk.cache = value == "none" ? DiskCache::None : DiskCache::Writeback;
        } else if (key == "aio") {
            if (value == "auto") {
                disk.aio = DiskAio::Auto;
            } else if (value == "io_uring") {
                disk.aio = DiskAio::IoUring;
            } else if (value == "sync") {
                disk.aio = DiskAio::Sync;
            } else {
                return fmt::format("disk '{}': aio must be auto, io_uring or sync, not '{}'", text, value);
            }
        } else if (key == "format") {
            if (value == "raw") {
                disk.format = DiskFormat::Raw;
            } else if (value == "qcow2") {
                disk.format = DiskFormat::Qcow2;
            } else {
                return fmt::format("disk '{}': format must be raw or qcow2, not '{}'", text, value);
            }
        } else if (key == "snapshot") {
            if (value != "on" && value != "off") {
                return fmt::format("disk '{}': snapshot must be on or off, not '{}'", text, value);
            }
            disk.snapshot = value == "on";
        } else if (key == "lock") {
            if (value != "on" && value != "off") {
                return fmt::format("disk '{}': lock must be on or off, not '{}'", text, value);
            }
            disk.lock = value == "on";
        } else {
            return fmt::format("disk '{}': unknown key '{}' (path, readonly, serial, cache, aio, format, snapshot, lock)",
                               text, key);
        }
    }
    if (disk.path.empty()) {
        return fmt::format("disk '{}' has no path=FILE", text);
    }
    return disk;
}

Parsed<MacAddressBytes> parse_mac(std::string_view spec, std::string_view value)
{
    const auto mac = parse_mac_address(value);
    if (!mac) {
        return fmt::format("net '{}': MAC address '{}' is not six hex pairs like 52:54:00:12:34:56", spec, value);
    }
    const bool zero = *mac == MacAddressBytes{};
    if (zero || ((*mac)[0] & 1U) != 0) { // the group (multicast) bit
        return fmt::format("net '{}': MAC address '{}' is {}, not a unicast address", spec, value,
                           zero ? "all zeros" : "a multicast address");
    }
    return *mac;
}

Parsed<NetConfig> parse_net(std::string_view text)
{
    if (text == "user" || text.starts_with("user,")) {
        return parse_user_net(text);
    }
    NetConfig nic;
    bool tap_seen = false;
    for (const auto word : split(text, ',')) {
        const auto eq = word.find('=');
        if (eq == std::string_view::npos) {
            return fmt::format("net '{}': '{}' is not KEY=VALUE", text, word);
        }
        const auto key = word.substr(0, eq);
        const auto value = word.substr(eq + 1);
        if (key == "tap") {
            // IFNAMSIZ is 16 with the NUL; '/' and blanks cannot be in an interface name.
            if (value.empty() || value.size() > 15 || value.find_first_of("/ \t\n:") != std::string_view::npos) {
                return fmt::format("net '{}': '{}' is not an interface name (1-15 characters, no '/', ':' or "
                                   "blanks)", text, value);
            }
            nic.tap = std::string(value);
            tap_seen = true;
        } else if (key == "mac") {
            auto mac = parse_mac(text, value);
            if (const auto* message = std::get_if<std::string>(&mac)) {
                return *message;
            }
            nic.mac = std::get<MacAddressBytes>(mac);
        } else if (key == "create") {
            if (value != "on" && value != "off") {
                return fmt::format("net '{}': create must be on or off, not '{}'", text, value);
            }
            nic.create = value == "on";
        } else {
            return fmt::format("net '{}': unknown key '{}' (tap, mac, create)", text, key);
        }
    }
    if (!tap_seen) {
        return fmt::format("net '{}' has no tap=NAME", text);
    }
    return nic;
}

Parsed<ShareConfig> parse_share(std::string_view text)
{
    ShareConfig share;
    const auto words = split(text, ',');
    for (size_t i = 0; i < words.size(); ++i) {
        const auto word = words[i];
        const auto eq = word.find('=');
        if (eq == std::string_view::npos) {
            if (i == 0 && !word.empty()) { // a bare first word is the directory
                share.path = std::string(word);
                continue;
            }
            return fmt::format("share '{}': '{}' is not KEY=VALUE", text, word);
        }
        const auto key = word.substr(0, eq);
        const auto value = word.substr(eq + 1);
        if (key == "path") {
            share.path = std::string(value);
        } else if (key == "tag") {
            if (value.empty() || value.size() > kShareTagMax) {
                return fmt::format("share '{}': tag '{}' must be 1 to {} bytes", text, value, kShareTagMax);
            }
            share.tag = std::string(value);
        } else if (key == "readonly" || key == "ro") {
            if (value != "on" && value != "off") {
                return fmt::format("share '{}': readonly must be on or off, not '{}'", text, value);
            }
            share.readonly = value == "on";
        } else if (key == "cache") {
            if (value == "auto") {
                share.cache = ShareCache::Auto;
            } else if (value == "always") {
                share.cache = ShareCache::Always;
            } else if (value == "never") {
                share.cache = ShareCache::Never;
            } else {
                return fmt::format("share '{}': cache must be auto, always or never, not '{}'", text, value);
            }
        } else if (key == "uid" || key == "gid") {
            const auto range = parse_share_id_range(value);
            if (!range) {
                return fmt::format("share '{}': {} '{}' is not GUEST:HOST or GUEST:HOST:COUNT", text, key, value);
            }
            (key == "uid" ? share.uid_map : share.gid_map).push_back(*range);
        } else {
            return fmt::format("share '{}': unknown key '{}' (path, tag, readonly, cache, uid, gid)", text, key);
        }
    }
    if (share.path.empty()) {
        return fmt::format("share '{}' has no path=DIR", text);
    }
    return share;
}

} // namespace minivmm::cli
