#include "loader/cmdline.hpp"

#include "arch/x86_64/layout.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace minivmm::loader {

memory::GuestAddress write_cmdline(memory::GuestMemory& memory, std::string_view cmdline, uint64_t max_len)
{
    const uint64_t limit = std::min(max_len, arch::kCmdlineMax - 1);
    if (cmdline.size() > limit) {
        throw ConfigError(fmt::format("kernel command line is {} bytes long; the kernel accepts at most {}",
                                      cmdline.size(), limit));
    }
    if (cmdline.find('\0') != std::string_view::npos) {
        throw ConfigError("kernel command line contains a NUL byte");
    }
    std::vector<std::byte> bytes(cmdline.size() + 1, std::byte{0});
    std::transform(cmdline.begin(), cmdline.end(), bytes.begin(), [](char c) { return static_cast<std::byte>(c); });
    const memory::GuestAddress address(arch::kCmdline);
    memory.write(address, bytes);
    return address;
}

} // namespace minivmm::loader
