/*
 * ACPI, read-only: find the RSDP (ACPI 6.5 section 5.2.5.1: boot protocol,
 * else the first KiB of the EBDA and 0xe0000-0xfffff on 16-byte boundaries),
 * walk the XSDT (or RSDT for revision 0) and read processors from the MADT
 * (section 5.2.12: type 0 Processor Local APIC, type 9 Processor Local x2APIC,
 * flags bit 0 = enabled).  Every table's checksum is validated.
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

static uint64_t scan_rsdp(const struct boot_info *bi, uint64_t start, uint64_t len)
{
    for (uint64_t a = start; a + 20 <= start + len; a += 16)
        if (phys_read64(a) == 0x2052545020445352ull /* "RSD PTR " */ && rsdp_valid(bi, a))
            return a;
    return 0;
}

uint64_t acpi_find_rsdp(const struct boot_info *bi, const char **how)
{
    if (bi->rsdp_paddr) {
        *how = "boot protocol";
        return rsdp_valid(bi, bi->rsdp_paddr) ? bi->rsdp_paddr : 0;
    }
    *how = "bios scan";
    uint64_t ebda = (uint64_t)phys_read16(BDA_EBDA_SEGMENT) << 4;
    uint64_t r = 0;
    if (ebda >= 0x400 && ebda < 0xa0000)
        r = scan_rsdp(bi, ebda, 1024);
    if (!r)
        r = scan_rsdp(bi, 0xe0000, 0x20000);
    return r;
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

uint64_t acpi_find_table(const struct boot_info *bi, uint64_t rsdp, const char sig[4])
{
    bool xsdt = phys_read8(rsdp + 15) >= 2 && phys_read64(rsdp + 24) != 0;
    uint64_t root = xsdt ? phys_read64(rsdp + 24) : phys_read32(rsdp + 16);
    unsigned entry_size = xsdt ? 8 : 4;
    if (!table_valid(bi, root))
        return 0;
    uint32_t len = phys_read32(root + 4);
    for (uint64_t e = root + ACPI_HEADER_SIZE; e + entry_size <= root + len; e += entry_size) {
        uint64_t t = xsdt ? phys_read64(e) : phys_read32(e);
        if (table_valid(bi, t) && memcmp(phys_ptr(t), sig, 4) == 0)
            return t;
    }
    return 0;
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
