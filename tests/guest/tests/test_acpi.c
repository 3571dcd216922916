/*
 * acpi: the guest-side check of the VMM's ACPI tables, as Linux reads them.
 *   - the RSDP by Linux's scan only (first KiB of the EBDA, then 0xe0000-0xfffff on
 *     16-byte boundaries), checksum (20 bytes) and extended checksum (36 bytes);
 *   - the XSDT (the RSDT only without one), every table it lists and the DSDT from
 *     FADT.X_DSDT, each checksum validated;
 *   - FADT flags bit 20 HW_REDUCED_ACPI; the enabled CPUs of the MADT (types 0 and 9),
 *     compared with `cpus=N` if given; `_S5_` in the DSDT's AML;
 *   - then S5 through SLEEP_CONTROL_REG: (SLP_TYP << 2) | SLP_EN (bit 5), one byte.
 * acpi-reset: the same table checks, then RESET_VALUE to RESET_REG.
 * Registers in SystemIO (the VMM's) and SystemMemory (QEMU microvm's) are both written.
 * Exit: 3 reset ignored; 6 no RSDP; 7 poweroff ignored; 8 MADT missing or cpus mismatch;
 * 9 checksum failure; 10 not HW-reduced; 11 no FADT, no _S5_ or unusable register;
 * 98 bad cpus= argument.
 */
#include "cmdline.h"
#include "guest.h"
#include "io.h"
#include "phys.h"
#include "platform.h"

#define EXIT_RESET_IGNORED      3
#define EXIT_NO_RSDP            6
#define EXIT_POWEROFF_IGNORED   7
#define EXIT_CPU_COUNT          8
#define EXIT_BAD_CHECKSUM       9
#define EXIT_NOT_HW_REDUCED     10
#define EXIT_FADT_INCOMPLETE    11

#define ACPI_HEADER_SIZE        36
#define SLP_TYP_SHIFT           2
#define SLP_EN                  (1u << 5)
#define STILL_RUNNING_PAUSES    100000

/* AML opcodes (ACPI 6.5 section 20.2). */
#define AML_ZERO_OP             0x00
#define AML_ONE_OP              0x01
#define AML_NAME_OP             0x08
#define AML_BYTE_PREFIX         0x0a
#define AML_WORD_PREFIX         0x0b
#define AML_DWORD_PREFIX        0x0c
#define AML_QWORD_PREFIX        0x0e
#define AML_PACKAGE_OP          0x12
#define AML_ONES_OP             0xff
#define AML_ROOT_CHAR           '\\'

struct acpi_found {
    uint64_t rsdp, fadt, dsdt;
};

static struct acpi_table_info tables[ACPI_MAX_TABLES];
static struct cpu_list cpus;

/* RSDP by the scan, every table listed and checksummed; 0 or an exit code. */
static int check_tables(const struct boot_info *bi, struct acpi_found *f)
{
    uint64_t bad;
    *f = (struct acpi_found){0, 0, 0};
    f->rsdp = acpi_scan_rsdp(bi, &bad);
    if (!f->rsdp && bad) {
        printf("acpi: error: RSDP at 0x%lx (scan) has a bad checksum\n", bad);
        return EXIT_BAD_CHECKSUM;
    }
    if (!f->rsdp) {
        puts("acpi: error: no RSDP in the first KiB of the EBDA or in 0xe0000-0xfffff");
        return EXIT_NO_RSDP;
    }
    printf("acpi: rsdp at 0x%lx (scan)\n", f->rsdp);
    uint8_t rev = phys_read8(f->rsdp + 15);
    char oem[7];
    memcpy(oem, phys_ptr(f->rsdp + 9), 6);
    oem[6] = 0;
    printf("acpi: rsdp revision=%u oem=\"%s\" rsdt=0x%x xsdt=0x%lx\n", rev, oem,
           phys_read32(f->rsdp + 16), rev >= 2 ? phys_read64(f->rsdp + 24) : 0);
    if (bi->rsdp_paddr && bi->rsdp_paddr != f->rsdp)
        printf("acpi: note: the boot protocol passed rsdp 0x%lx\n", bi->rsdp_paddr);

    unsigned n = acpi_list_tables(bi, f->rsdp, tables, ACPI_MAX_TABLES);
    bool all_ok = true;
    for (unsigned i = 0; i < n; i++) {
        const struct acpi_table_info *t = &tables[i];
        if (t->ok) {
            printf("acpi: %s len=%u ok\n", t->sig, t->len);
        } else {
            printf("acpi: error: %s at 0x%lx len=%u: bad checksum, length or address\n", t->sig,
                   t->addr, t->len);
            all_ok = false;
        }
        if (t->ok && !f->fadt && memcmp(t->sig, "FACP", 4) == 0)
            f->fadt = t->addr;
        if (t->ok && t->from_fadt && !f->dsdt && f->fadt)
            f->dsdt = t->addr;
    }
    if (!all_ok)
        return EXIT_BAD_CHECKSUM;
    if (!f->fadt) {
        puts("acpi: error: no FADT (FACP)");
        return EXIT_FADT_INCOMPLETE;
    }
    return 0;
}

