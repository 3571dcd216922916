// The second way guests find virtio-mmio devices (docs/architecture.md "How guests
// find devices"): `virtio_mmio.device=<size>@<base>:<gsi>` words on the kernel command line,
// for kernels with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES and no ACPI. The ACPI DSDT describes
// the same devices for stock distribution kernels.
#pragma once

#include "arch/x86_64/virtio_mmio_slots.hpp"

#include <span>
#include <string>
#include <string_view>

namespace minivmm::vmm {

// `cmdline` followed by one `virtio_mmio.device=` word per slot, in order.
[[nodiscard]] std::string with_virtio_mmio_devices(std::string_view cmdline, std::span<const arch::VirtioMmioSlot> slots);

} // namespace minivmm::vmm
