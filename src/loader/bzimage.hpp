// Linux bzImage loader for the 64-bit boot protocol (Documentation/arch/x86/boot.rst:
// "The Real-Mode Kernel Header", "Loading The Rest of The Kernel", "64-bit Boot Protocol").
// Pure: parses the untrusted image, writes the payload, boot_params, command line and
// initrd through GuestMemory, and returns where to enter; registers are set elsewhere.
// Not supported: protocols before 2.06, zImage (not LOADED_HIGH), kernels without
// XLF_KERNEL_64, the EFI handover entry, setup_data chains.
#pragma once

#include "loader/boot_params.hpp"
#include "loader/boot_spec.hpp"
#include "memory/guest_memory.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace minivmm::loader {

inline constexpr uint16_t kMinBootProtocol = 0x0206;
// The 64-bit entry point lies this far into the protected-mode kernel (boot.rst "64-bit Boot Protocol").
inline constexpr uint64_t kBzImage64BitEntryOffset = 0x200;

// A validated bzImage: the header fields minivmm uses (copied out of the packed header, so
// nothing binds a reference to a misaligned field) and where the protected-mode kernel lies.
struct BzImage {
    uint16_t version = 0;
    uint8_t loadflags = 0;
    uint16_t xloadflags = 0;
    uint32_t cmdline_size = 0;     // longest command line, without its NUL
    uint32_t initrd_addr_max = 0;  // highest address the initrd may occupy
    uint32_t kernel_alignment = 0; // a power of two when relocatable
    bool relocatable = false;
    uint64_t pref_address = 0;                // protocol 2.10+, else 0
    uint32_t init_size = 0;                   // protocol 2.10+, else 0
    std::span<const std::byte> header_bytes; // 0x1f1 .. end given by the jump at 0x200 (capped at 0x290),
                                             // a view into the caller's `head`
    uint64_t setup_size = 0;                 // (setup_sects + 1) * 512, setup_sects 0 meaning 4
    uint64_t payload_size = 0; // the protected-mode kernel: the rest of the file, from setup_size
};

// The most of a bzImage's start that parse_bzimage() reads: the setup code of the largest
// setup_sects (255).
inline constexpr uint64_t kBzImageMaxSetupSize = (255 + 1) * 512;

// Validates every field minivmm relies on; ConfigError with one line naming what is wrong.
// `head` is the start of an image of `image_size` bytes: all of it, or at least its first
// kBzImageMaxSetupSize bytes.
[[nodiscard]] BzImage parse_bzimage(std::span<const std::byte> head, uint64_t image_size);
// The same for a whole image in memory.
[[nodiscard]] inline BzImage parse_bzimage(std::span<const std::byte> image)
{
    return parse_bzimage(image, image.size());
}

// The first byte above what the kernel needs when loaded at 1 MiB: the payload, and
// init_size bytes from where the kernel will run (pref_address or the aligned load address).
[[nodiscard]] memory::GuestAddress bzimage_kernel_end(const BzImage& image);

// Loads spec.kernel (a bzImage) with its cmdline, e820 map, initrd and RSDP pointer.
// boot_info is arch::kBootParams; entry is the 64-bit entry point.
[[nodiscard]] LoadedKernel load_bzimage(memory::GuestMemory& memory, const BootSpec& spec);

} // namespace minivmm::loader
