#include <minivmm/vm_config.hpp>

#include "arch/x86_64/layout.hpp"
#include "console/user_regex.hpp"
#include "backends/fs/id_map.hpp"
#include "backends/net/mac_address.hpp"
#include "vmm/host_memory.hpp"
#include "vmm/user_net_config.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <regex>
#include <system_error>

namespace minivmm {
namespace {

// The most vCPUs the platform tables describe: xAPIC IDs are 8 bits, 255 is broadcast,
// and the IOAPIC takes the ID after the last vCPU.
constexpr unsigned kMaxCpus = 254;
// expect() must see at least a screenful of recent output.
constexpr std::size_t kMinCaptureLimit = 4096;

void check_input_file(std::vector<std::string>& problems, const char* what, const std::filesystem::path& path)
{
    if (path.empty()) {
        problems.push_back(fmt::format("no {} given", what));
        return;
    }
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(status)) {
        problems.push_back(fmt::format("{} '{}' does not exist", what, path.string()));
    } else if (!std::filesystem::is_regular_file(status)) {
        problems.push_back(fmt::format("{} '{}' is not a regular file", what, path.string()));
    } else if (::access(path.c_str(), R_OK) != 0) {
        problems.push_back(fmt::format("{} '{}' is not readable", what, path.string()));
    } else if (std::filesystem::file_size(path, ec) == 0 && !ec) {
        problems.push_back(fmt::format("{} '{}' is empty", what, path.string()));
    }
}

void check_output_file(std::vector<std::string>& problems, const char* what, const std::filesystem::path& path)
{
    if (path.empty()) {
        problems.push_back(fmt::format("{} path is empty", what));
        return;
    }
    const auto parent = path.has_parent_path() ? path.parent_path() : ".";
    std::error_code ec;
    if (!std::filesystem::is_directory(parent, ec)) {
        problems.push_back(fmt::format("{} '{}': directory '{}' does not exist", what, path.string(), parent.string()));
    }
}

void check_pattern(std::vector<std::string>& problems, const char* what, const std::optional<std::string>& pattern)
{
    if (!pattern) {
        return;
    }
    if (pattern->empty()) {
        problems.push_back(fmt::format("{} pattern is empty (it would match every line)", what));
        return;
    }
    try {
        [[maybe_unused]] const std::regex re = console::compile_user_regex(*pattern);
    } catch (const std::regex_error& e) {
        problems.push_back(fmt::format("{} pattern '{}' is not a valid regular expression: {}", what, *pattern, e.what()));
    }
}

void check_disk(std::vector<std::string>& problems, const DiskConfig& disk)
{
    std::error_code ec;
    const auto status = std::filesystem::status(disk.path, ec);
    if (disk.path.empty()) {
        problems.push_back("disk path is empty");
    } else if (ec || !std::filesystem::exists(status)) {
        problems.push_back(fmt::format("disk '{}' does not exist", disk.path.string()));
    } else if (!std::filesystem::is_regular_file(status) && !std::filesystem::is_block_file(status)) {
        problems.push_back(fmt::format("disk '{}' is not a regular file or block device", disk.path.string()));
    } else if (const bool read_only = disk.readonly || disk.snapshot;
               ::access(disk.path.c_str(), read_only ? R_OK : R_OK | W_OK) != 0) {
        problems.push_back(fmt::format("disk '{}' is not {}", disk.path.string(),
                                       read_only ? "readable" : "readable and writable (use readonly=on?)"));
    }
    if (disk.serial.size() > kDiskSerialMax) {
        problems.push_back(fmt::format("disk '{}': serial '{}' is longer than {} bytes", disk.path.string(),
                                       disk.serial, kDiskSerialMax));
    }
}

void check_net(std::vector<std::string>& problems, const NetConfig& net)
{
    if (net.mode == NetMode::User) {
        vmm::check_user_net(problems, net);
    } else if (net.tap.empty() || net.tap.size() > 15 || net.tap.find_first_of("/ \t\n") != std::string::npos) {
        // IFNAMSIZ is 16 including the NUL.
        problems.push_back(fmt::format("net: '{}' is not a valid interface name (1-15 characters, no '/' or "
                                       "blanks)", net.tap));
    }
    const std::string name = net.mode == NetMode::User ? "user" : net.tap;
    if (net.mac && ((*net.mac)[0] & 1) != 0) {
        problems.push_back(fmt::format("net '{}': MAC address is a multicast address", name));
    }
    if (net.mac && *net.mac == std::array<uint8_t, 6>{}) {
        problems.push_back(fmt::format("net '{}': MAC address is all zeros", name));
    }
}

void check_share(std::vector<std::string>& problems, const VmConfig& config, size_t index)
{
    const ShareConfig& share = config.shares[index];
    const std::string tag = share.effective_tag(index);
    std::error_code ec;
    if (share.path.empty()) {
        problems.push_back(fmt::format("share '{}' has no directory", tag));
    } else if (!std::filesystem::is_directory(share.path, ec)) {
        problems.push_back(fmt::format("share '{}': '{}' is not a directory", tag, share.path.string()));
    } else if (::access(share.path.c_str(), R_OK | X_OK) != 0) {
        problems.push_back(fmt::format("share '{}': directory '{}' is not readable", tag, share.path.string()));
    }
    if (tag.size() > kShareTagMax || tag.find('\0') != std::string::npos) {
        problems.push_back(fmt::format("share tag '{}' is longer than {} bytes or holds a NUL", tag, kShareTagMax));
    }
    for (size_t j = 0; j < index; ++j) {
        if (config.shares[j].effective_tag(j) == tag) {
            problems.push_back(fmt::format("share tag '{}' is given twice", tag));
        }
    }
    for (const auto* map : {&share.uid_map, &share.gid_map}) {
        for (const auto& r : *map) {
            if (r.count == 0 || r.count - 1 > UINT32_MAX - r.guest || r.count - 1 > UINT32_MAX - r.host) {
                problems.push_back(fmt::format("share '{}': id range {}:{}:{} is empty or passes 4294967295", tag,
                                               r.guest, r.host, r.count));
            }
        }
    }
}

void check_devices(std::vector<std::string>& problems, const VmConfig& config)
{
    for (size_t i = 0; i < config.shares.size(); ++i) {
        check_share(problems, config, i);
    }
    for (const auto& disk : config.disks) {
        check_disk(problems, disk);
    }
    for (size_t i = 0; i < config.nets.size(); ++i) {
        check_net(problems, config.nets[i]);
        for (size_t j = 0; j < i; ++j) {
            if (config.nets[i].mode == NetMode::Tap && config.nets[j].mode == NetMode::Tap &&
                config.nets[j].tap == config.nets[i].tap) {
                problems.push_back(fmt::format("net '{}' is given twice: one TAP serves one NIC", config.nets[i].tap));
            }
        }
    }
    const size_t virtio = config.disks.size() + config.nets.size() +
                          (config.console.device == ConsoleDevice::Virtio ? 1 : 0) + config.shares.size() +
                          (config.rng ? 1 : 0);
    if (virtio > arch::kMaxVirtioDevices) {
        problems.push_back(fmt::format("{} virtio devices asked for, at most {} fit (one interrupt line each)",
                                       virtio, arch::kMaxVirtioDevices));
    }
}

} // namespace

