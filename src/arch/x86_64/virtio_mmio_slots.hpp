// The virtio-mmio device slots (docs/architecture.md "virtio-mmio device n"): slot n is the
// 4 KiB window at kVirtioMmioBase + n * kVirtioMmioStride interrupting on kVirtioGsis[n].
// The builder asks for one ordered list of slots, once (disks, NICs, the virtio console, the
// entropy device: vm_builder.cpp), and everything that places or
// describes a device (the transport on the MMIO bus, the irqfd, the DSDT, the kernel command
// line) reads its slot from that list.
#pragma once

#include <cstdint>
#include <vector>

namespace minivmm::arch {

struct VirtioMmioSlot {
    uint32_t index = 0; // n: the DSDT names it VRnn, with _UID n
    uint64_t base = 0;  // guest physical address of the register window
    uint64_t size = 0;  // bytes of the window
    uint32_t gsi = 0;   // IOAPIC pin of its interrupt
};

// Slots 0 .. count-1, in order. ConfigError when count is more than kMaxVirtioDevices (the
// in-kernel IOAPIC has no more free pins).
[[nodiscard]] std::vector<VirtioMmioSlot> virtio_mmio_slots(uint32_t count);

} // namespace minivmm::arch
