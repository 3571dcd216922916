// ELF kernel loader for the PVH boot protocol (Xen docs/misc/pvh.pandoc; Linux
// arch/x86/platform/pvh/head.S). The entry point is the 32-bit address in the ELF note
// "Xen"/XEN_ELFNOTE_PHYS32_ENTRY; every PT_LOAD segment is loaded at its p_paddr.
// Pure: validates the untrusted image, writes segments, the command line, the initrd and
// the hvm_start_info through GuestMemory; registers (%ebx = boot_info) are set elsewhere.
//
// Where hvm_start_info lives: the page at arch::kBootParams (the zero page of a
// bzImage boot; the two boots never coexist):
//   kBootParams + 0x000  hvm_start_info
//   kBootParams + 0x040  hvm_modlist_entry[1] (the initrd)
//   kBootParams + 0x080  hvm_memmap_table_entry[] (the e820 map), up to the end of the page
#pragma once

#include "loader/boot_spec.hpp"
#include "memory/guest_memory.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace minivmm::loader {

inline constexpr uint64_t kPvhStartInfoOffset = 0x000;
inline constexpr uint64_t kPvhModlistOffset = 0x040;
inline constexpr uint64_t kPvhMemmapOffset = 0x080;
inline constexpr uint64_t kPvhInfoPageSize = 0x1000;

// One PT_LOAD segment, validated against the file (not yet against guest RAM).
struct ElfSegment {
    std::size_t index = 0; // program header index, for messages
    uint64_t offset = 0;
    uint64_t paddr = 0;
    uint64_t filesz = 0;
    uint64_t memsz = 0;
};

struct PvhElf {
    std::vector<ElfSegment> segments; // non-empty PT_LOADs, sorted by paddr, not overlapping
    uint32_t entry = 0;                // from XEN_ELFNOTE_PHYS32_ENTRY
};

// True if `image` starts with the ELF magic.
[[nodiscard]] bool is_elf(std::span<const std::byte> image);

// Parses an ELF32 or ELF64 little-endian x86 executable with a PVH entry note;
// ConfigError with one line naming what is wrong.
// Reads only the ELF header, the program headers and the PT_NOTE segments (up to 1 MiB each).
[[nodiscard]] PvhElf parse_pvh_elf(const ImageRef& image);

// Loads spec.kernel (an ELF with a PVH note) with its cmdline, memory map, initrd and RSDP.
// boot_info is the hvm_start_info at arch::kBootParams; entry is the 32-bit PVH entry.
[[nodiscard]] LoadedKernel load_pvh_elf(memory::GuestMemory& memory, const BootSpec& spec);

} // namespace minivmm::loader