/* `Name(_S5_, Package(){SLP_TYPa, ...})` anywhere in the AML: the first element. */
static bool find_s5(uint64_t dsdt, uint64_t *slp_typ)
{
    const uint8_t *p = phys_ptr(dsdt);
    uint32_t len = phys_read32(dsdt + 4);
    for (uint32_t i = ACPI_HEADER_SIZE; i + 8 < len; i++) {
        if (p[i] != AML_NAME_OP)
            continue;
        uint32_t j = i + 1;
        if (p[j] == AML_ROOT_CHAR)
            j++;
        if (j + 6 > len || memcmp(p + j, "_S5_", 4) != 0 || p[j + 4] != AML_PACKAGE_OP)
            continue;
        j += 5;
        j += 1u + (p[j] >> 6);  /* PkgLength: lead byte + 0..3 more bytes */
        j += 1;                 /* NumElements */
        if (j >= len)
            return false;
        uint8_t op = p[j];
        unsigned size = op == AML_BYTE_PREFIX    ? 1
                        : op == AML_WORD_PREFIX  ? 2
                        : op == AML_DWORD_PREFIX ? 4
                        : op == AML_QWORD_PREFIX ? 8
                                                 : 0;
        if (op == AML_ZERO_OP || op == AML_ONE_OP) {
            *slp_typ = op;
        } else if (op == AML_ONES_OP) {
            *slp_typ = ~0ull;
        } else if (size && j + size < len) {
            uint64_t v = 0;
            for (unsigned k = size; k > 0; k--)
                v = v << 8 | p[j + k];
            *slp_typ = v;
        } else {
            printf("acpi: error: _S5_ at DSDT+0x%x: unsupported element opcode 0x%02x\n", i, op);
            return false;
        }
        return true;
    }
    return false;
}

static const char *space_name(uint8_t space)
{
    return space == GAS_SPACE_IO ? "io" : space == GAS_SPACE_MEMORY ? "memory" : "unsupported";
}

/* Prints the register and the value; false if it is neither SystemIO nor usable SystemMemory. */
static bool check_gas(const struct boot_info *bi, const char *what, const struct acpi_gas *g,
                      uint8_t v)
{
    printf("acpi: %s %s 0x%lx <- 0x%02x\n", what, space_name(g->space), g->address, v);
    if (g->address && ((g->space == GAS_SPACE_IO && g->address <= 0xffff) ||
                       (g->space == GAS_SPACE_MEMORY && phys_mapped(bi, g->address, 1))))
        return true;
    printf("acpi: error: %s is not a usable SystemIO or SystemMemory register\n", what);
    return false;
}

static void write_gas8(const struct acpi_gas *g, uint8_t v)
{
    if (g->space == GAS_SPACE_IO)
        outb((uint16_t)g->address, v);
    else
        mmio_write8(g->address, v);
}

