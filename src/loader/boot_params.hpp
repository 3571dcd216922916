// The Linux x86 boot protocol structures (Documentation/arch/x86/boot.rst, "The Real-Mode
// Kernel Header", and Documentation/arch/x86/zero-page.rst): our own plain-data copies, so
// the build does not depend on the host's uapi <asm/bootparam.h>. Only the fields minivmm
// reads or writes are named; the rest is padding that stays zero.
#pragma once

#include <cstddef>
#include <cstdint>

namespace minivmm::loader {

// boot.rst: loadflags / xloadflags bits and fixed values.
inline constexpr uint8_t kLoadedHigh = 0x01;   // LOADED_HIGH: protected-mode code at 0x100000
inline constexpr uint8_t kCanUseHeap = 0x80;   // CAN_USE_HEAP: heap_end_ptr is valid
inline constexpr uint16_t kXlfKernel64 = 0x01; // XLF_KERNEL_64: 64-bit entry at +0x200
inline constexpr uint16_t kBootFlag = 0xaa55;
inline constexpr uint32_t kHdrSMagic = 0x53726448; // "HdrS" little-endian
inline constexpr uint8_t kTypeOfLoaderUndefined = 0xff;
inline constexpr uint16_t kHeapEndPtr = 0xfe00;
inline constexpr uint16_t kVidModeNormal = 0xffff;
inline constexpr uint32_t kE820Max = 128; // E820_MAX_ENTRIES_ZEROPAGE

// The e820 entry types minivmm uses (the ACPI address range types).
enum class E820Type : uint32_t {
    Ram = 1,
    Reserved = 2,
};

#pragma pack(push, 1)

struct E820Entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};
static_assert(sizeof(E820Entry) == 20);

// boot.rst "The Real-Mode Kernel Header": offsets are relative to the start of the image
// (and of boot_params); the header starts at 0x1f1.
struct SetupHeader {
    uint8_t setup_sects;        // 0x1f1
    uint16_t root_flags;        // 0x1f2
    uint32_t syssize;           // 0x1f4
    uint16_t ram_size;          // 0x1f8
    uint16_t vid_mode;          // 0x1fa
    uint16_t root_dev;          // 0x1fc
    uint16_t boot_flag;         // 0x1fe
    uint16_t jump;              // 0x200
    uint32_t header;            // 0x202
    uint16_t version;           // 0x206
    uint32_t realmode_swtch;    // 0x208
    uint16_t start_sys_seg;     // 0x20c
    uint16_t kernel_version;    // 0x20e
    uint8_t type_of_loader;     // 0x210
    uint8_t loadflags;          // 0x211
    uint16_t setup_move_size;   // 0x212
    uint32_t code32_start;      // 0x214
    uint32_t ramdisk_image;     // 0x218
    uint32_t ramdisk_size;      // 0x21c
    uint32_t bootsect_kludge;   // 0x220
    uint16_t heap_end_ptr;      // 0x224
    uint8_t ext_loader_ver;     // 0x226
    uint8_t ext_loader_type;    // 0x227
    uint32_t cmd_line_ptr;      // 0x228
    uint32_t initrd_addr_max;   // 0x22c
    uint32_t kernel_alignment;  // 0x230
    uint8_t relocatable_kernel; // 0x234
    uint8_t min_alignment;      // 0x235
    uint16_t xloadflags;        // 0x236
    uint32_t cmdline_size;      // 0x238
    uint32_t hardware_subarch;  // 0x23c
    uint64_t hardware_subarch_data; // 0x240
    uint32_t payload_offset;    // 0x248
    uint32_t payload_length;    // 0x24c
    uint64_t setup_data;        // 0x250
    uint64_t pref_address;      // 0x258
    uint32_t init_size;         // 0x260
    uint32_t handover_offset;   // 0x264
    uint32_t kernel_info_offset; // 0x268
};

