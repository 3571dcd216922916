// The initramfs of `minivmm exec`, made in memory: the guest agent as /init (agent_image.hpp),
// the kernel modules it loads, in load order, and its configuration, /etc/minivmm/agent.conf
// (the directives are described in guest-agent/init.c):
//   /init                     the agent (static)
//   /lib/modules/NAME.ko      the modules, decompressed
//   /etc/minivmm/agent.conf   "module NAME", "mount TAG ro|rw PATH", "hostname NAME",
//                             "net MAC ADDRESS/PREFIX GATEWAY|- DNS|-"
//   /dev/console              the node the kernel opens for /init's stdio
//   /dev /proc /sys /newroot  mount points
#pragma once

#include "initramfs/module_tree.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace minivmm::initramfs {

// A virtio-fs share the agent mounts: the device's tag, where in the guest, and how.
struct AgentShare {
    std::string tag;  // 1-36 bytes of [A-Za-z0-9_.-] (virtio-fs tags are at most 36 bytes)
    std::string path; // absolute, no newline; "/" is the root
    bool writable = false;
};

// A NIC the agent configures statically (a user-mode network's guest address, gateway and
// DNS server), found in the guest by its MAC address.
struct AgentNic {
    std::array<uint8_t, 6> mac{};
    std::array<uint8_t, 4> address{};
    unsigned prefix_length = 24; // 1-30
    std::optional<std::array<uint8_t, 4>> gateway; // the default route
    std::optional<std::array<uint8_t, 4>> dns;     // in the guest's /etc/resolv.conf
};

struct ExecInitramfs {
    std::vector<KernelModule> modules; // in load order
    std::vector<AgentShare> shares;
    std::vector<AgentNic> nics;
    std::string hostname = "minivmm";
};

// The archive (uncompressed newc cpio: the kernel unpacks it faster than it would inflate
// one). Throws ConfigError for a share, NIC or host name agent.conf cannot hold.
[[nodiscard]] std::vector<uint8_t> build_exec_initramfs(const ExecInitramfs& spec);

// agent.conf's text for `spec` (part of the archive; separate for the tests).
[[nodiscard]] std::string agent_config(const ExecInitramfs& spec);

} // namespace minivmm::initramfs
