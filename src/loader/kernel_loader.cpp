#include "loader/kernel_loader.hpp"

#include "loader/boot_params.hpp"
#include "loader/bzimage.hpp"
#include "loader/image_bytes.hpp"
#include "loader/pvh_elf.hpp"

#include <fmt/format.h>

namespace minivmm::loader {

KernelFormat detect_kernel_format(std::span<const std::byte> image)
{
    if (is_elf(image)) {
        return KernelFormat::PvhElf;
    }
    const auto boot_flag = read_struct<uint16_t>(image, kSetupHeaderOffset + offsetof(SetupHeader, boot_flag));
    const auto hdrs = read_struct<uint32_t>(image, kSetupHeaderOffset + offsetof(SetupHeader, header));
    if ((boot_flag && *boot_flag == kBootFlag) || (hdrs && *hdrs == kHdrSMagic)) {
        return KernelFormat::BzImage;
    }
    throw ConfigError("not a kernel image (neither a bzImage nor an ELF)");
}

LoadedKernel load_kernel(memory::GuestMemory& memory, const BootSpec& spec)
{
    // The magic numbers lie in the first 0x206 bytes (the bzImage "HdrS").
    const std::vector<std::byte> head = spec.kernel.read_prefix(kSetupHeaderEnd);
    switch (detect_kernel_format(head)) {
    case KernelFormat::BzImage:
        return load_bzimage(memory, spec);
    case KernelFormat::PvhElf:
        return load_pvh_elf(memory, spec);
    }
    throw ConfigError("unknown kernel format");
}

} // namespace minivmm::loader
