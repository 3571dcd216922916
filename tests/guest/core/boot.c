/*
 * Normalises what the boot loader handed over into struct boot_info:
 *  - PVH: struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h),
 *    module 0 is the initrd, memmap from version 1 on.
 *  - Linux 32-bit and 64-bit boot protocol: boot_params (the zero page,
 *    Documentation/arch/x86/zero-page.rst and boot.rst).
 * The command line and memory map are copied into guest memory first, so
 * later tests may reuse low memory (the AP trampoline) freely.  The initrd
 * stays where the loader put it.
 */
#include "boot.h"

#include "guest.h"
#include "phys.h"
#include "io.h"
#include "lib.h"

#define PVH_START_MAGIC         0x336ec578

/* struct hvm_start_info field offsets */
#define PVH_MAGIC               0
#define PVH_VERSION             4
#define PVH_NR_MODULES          12
#define PVH_MODLIST_PADDR       16
#define PVH_CMDLINE_PADDR       24
#define PVH_RSDP_PADDR          32
#define PVH_MEMMAP_PADDR        40
#define PVH_MEMMAP_ENTRIES      48
#define PVH_MODLIST_ENTRY_SIZE  32      /* paddr, size, cmdline_paddr, reserved */
#define PVH_MEMMAP_ENTRY_SIZE   24      /* addr, size, type, reserved */

/* boot_params field offsets */
#define BP_ACPI_RSDP_ADDR       0x070
#define BP_EXT_RAMDISK_IMAGE    0x0c0
#define BP_EXT_RAMDISK_SIZE     0x0c4
#define BP_EXT_CMD_LINE_PTR     0x0c8
#define BP_E820_ENTRIES         0x1e8
#define BP_SENTINEL             0x1ef
#define BP_RAMDISK_IMAGE        0x218
#define BP_RAMDISK_SIZE         0x21c
#define BP_CMD_LINE_PTR         0x228
#define BP_E820_TABLE           0x2d0
#define BP_E820_ENTRY_SIZE      20
#define BP_E820_MAX             128
#define BP_SIZE                 4096

static struct boot_info boot_info;
static char cmdline_copy[BOOT_CMDLINE_MAX];


bool phys_mapped(const struct boot_info *bi, uint64_t addr, uint64_t len)
{
    return addr + len >= addr && addr + len <= bi->mapped_limit;
}

const char *boot_protocol_name(uint32_t protocol)
{
    switch (protocol) {
    case BOOT_PROTO_LINUX32:
        return "linux32";
    case BOOT_PROTO_PVH:
        return "pvh";
    case BOOT_PROTO_LINUX64:
        return "linux64";
    default:
        return "unknown";
    }
}

const char *mem_type_name(uint32_t type)
{
    switch (type) {
    case MEM_TYPE_RAM:
        return "ram";
    case MEM_TYPE_RESERVED:
        return "reserved";
    case MEM_TYPE_ACPI:
        return "acpi";
    case MEM_TYPE_NVS:
        return "nvs";
    case MEM_TYPE_UNUSABLE:
        return "unusable";
    default:
        return "other";
    }
}

static void add_region(struct boot_info *bi, uint64_t addr, uint64_t size, uint32_t type)
{
    if (bi->nr_mem < BOOT_MAX_MEM_REGIONS && size)
        bi->mem[bi->nr_mem++] = (struct mem_region){addr, size, type};
}

static void copy_cmdline(struct boot_info *bi, uint64_t paddr)
{
    bi->cmdline_paddr = paddr;
    size_t n = 0;
    if (paddr && phys_mapped(bi, paddr, 1)) {
        /* Byte by byte: the string may end right at the end of the map. */
        while (n < BOOT_CMDLINE_MAX - 1 && phys_mapped(bi, paddr + n, 1) && phys_read8(paddr + n)) {
            cmdline_copy[n] = (char)phys_read8(paddr + n);
            n++;
        }
        bi->cmdline_truncated = n == BOOT_CMDLINE_MAX - 1 && phys_mapped(bi, paddr + n, 1) &&
                                phys_read8(paddr + n) != 0;
    }
    cmdline_copy[n] = 0;
    bi->cmdline = cmdline_copy;
    bi->cmdline_len = (uint32_t)n;
}

