// Initial ramdisk placement, shared by the bzImage and PVH loaders (boot.rst "Details of
// Header Fields": ramdisk_image / initrd_addr_max). The initrd goes page-aligned at the top
// of low RAM, below the MMIO hole and the kernel's limit, above everything the kernel needs.
#pragma once

#include "loader/boot_spec.hpp"
#include "memory/guest_memory.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace minivmm::loader {

// End (exclusive) of the RAM region that holds the kernel at 1 MiB, capped at the MMIO hole.
[[nodiscard]] uint64_t low_ram_end(const memory::GuestMemory& memory);

// Pure: where an initrd of `size` bytes goes. `kernel_end` is the first byte above the
// kernel; `addr_max` is the highest address the initrd may occupy (inclusive, as in the
// boot protocol's initrd_addr_max). Throws ConfigError when it does not fit.
[[nodiscard]] memory::GuestAddress place_initrd(const memory::GuestMemory& memory, uint64_t size,
                                                memory::GuestAddress kernel_end, uint64_t addr_max);

// place_initrd, then copy the image there.
[[nodiscard]] InitrdLocation load_initrd(memory::GuestMemory& memory, const ImageRef& initrd,
                                         memory::GuestAddress kernel_end, uint64_t addr_max);

} // namespace minivmm::loader
