/*
 * What guest_main() gets, the same for every entry path: the command line
 * (copied into guest memory), the initrd, the memory map and the RSDP.
 */
#ifndef GUEST_BOOT_H
#define GUEST_BOOT_H

#include <stdbool.h>
#include <stdint.h>

#include "layout.h"

#define BOOT_MAX_MEM_REGIONS    128
#define BOOT_CMDLINE_MAX        4096    /* bytes incl. NUL (header cmdline_size = 4095) */

/* E820 / PVH memory map types. */
#define MEM_TYPE_RAM            1
#define MEM_TYPE_RESERVED       2
#define MEM_TYPE_ACPI           3
#define MEM_TYPE_NVS            4
#define MEM_TYPE_UNUSABLE       5

struct mem_region {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};

struct boot_info {
    uint32_t protocol;          /* BOOT_PROTO_LINUX32 / PVH / LINUX64 */
    uint64_t info_paddr;        /* boot_params or hvm_start_info */
    const char *cmdline;        /* never NULL; "" if none */
    uint32_t cmdline_len;       /* strlen(cmdline) */
    bool cmdline_truncated;     /* longer than BOOT_CMDLINE_MAX - 1 */
    uint64_t cmdline_paddr;     /* where the loader put it; 0 if none */
    uint64_t initrd_addr;       /* 0/0 if none */
    uint64_t initrd_size;
    uint64_t rsdp_paddr;        /* from the boot protocol; 0 if not given */
    uint64_t mapped_limit;      /* [0, mapped_limit) is identity-mapped */
    bool boot_params_sentinel;  /* boot_params[0x1ef] set: ext_* and acpi_rsdp_addr ignored */
    uint32_t nr_mem;
    struct mem_region mem[BOOT_MAX_MEM_REGIONS];
};

const char *boot_protocol_name(uint32_t protocol);
const char *mem_type_name(uint32_t type);

/* Is [addr, addr + len) inside the identity map (and not wrapping)? */
bool phys_mapped(const struct boot_info *bi, uint64_t addr, uint64_t len);

/* core/paging.c: map 4 GiB..64 GiB; returns the new mapped limit. */
uint64_t paging_map_high(const struct boot_info *bi);
bool cpu_has_pdpe1gb(void);

#endif