static void read_pvh(struct boot_info *bi, uint64_t info)
{
    if (!phys_mapped(bi, info, 56) || phys_read32(info + PVH_MAGIC) != PVH_START_MAGIC) {
        printf("boot: PVH start info at 0x%lx has a bad magic\n", info);
        guest_exit(EXIT_BAD_ARGUMENT);
    }
    uint32_t version = phys_read32(info + PVH_VERSION);
    if (version >= 1) {
        uint64_t map = phys_read64(info + PVH_MEMMAP_PADDR);
        uint32_t n = phys_read32(info + PVH_MEMMAP_ENTRIES);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t e = map + (uint64_t)i * PVH_MEMMAP_ENTRY_SIZE;
            if (!phys_mapped(bi, e, PVH_MEMMAP_ENTRY_SIZE))
                break;
            add_region(bi, phys_read64(e), phys_read64(e + 8), phys_read32(e + 16));
        }
    }
    bi->mapped_limit = paging_map_high(bi);

    copy_cmdline(bi, phys_read64(info + PVH_CMDLINE_PADDR));
    bi->rsdp_paddr = phys_read64(info + PVH_RSDP_PADDR);
    uint64_t mods = phys_read64(info + PVH_MODLIST_PADDR);
    if (phys_read32(info + PVH_NR_MODULES) >= 1 && phys_mapped(bi, mods, PVH_MODLIST_ENTRY_SIZE)) {
        bi->initrd_addr = phys_read64(mods);
        bi->initrd_size = phys_read64(mods + 8);
    }
}

/* A 64-bit value split into a header field (low half) and an ext_* field (high half). */
static uint64_t read_lo_hi(uint64_t bp, uint32_t lo, uint32_t hi, bool use_hi)
{
    return phys_read32(bp + lo) | (use_hi ? (uint64_t)phys_read32(bp + hi) << 32 : 0);
}

static void read_boot_params(struct boot_info *bi, uint64_t bp)
{
    if (!phys_mapped(bi, bp, BP_SIZE)) {
        printf("boot: boot_params at 0x%lx outside memory\n", bp);
        guest_exit(EXIT_BAD_ARGUMENT);
    }
    uint32_t n = phys_read8(bp + BP_E820_ENTRIES);
    for (uint32_t i = 0; i < n && i < BP_E820_MAX; i++) {
        uint64_t e = bp + BP_E820_TABLE + (uint64_t)i * BP_E820_ENTRY_SIZE;
        add_region(bi, phys_read64(e), phys_read64(e + 8), phys_read32(e + 16));
    }
    bi->mapped_limit = paging_map_high(bi);

    /* Like Linux's sanitize_boot_params(): a set sentinel means the loader copied the
     * image's bytes from 0x1ef on, so the fields outside the setup header are junk. */
    bi->boot_params_sentinel = phys_read8(bp + BP_SENTINEL) != 0;
    bool ext = !bi->boot_params_sentinel;
    copy_cmdline(bi, read_lo_hi(bp, BP_CMD_LINE_PTR, BP_EXT_CMD_LINE_PTR, ext));
    bi->initrd_addr = read_lo_hi(bp, BP_RAMDISK_IMAGE, BP_EXT_RAMDISK_IMAGE, ext);
    bi->initrd_size = read_lo_hi(bp, BP_RAMDISK_SIZE, BP_EXT_RAMDISK_SIZE, ext);
    bi->rsdp_paddr = ext ? phys_read64(bp + BP_ACPI_RSDP_ADDR) : 0;
}

/* Called once by arch/entry.S on the BSP, long mode, .bss cleared. */
__attribute__((noreturn)) void guest_entry(uint32_t protocol, uint64_t info);
void guest_entry(uint32_t protocol, uint64_t info)
{
    struct boot_info *bi = &boot_info;
    bi->protocol = protocol;
    bi->info_paddr = info;
    bi->cmdline = "";
    bi->mapped_limit = (uint64_t)PAGING_LOW_GIB << 30;
    if (protocol == BOOT_PROTO_PVH)
        read_pvh(bi, info);
    else
        read_boot_params(bi, info);
    if (!bi->initrd_size)
        bi->initrd_addr = 0;
    guest_main(bi);
    guest_exit(EXIT_PASS);
}
