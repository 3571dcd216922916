// The PVH boot structures (Xen public header arch-x86/hvm/start_info.h, version 1; also
// Linux's include/xen/interface/hvm/start_info.h): our own plain-data copies.
#pragma once

#include <cstddef>
#include <cstdint>

namespace minivmm::loader {

inline constexpr uint32_t kHvmStartMagic = 0x336ec578; // XEN_HVM_START_MAGIC_VALUE
inline constexpr uint32_t kHvmStartInfoVersion = 1;     // has the memory map fields
inline constexpr uint32_t kXenElfNotePhys32Entry = 18;  // XEN_ELFNOTE_PHYS32_ENTRY (xen/include/public/elfnote.h)

struct HvmStartInfo {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;   // version 1
    uint32_t memmap_entries; // version 1
    uint32_t reserved;
};
static_assert(sizeof(HvmStartInfo) == 0x38);
static_assert(offsetof(HvmStartInfo, modlist_paddr) == 0x10);
static_assert(offsetof(HvmStartInfo, rsdp_paddr) == 0x20);
static_assert(offsetof(HvmStartInfo, memmap_paddr) == 0x28);
static_assert(offsetof(HvmStartInfo, memmap_entries) == 0x30);

struct HvmModlistEntry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
};
static_assert(sizeof(HvmModlistEntry) == 0x20);

// `type` uses the e820 values (XEN_HVM_MEMMAP_TYPE_RAM 1, _RESERVED 2).
struct HvmMemmapTableEntry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};
static_assert(sizeof(HvmMemmapTableEntry) == 0x18);

} // namespace minivmm::loader
