#include "vmm/virtio_cmdline.hpp"

#include <fmt/format.h>

namespace minivmm::vmm {

std::string with_virtio_mmio_devices(std::string_view cmdline, std::span<const arch::VirtioMmioSlot> slots)
{
    std::string out(cmdline);
    for (const auto& slot : slots) {
        // Sizes in KiB as Linux's memparse reads them ("4K"), the base in hex.
        const std::string size = slot.size % 1024 == 0 ? fmt::format("{}K", slot.size / 1024) : fmt::format("{}", slot.size);
        out += fmt::format("{}virtio_mmio.device={}@{:#x}:{}", out.empty() ? "" : " ", size, slot.base, slot.gsi);
    }
    return out;
}

} // namespace minivmm::vmm
