/*
 * Platform tables: ACPI (RSDP -> XSDT/RSDT -> MADT) and the Intel MP table
 * (MP spec 1.4), read-only, every checksum validated.
 */
#ifndef GUEST_PLATFORM_H
#define GUEST_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>

#include "boot.h"

#define CPU_LIST_MAX            256

struct cpu_list {
    const char *source;         /* "madt" or "mptable" */
    unsigned count;             /* enabled processors found (capped at CPU_LIST_MAX) */
    uint32_t apic_id[CPU_LIST_MAX];
    bool table_bsp[CPU_LIST_MAX]; /* MP table BSP flag (always false for MADT) */
};

/* The RSDP: from the boot protocol, else the EBDA / 0xe0000-0xfffff scan; 0 if none. */
uint64_t acpi_find_rsdp(const struct boot_info *bi, const char **how);
/* A checksummed ACPI table by signature via XSDT (or RSDT); 0 if none. */
uint64_t acpi_find_table(const struct boot_info *bi, uint64_t rsdp, const char sig[4]);

bool madt_read_cpus(const struct boot_info *bi, uint64_t rsdp, struct cpu_list *out);
/* Scans the last KiB of base memory, the EBDA and 0xf0000-0xfffff for "_MP_". */
bool mptable_read_cpus(const struct boot_info *bi, struct cpu_list *out);

/* Sum of n bytes (ACPI and MP checksums are zero when valid). */
uint8_t byte_sum(const void *p, uint64_t n);

#endif
