#include "arch/x86_64/virtio_mmio_slots.hpp"

#include "arch/x86_64/layout.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>

namespace minivmm::arch {

std::vector<VirtioMmioSlot> virtio_mmio_slots(uint32_t count)
{
    if (count > kMaxVirtioDevices) {
        throw ConfigError(fmt::format("{} virtio devices asked for: at most {} have an interrupt line", count,
                                      kMaxVirtioDevices));
    }
    std::vector<VirtioMmioSlot> slots;
    slots.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
        slots.push_back({i, kVirtioMmioBase + i * kVirtioMmioStride, kVirtioMmioStride, kVirtioGsis[i]});
    }
    return slots;
}

} // namespace minivmm::arch
