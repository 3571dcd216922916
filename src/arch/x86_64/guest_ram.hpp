// Where guest RAM goes (docs/architecture.md "Guest physical memory map"): below the
// 32-bit MMIO hole, and what does not fit there from 4 GiB up.
#pragma once

#include "memory/guest_memory.hpp"

#include <cstdint>
#include <vector>

namespace minivmm::arch {

// `size` bytes of RAM as regions: [0, min(size, kMmioHoleStart)) and the rest from
// kHighRamStart (pure).
[[nodiscard]] std::vector<memory::MemoryRegion> ram_regions(uint64_t size);

// Guest RAM of `size` bytes laid out by ram_regions() (every region starts on a 2 MiB
// boundary of the guest and of the host mapping, so huge pages can back all of it).
[[nodiscard]] memory::GuestMemory create_guest_ram(uint64_t size,
                                                   memory::HugePages huge_pages = memory::HugePages::Off);

} // namespace minivmm::arch
