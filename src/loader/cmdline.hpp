// The kernel command line: a NUL-terminated string at arch::kCmdline
// (boot.rst "The Kernel Command Line"; PVH's hvm_start_info.cmdline_paddr).
#pragma once

#include "memory/guest_memory.hpp"

#include <cstdint>
#include <string_view>

namespace minivmm::loader {

// Writes `cmdline` and its NUL at arch::kCmdline and returns that address. `max_len`
// is the longest string the kernel accepts (without the NUL); the area's own size
// (arch::kCmdlineMax) also applies. ConfigError if too long or if it holds a NUL.
[[nodiscard]] memory::GuestAddress write_cmdline(memory::GuestMemory& memory, std::string_view cmdline,
                                                 uint64_t max_len);

} // namespace minivmm::loader
