// What a kernel loader is given and what it returns: the contract between the loaders
// (bzImage, PVH ELF) and the VM builder, which sets the registers from LoadedKernel.
#pragma once

#include "loader/image_source.hpp"
#include "memory/guest_address.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace minivmm::loader {

enum class KernelFormat {
    BzImage, // Linux boot protocol; enter 64-bit at `entry` with %rsi = boot_info (boot_params)
    PvhElf,  // PVH; enter 32-bit protected mode, paging off, at `entry` with %ebx = boot_info
};

struct BootSpec {
    ImageRef kernel;
    ImageRef initrd; // empty: no initrd
    std::string_view cmdline;
    std::optional<memory::GuestAddress> rsdp; // ACPI RSDP, if the platform has one
};

struct InitrdLocation {
    memory::GuestAddress address;
    uint64_t size = 0;
};

struct LoadedKernel {
    KernelFormat format = KernelFormat::BzImage;
    memory::GuestAddress entry;
    memory::GuestAddress boot_info;  // boot_params (bzImage) or hvm_start_info (PVH)
    memory::GuestAddress kernel_end; // first byte above everything the kernel needs at boot
    std::optional<InitrdLocation> initrd;
};

} // namespace minivmm::loader