static int test_acpi(const struct boot_info *bi)
{
    uint64_t want_cpus = 0;
    int arg = cmdline_get_u64("cpus", &want_cpus);
    if (arg == -2) {
        puts("acpi: error: cpus=N must be a number");
        return EXIT_BAD_ARGUMENT;
    }
    struct acpi_found f;
    int rc = check_tables(bi, &f);
    if (rc)
        return rc;

    uint32_t flags = (uint32_t)fadt_read(f.fadt, FADT_FLAGS, 4);
    bool hw_reduced = (flags & FADT_FLAG_HW_REDUCED) != 0;
    printf("acpi: fadt revision=%u.%lu flags=0x%08x hw_reduced=%s\n", phys_read8(f.fadt + 8),
           fadt_read(f.fadt, FADT_MINOR_VERSION, 1), flags, hw_reduced ? "yes" : "no");
    if (!hw_reduced) {
        puts("acpi: error: the FADT is not hardware-reduced (flags bit 20 clear)");
        rc = EXIT_NOT_HW_REDUCED;
    }

    if (madt_read_cpus(bi, f.rsdp, &cpus)) {
        printf("acpi: madt cpus=%u\n", cpus.count);
        if (arg == 0 && want_cpus != cpus.count) {
            printf("acpi: error: the MADT lists %u cpus, the command line says cpus=%lu\n",
                   cpus.count, want_cpus);
            rc = rc ? rc : EXIT_CPU_COUNT;
        }
    } else {
        puts("acpi: error: no valid MADT (APIC)");
        rc = rc ? rc : EXIT_CPU_COUNT;
    }

    uint64_t slp_typ = 0;
    if (!f.dsdt) {
        puts("acpi: error: the FADT names no DSDT");
        rc = rc ? rc : EXIT_FADT_INCOMPLETE;
    } else if (!find_s5(f.dsdt, &slp_typ)) {
        puts("acpi: error: no Name(_S5_, Package(){...}) in the DSDT");
        rc = rc ? rc : EXIT_FADT_INCOMPLETE;
    } else {
        printf("acpi: s5 slp_typ=%lu\n", slp_typ);
        if (slp_typ > 7) {
            puts("acpi: error: SLP_TYP does not fit in 3 bits");
            rc = rc ? rc : EXIT_FADT_INCOMPLETE;
        }
    }
    if (rc)
        return rc;

    struct acpi_gas ctl;
    fadt_read_gas(f.fadt, FADT_SLEEP_CONTROL_REG, &ctl);
    uint8_t v = (uint8_t)(slp_typ << SLP_TYP_SHIFT | SLP_EN);
    if (!check_gas(bi, "sleep_control_reg", &ctl, v))
        return EXIT_FADT_INCOMPLETE;
    puts("acpi: poweroff requested");
    write_gas8(&ctl, v);
    pause_delay(STILL_RUNNING_PAUSES);
    puts("acpi: error: still running after the poweroff request");
    return EXIT_POWEROFF_IGNORED;
}

static int test_acpi_reset(const struct boot_info *bi)
{
    struct acpi_found f;
    int rc = check_tables(bi, &f);
    if (rc)
        return rc;
    uint32_t flags = (uint32_t)fadt_read(f.fadt, FADT_FLAGS, 4);
    printf("acpi: fadt revision=%u.%lu flags=0x%08x reset_reg_sup=%s\n", phys_read8(f.fadt + 8),
           fadt_read(f.fadt, FADT_MINOR_VERSION, 1), flags,
           flags & FADT_FLAG_RESET_REG_SUP ? "yes" : "no");
    struct acpi_gas reg;
    if (!(flags & FADT_FLAG_RESET_REG_SUP) || !fadt_read_gas(f.fadt, FADT_RESET_REG, &reg)) {
        puts("acpi: error: the FADT has no RESET_REG (flags bit 10 clear or table too short)");
        return EXIT_FADT_INCOMPLETE;
    }
    uint8_t v = (uint8_t)fadt_read(f.fadt, FADT_RESET_VALUE, 1);
    if (!check_gas(bi, "reset_reg", &reg, v))
        return EXIT_FADT_INCOMPLETE;
    puts("acpi: reset requested");
    write_gas8(&reg, v);
    pause_delay(STILL_RUNNING_PAUSES);
    puts("acpi: error: still running after the reset request");
    return EXIT_RESET_IGNORED;
}

GUEST_TEST(acpi, "acpi", test_acpi);
GUEST_TEST(acpi_reset, "acpi-reset", test_acpi_reset);
