// The loader's front door: recognise the kernel format and load it with its initrd and
// command line (bzimage.hpp for the Linux boot protocol, pvh_elf.hpp for PVH); image files
// are read by image_file.hpp.
#pragma once

#include "loader/boot_spec.hpp"
#include "loader/image_file.hpp" // read_image_file
#include "memory/guest_memory.hpp"

#include <cstddef>
#include <span>

namespace minivmm::loader {

// bzImage (boot flag 0xaa55 at 0x1fe or "HdrS" at 0x202) or ELF (magic); otherwise
// ConfigError "not a kernel image (neither a bzImage nor an ELF)".
[[nodiscard]] KernelFormat detect_kernel_format(std::span<const std::byte> image);

// Loads spec.kernel in whichever format it is. Throws ConfigError on a bad image or when
// the kernel, command line or initrd do not fit.
[[nodiscard]] LoadedKernel load_kernel(memory::GuestMemory& memory, const BootSpec& spec);

} // namespace minivmm::loader
