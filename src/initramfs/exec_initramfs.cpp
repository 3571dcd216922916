#include "initramfs/exec_initramfs.hpp"

#include "initramfs/agent_image.hpp"
#include "initramfs/cpio_writer.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace minivmm::initramfs {
namespace {

constexpr size_t kMaxTag = 36; // struct virtio_fs_config: tag[36]
constexpr uint32_t kTtyMajor = 5;
constexpr uint32_t kConsoleMinor = 1;

bool valid_tag(const std::string& tag)
{
    return !tag.empty() && tag.size() <= kMaxTag && std::all_of(tag.begin(), tag.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
               c == '-';
    });
}

bool one_line(const std::string& text) { return text.find_first_of("\n\r") == std::string::npos; }

std::string ipv4(const std::array<uint8_t, 4>& a) { return fmt::format("{}.{}.{}.{}", a[0], a[1], a[2], a[3]); }

std::string nic_line(const AgentNic& nic)
{
    if (nic.prefix_length < 1 || nic.prefix_length > 30) {
        throw ConfigError(fmt::format("the guest address {}/{} has a prefix length outside 1-30", ipv4(nic.address),
                                      nic.prefix_length));
    }
    const auto& m = nic.mac;
    return fmt::format("net {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} {}/{} {} {}\n", m[0], m[1], m[2], m[3], m[4], m[5],
                       ipv4(nic.address), nic.prefix_length, nic.gateway ? ipv4(*nic.gateway) : "-",
                       nic.dns ? ipv4(*nic.dns) : "-");
}

} // namespace

std::string agent_config(const ExecInitramfs& spec)
{
    std::string text;
    for (const auto& module : spec.modules) {
        text += fmt::format("module {}\n", module.name);
    }
    for (const auto& share : spec.shares) {
        if (!valid_tag(share.tag)) {
            throw ConfigError(fmt::format("share tag '{}' is not 1-{} letters, digits, '_', '.' or '-'", share.tag,
                                          kMaxTag));
        }
        if (!share.path.starts_with('/') || !one_line(share.path)) {
            throw ConfigError(fmt::format("share path '{}' is not an absolute path on one line", share.path));
        }
        text += fmt::format("mount {} {} {}\n", share.tag, share.writable ? "rw" : "ro", share.path);
    }
    if (spec.hostname.empty() || spec.hostname.size() > 64 || !one_line(spec.hostname)) {
        throw ConfigError(fmt::format("host name '{}' is not 1-64 characters on one line", spec.hostname));
    }
    text += fmt::format("hostname {}\n", spec.hostname);
    for (const auto& nic : spec.nics) {
        text += nic_line(nic);
    }
    return text;
}

std::vector<uint8_t> build_exec_initramfs(const ExecInitramfs& spec)
{
    const std::string config = agent_config(spec);
    CpioWriter cpio;
    for (const char* dir : {"dev", "proc", "sys", "newroot", "etc", "etc/minivmm", "lib", "lib/modules"}) {
        cpio.add_directory(dir);
    }
    cpio.add_char_device("dev/console", 0600, kTtyMajor, kConsoleMinor);
    cpio.add_file("init", guest_agent_image(), 0755);
    for (const auto& module : spec.modules) {
        cpio.add_file(fmt::format("lib/modules/{}.ko", module.name), module.image);
    }
    cpio.add_file("etc/minivmm/agent.conf", std::vector<uint8_t>(config.begin(), config.end()));
    return cpio.finish();
}

} // namespace minivmm::initramfs
