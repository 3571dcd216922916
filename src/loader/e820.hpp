// The e820 memory map minivmm gives a guest (ACPI 6.5 section 15 "System Address Map
// Interfaces"; docs/architecture.md "Guest physical memory map"): usable base memory
// below the EBDA, the EBDA/BIOS area reserved up to 1 MiB, then every RAM region as usable.
#pragma once

#include "loader/boot_params.hpp"
#include "memory/guest_memory.hpp"

#include <span>
#include <vector>

namespace minivmm::loader {

// Pure: the map for the given RAM regions (GuestMemory::regions() or arch::ram_regions()).
// Throws ConfigError if RAM does not reach 1 MiB (no room for the kernel).
[[nodiscard]] std::vector<E820Entry> build_e820_map(std::span<const memory::MemoryRegion> regions);

} // namespace minivmm::loader
