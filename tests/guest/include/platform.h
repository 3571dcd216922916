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
/* Linux's scan only (first KiB of the EBDA, then 0xe0000-0xfffff, 16-byte steps): the first
 * RSDP whose checksums hold, else 0; *bad = the first "RSD PTR " with a bad checksum, or 0. */
uint64_t acpi_scan_rsdp(const struct boot_info *bi, uint64_t *bad);

/* One table as listed by acpi_list_tables(); sig/oem_id printable, NUL-terminated. */
struct acpi_table_info {
    uint64_t addr;
    char sig[5];
    char oem_id[7];             /* trailing blanks removed */
    uint32_t len;
    uint8_t revision;
    bool ok;                    /* mapped, 36 <= len <= 1 MiB, checksum zero */
    bool from_fadt;             /* the DSDT, found through FADT.X_DSDT (or FADT.DSDT) */
};
#define ACPI_MAX_TABLES         32
/* The root table (XSDT, or the RSDT if revision < 2 or no XSDT address), every table it
 * lists and, right after the FADT, its DSDT.  Returns how many were stored (<= max). */
unsigned acpi_list_tables(const struct boot_info *bi, uint64_t rsdp, struct acpi_table_info *out,
                          unsigned max);

/* FADT (ACPI 6.5 section 5.2.9, table 5.9) fields used by the tests. */
#define FADT_DSDT               40
#define FADT_CENTURY            108
#define FADT_FLAGS              112
#define FADT_RESET_REG          116
#define FADT_RESET_VALUE        128
#define FADT_MINOR_VERSION      131
#define FADT_X_DSDT             140
#define FADT_SLEEP_CONTROL_REG  244
#define FADT_SLEEP_STATUS_REG   256
#define FADT_FLAG_RESET_REG_SUP (1u << 10)
#define FADT_FLAG_HW_REDUCED    (1u << 20)

/* Generic Address Structure (section 5.2.3.2). */
#define GAS_SPACE_MEMORY        0
#define GAS_SPACE_IO            1
struct acpi_gas {
    uint8_t space, bit_width, bit_offset, access_size;
    uint64_t address;
};
/* A field of the FADT at fadt; 0 (all-zero GAS: false) if the table is too short for it. */
uint64_t fadt_read(uint64_t fadt, uint32_t offset, uint32_t size);
bool fadt_read_gas(uint64_t fadt, uint32_t offset, struct acpi_gas *out);
/* X_DSDT if the FADT is long enough and it is non-zero, else DSDT. */
uint64_t fadt_dsdt(uint64_t fadt);
/* A checksummed ACPI table by signature via XSDT (or RSDT); 0 if none. */
uint64_t acpi_find_table(const struct boot_info *bi, uint64_t rsdp, const char sig[4]);

bool madt_read_cpus(const struct boot_info *bi, uint64_t rsdp, struct cpu_list *out);
/* Scans the last KiB of base memory, the EBDA and 0xf0000-0xfffff for "_MP_". */
bool mptable_read_cpus(const struct boot_info *bi, struct cpu_list *out);

/* Sum of n bytes (ACPI and MP checksums are zero when valid). */
uint8_t byte_sum(const void *p, uint64_t n);

#endif
