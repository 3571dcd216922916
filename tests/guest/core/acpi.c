/*
 * ACPI, read-only: find the RSDP (ACPI 6.5 section 5.2.5.1: boot protocol,
 * else the first KiB of the EBDA and 0xe0000-0xfffff on 16-byte boundaries),
 * walk the XSDT (or RSDT for revision 0) and read processors from the MADT
 * (section 5.2.12: type 0 Processor Local APIC, type 9 Processor Local x2APIC,
 * flags bit 0 = enabled).  Every table's checksum is validated.  Also lists
 * all tables (with the DSDT from the FADT) and reads FADT fields.
 */
#include "guest.h"
#include "phys.h"
#include "platform.h"

#define ACPI_HEADER_SIZE        36
#define MADT_ENTRIES_OFFSET     44      /* header + local APIC address + flags */
#define MADT_TYPE_LAPIC         0
#define MADT_TYPE_X2APIC        9
#define MADT_ENABLED            1u
#define ACPI_MAX_TABLE_SIZE     (1u << 20)


uint8_t byte_sum(const void *p, uint64_t n)
{
    const uint8_t *b = p;
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *b++);
    return s;
}

static bool rsdp_valid(const struct boot_info *bi, uint64_t a)
{
    if (!phys_mapped(bi, a, 36) || memcmp(phys_ptr(a), "RSD PTR ", 8) != 0)
        return false;
    if (byte_sum(phys_ptr(a), 20) != 0)
        return false;
    if (phys_read8(a + 15) >= 2 && byte_sum(phys_ptr(a), 36) != 0)
        return false;
    return true;
}

static uint64_t scan_rsdp(const struct boot_info *bi, uint64_t start, uint64_t len, uint64_t *bad)
{
    for (uint64_t a = start; a + 20 <= start + len; a += 16) {
        if (phys_read64(a) != 0x2052545020445352ull /* "RSD PTR " */)
            continue;
        if (rsdp_valid(bi, a))
            return a;
        if (!*bad)
            *bad = a;
    }
    return 0;
}

uint64_t acpi_scan_rsdp(const struct boot_info *bi, uint64_t *bad)
{
    /* ACPICA's acpi_find_root_pointer(): the EBDA pointer is a real-mode segment. */
    uint64_t ebda = (uint64_t)phys_read16(BDA_EBDA_SEGMENT) << 4;
    uint64_t r = 0;
    *bad = 0;
    if (ebda > 0x400 && ebda < 0xa0000)
        r = scan_rsdp(bi, ebda, 1024, bad);
    if (!r)
        r = scan_rsdp(bi, 0xe0000, 0x20000, bad);
    if (r)
        *bad = 0;
    return r;
}

uint64_t acpi_find_rsdp(const struct boot_info *bi, const char **how)
{
    if (bi->rsdp_paddr) {
        *how = "boot protocol";
        return rsdp_valid(bi, bi->rsdp_paddr) ? bi->rsdp_paddr : 0;
    }
    *how = "bios scan";
    uint64_t bad;
    return acpi_scan_rsdp(bi, &bad);
}

/* A table at a, checked: mapped, plausible length, checksum zero. */
static bool table_valid(const struct boot_info *bi, uint64_t a)
{
    if (!a || !phys_mapped(bi, a, ACPI_HEADER_SIZE))
        return false;
    uint32_t len = phys_read32(a + 4);
    return len >= ACPI_HEADER_SIZE && len <= ACPI_MAX_TABLE_SIZE && phys_mapped(bi, a, len) &&
           byte_sum(phys_ptr(a), len) == 0;
}

/* The root table and its entry size: the XSDT (revision >= 2 with an address), else the RSDT. */
static uint64_t acpi_root(uint64_t rsdp, unsigned *entry_size)
{
    bool xsdt = phys_read8(rsdp + 15) >= 2 && phys_read64(rsdp + 24) != 0;
    *entry_size = xsdt ? 8 : 4;
    return xsdt ? phys_read64(rsdp + 24) : phys_read32(rsdp + 16);
}

static uint64_t root_entry(uint64_t e, unsigned entry_size)
{
    return entry_size == 8 ? phys_read64(e) : phys_read32(e);
}

uint64_t acpi_find_table(const struct boot_info *bi, uint64_t rsdp, const char sig[4])
{
    unsigned entry_size;
    uint64_t root = acpi_root(rsdp, &entry_size);
    if (!table_valid(bi, root))
        return 0;
    uint32_t len = phys_read32(root + 4);
    for (uint64_t e = root + ACPI_HEADER_SIZE; e + entry_size <= root + len; e += entry_size) {
        uint64_t t = root_entry(e, entry_size);
        if (table_valid(bi, t) && memcmp(phys_ptr(t), sig, 4) == 0)
            return t;
    }
    return 0;
}