// zero-page.rst: the 4 KiB "zero page" handed to the kernel in %rsi.
struct BootParams {
    uint8_t screen_info[0x40];      // 0x000
    uint8_t apm_bios_info[0x14];    // 0x040
    uint8_t pad2[4];                // 0x054
    uint64_t tboot_addr;            // 0x058
    uint8_t ist_info[0x10];         // 0x060
    uint64_t acpi_rsdp_addr;        // 0x070
    uint8_t pad3[8];                // 0x078
    uint8_t hd0_info[16];           // 0x080
    uint8_t hd1_info[16];           // 0x090
    uint8_t sys_desc_table[16];     // 0x0a0
    uint8_t olpc_ofw_header[16];    // 0x0b0
    uint32_t ext_ramdisk_image;     // 0x0c0
    uint32_t ext_ramdisk_size;      // 0x0c4
    uint32_t ext_cmd_line_ptr;      // 0x0c8
    uint8_t pad4[0x1e8 - 0x0cc];    // 0x0cc .. (cc_blob_address, edid_info, efi_info, ...)
    uint8_t e820_entries;           // 0x1e8
    uint8_t eddbuf_entries;         // 0x1e9
    uint8_t edd_mbr_sig_buf_entries; // 0x1ea
    uint8_t kbd_status;             // 0x1eb
    uint8_t secure_boot;            // 0x1ec
    uint8_t pad5[2];                // 0x1ed
    uint8_t sentinel;               // 0x1ef
    uint8_t pad6[1];                // 0x1f0
    SetupHeader hdr;                // 0x1f1
    uint8_t pad7[0x290 - 0x1f1 - sizeof(SetupHeader)];
    uint32_t edd_mbr_sig_buffer[16]; // 0x290
    E820Entry e820_table[kE820Max]; // 0x2d0
    uint8_t pad8[0x1000 - 0xcd0];   // 0xcd0 .. (eddbuf and padding)
};

#pragma pack(pop)

inline constexpr std::size_t kSetupHeaderOffset = 0x1f1;
// Space the zero page reserves for the setup header: up to edd_mbr_sig_buffer.
inline constexpr std::size_t kSetupHeaderLimit = 0x290;
inline constexpr std::size_t kSetupHeaderEnd = kSetupHeaderOffset + sizeof(SetupHeader);

static_assert(sizeof(SetupHeader) == 0x26c - 0x1f1);
static_assert(offsetof(SetupHeader, boot_flag) == 0x1fe - 0x1f1);
static_assert(offsetof(SetupHeader, header) == 0x202 - 0x1f1);
static_assert(offsetof(SetupHeader, version) == 0x206 - 0x1f1);
static_assert(offsetof(SetupHeader, type_of_loader) == 0x210 - 0x1f1);
static_assert(offsetof(SetupHeader, ramdisk_image) == 0x218 - 0x1f1);
static_assert(offsetof(SetupHeader, heap_end_ptr) == 0x224 - 0x1f1);
static_assert(offsetof(SetupHeader, cmd_line_ptr) == 0x228 - 0x1f1);
static_assert(offsetof(SetupHeader, xloadflags) == 0x236 - 0x1f1);
static_assert(offsetof(SetupHeader, cmdline_size) == 0x238 - 0x1f1);
static_assert(offsetof(SetupHeader, pref_address) == 0x258 - 0x1f1);
static_assert(offsetof(SetupHeader, init_size) == 0x260 - 0x1f1);

static_assert(sizeof(BootParams) == 4096);
static_assert(offsetof(BootParams, acpi_rsdp_addr) == 0x070);
static_assert(offsetof(BootParams, ext_ramdisk_image) == 0x0c0);
static_assert(offsetof(BootParams, e820_entries) == 0x1e8);
static_assert(offsetof(BootParams, hdr) == kSetupHeaderOffset);
static_assert(offsetof(BootParams, edd_mbr_sig_buffer) == kSetupHeaderLimit);
static_assert(offsetof(BootParams, e820_table) == 0x2d0);

} // namespace minivmm::loader