std::vector<std::string> VmConfig::validate() const
{
    std::vector<std::string> problems;
    check_input_file(problems, "kernel", kernel);
    if (initrd) {
        check_input_file(problems, "initrd", *initrd);
    }
    if (memory_bytes < kMinMemory) {
        problems.push_back(fmt::format("memory {} MiB is too small: a guest needs at least {} MiB",
                                       memory_bytes / kMiB, kMinMemory / kMiB));
    } else if (const uint64_t host = vmm::host_memory_limit(); memory_bytes > host) {
        problems.push_back(fmt::format("memory {} MiB is more than this host can give a guest ({} MiB)",
                                       memory_bytes / kMiB, host / kMiB));
    }
    if (cpus < 1) {
        problems.push_back("cpus must be at least 1");
    } else if (cpus > kMaxCpus) {
        problems.push_back(fmt::format("cpus {} is more than minivmm supports ({})", cpus, kMaxCpus));
    }
    if (cmdline.size() >= arch::kCmdlineMax) {
        problems.push_back(fmt::format("kernel command line is {} bytes, the limit is {}", cmdline.size(),
                                       arch::kCmdlineMax - 1));
    }
    if (cmdline.find('\0') != std::string::npos) {
        problems.push_back("kernel command line contains a NUL byte");
    }
    if (console.mode == ConsoleMode::File) {
        check_output_file(problems, "console file", console.path);
    }
    if (console.log) {
        check_output_file(problems, "console log", *console.log);
    }
    if (console.capture_limit < kMinCaptureLimit) {
        problems.push_back(fmt::format("console capture limit {} bytes is too small (at least {})",
                                       console.capture_limit, kMinCaptureLimit));
    }
    check_pattern(problems, "exit-on", console.exit_on);
    check_pattern(problems, "fail-on", console.fail_on);
    if (timeout && timeout->count() <= 0) {
        problems.push_back("timeout must be positive");
    }
    check_devices(problems, *this);
    return problems;
}

std::optional<MacAddressBytes> parse_mac_address(std::string_view text)
{
    const auto mac = backends::MacAddress::parse(text);
    if (!mac) {
        return std::nullopt;
    }
    return mac->bytes();
}

std::optional<ShareIdRange> parse_share_id_range(std::string_view text)
{
    const auto range = backends::parse_id_range(text);
    if (!range) {
        return std::nullopt;
    }
    return ShareIdRange{range->guest, range->host, range->count};
}

} // namespace minivmm