uint64_t fadt_read(uint64_t fadt, uint32_t offset, uint32_t size)
{
    if (offset + size > phys_read32(fadt + 4))
        return 0;
    switch (size) {
    case 1:
        return phys_read8(fadt + offset);
    case 2:
        return phys_read16(fadt + offset);
    case 4:
        return phys_read32(fadt + offset);
    default:
        return phys_read64(fadt + offset);
    }
}

bool fadt_read_gas(uint64_t fadt, uint32_t offset, struct acpi_gas *out)
{
    *out = (struct acpi_gas){0, 0, 0, 0, 0};
    if (offset + 12 > phys_read32(fadt + 4))
        return false;
    out->space = phys_read8(fadt + offset);
    out->bit_width = phys_read8(fadt + offset + 1);
    out->bit_offset = phys_read8(fadt + offset + 2);
    out->access_size = phys_read8(fadt + offset + 3);
    out->address = phys_read64(fadt + offset + 4);
    return true;
}

uint64_t fadt_dsdt(uint64_t fadt)
{
    uint64_t x = fadt_read(fadt, FADT_X_DSDT, 8);
    return x ? x : fadt_read(fadt, FADT_DSDT, 4);
}

static void copy_printable(char *dst, const volatile uint8_t *src, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
    dst[n] = 0;
}

static void table_info(const struct boot_info *bi, uint64_t a, bool from_fadt,
                       struct acpi_table_info *t)
{
    memset(t, 0, sizeof(*t));
    t->addr = a;
    t->from_fadt = from_fadt;
    if (!a || !phys_mapped(bi, a, ACPI_HEADER_SIZE)) {
        memcpy(t->sig, "????", 5);
        return;
    }
    const volatile uint8_t *h = phys_ptr_v(a);
    copy_printable(t->sig, h, 4);
    copy_printable(t->oem_id, h + 10, 6);
    for (int i = 5; i >= 0 && t->oem_id[i] == ' '; i--)
        t->oem_id[i] = 0;
    t->len = phys_read32(a + 4);
    t->revision = phys_read8(a + 8);
    t->ok = table_valid(bi, a);
}

unsigned acpi_list_tables(const struct boot_info *bi, uint64_t rsdp, struct acpi_table_info *out,
                          unsigned max)
{
    unsigned entry_size, n = 0;
    uint64_t root = acpi_root(rsdp, &entry_size);
    if (!max)
        return 0;
    table_info(bi, root, false, &out[n++]);
    if (!out[0].ok)
        return n;
    for (uint64_t e = root + ACPI_HEADER_SIZE; e + entry_size <= root + out[0].len && n < max;
         e += entry_size) {
        struct acpi_table_info *t = &out[n++];
        table_info(bi, root_entry(e, entry_size), false, t);
        if (t->ok && memcmp(t->sig, "FACP", 4) == 0 && n < max)
            table_info(bi, fadt_dsdt(t->addr), true, &out[n++]);
    }
    return n;
}

static void add_cpu(struct cpu_list *out, uint32_t apic_id)
{
    for (unsigned i = 0; i < out->count; i++)
        if (out->apic_id[i] == apic_id)
            return;
    if (out->count < CPU_LIST_MAX) {
        out->apic_id[out->count] = apic_id;
        out->table_bsp[out->count] = false;
        out->count++;
    }
}

bool madt_read_cpus(const struct boot_info *bi, uint64_t rsdp, struct cpu_list *out)
{
    uint64_t madt = acpi_find_table(bi, rsdp, "APIC");
    if (!madt)
        return false;
    out->source = "madt";
    out->count = 0;
    uint64_t end = madt + phys_read32(madt + 4);
    for (uint64_t e = madt + MADT_ENTRIES_OFFSET; e + 2 <= end;) {
        uint8_t type = phys_read8(e), len = phys_read8(e + 1);
        if (len < 2 || e + len > end)
            break;
        if (type == MADT_TYPE_LAPIC && len >= 8 && (phys_read32(e + 4) & MADT_ENABLED))
            add_cpu(out, phys_read8(e + 3));
        else if (type == MADT_TYPE_X2APIC && len >= 16 && (phys_read32(e + 8) & MADT_ENABLED))
            add_cpu(out, phys_read32(e + 4));
        e += len;
    }
    return true;
}
