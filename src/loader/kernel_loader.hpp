// The loader's front door: recognise the kernel format and load it with its initrd and
// command line (bzimage.hpp for the Linux boot protocol, pvh_elf.hpp for PVH), and read
// image files with errors a user can act on.
#pragma once

#include "loader/boot_spec.hpp"
#include "memory/guest_memory.hpp"

#include <cstddef>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

namespace minivmm::loader {

// bzImage (boot flag 0xaa55 at 0x1fe or "HdrS" at 0x202) or ELF (magic); otherwise
// ConfigError "not a kernel image (neither a bzImage nor an ELF)".
[[nodiscard]] KernelFormat detect_kernel_format(std::span<const std::byte> image);

// Loads spec.kernel in whichever format it is. Throws ConfigError on a bad image or when
// the kernel, command line or initrd do not fit.
[[nodiscard]] LoadedKernel load_kernel(memory::GuestMemory& memory, const BootSpec& spec);

// Reads a whole file; `what` names it in errors ("kernel", "initrd"):
// "cannot open kernel 'PATH': No such file or directory", "kernel 'PATH' is empty".
[[nodiscard]] std::vector<std::byte> read_image_file(const std::filesystem::path& path, std::string_view what);

} // namespace minivmm::loader
