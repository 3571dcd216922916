/*
 * demo: a short report of the machine the VMM built, for a first run by hand:
 * boot protocol and command line, the memory map, the CPUs (from the MADT or the MP
 * table; the APs are started and must report in), COM1 (scratch register probe), the
 * CMOS RTC's date and time, the ACPI tables and the virtio-mmio devices named by
 * `virtio_mmio.device=<size>@<addr>:<irq>[:<id>]` (only those windows are read).
 * Ends with `demo: done`; exit 0 (it reports, it does not judge).
 */
#include "cmdline.h"
#include "guest.h"
#include "io.h"
#include "phys.h"
#include "platform.h"
#include "smp.h"
#include "virtio_mmio.h"

#define COM1_SCRATCH            0x3ff
#define CMOS_INDEX              0x70
#define CMOS_DATA               0x71
#define RTC_SECONDS             0x00
#define RTC_MINUTES             0x02
#define RTC_HOURS               0x04
#define RTC_DAY                 0x07
#define RTC_MONTH               0x08
#define RTC_YEAR                0x09
#define RTC_REG_A               0x0a
#define RTC_REG_B               0x0b
#define RTC_CENTURY             0x32    /* the PC/ACPI FADT convention */
#define RTC_A_UIP               0x80
#define RTC_B_24H               0x02
#define RTC_B_BINARY            0x04
#define RTC_HOUR_PM             0x80
#define RTC_UIP_MAX_POLLS       20000
#define RTC_READ_TRIES          5

#define VIRTIO_MMIO_REGS_END    0x010   /* demo reads only magic, version, device, vendor */

#define LABEL_INDENT            "               " /* 2 + label width 12 + 1 */
#define DEVICE_INDENT           LABEL_INDENT "        "

static struct cpu_list cpus;
static struct acpi_table_info tables[ACPI_MAX_TABLES];

/* "  label        " then the rest of the line; an empty label continues the previous item. */
PRINTF_LIKE(2, 3) static void row(const char *label, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("  %-12s ", label);
    vprintf(fmt, ap);
    va_end(ap);
}

static const char *protocol_title(uint32_t protocol)
{
    switch (protocol) {
    case BOOT_PROTO_PVH:
        return "PVH (hvm_start_info)";
    case BOOT_PROTO_LINUX64:
        return "Linux boot protocol, 64-bit entry";
    case BOOT_PROTO_LINUX32:
        return "Linux boot protocol, 32-bit entry";
    default:
        return "unknown";
    }
}

static const char *e820_type(uint32_t type)
{
    switch (type) {
    case MEM_TYPE_RAM:
        return "usable";
    case MEM_TYPE_RESERVED:
        return "reserved";
    case MEM_TYPE_ACPI:
        return "ACPI data";
    case MEM_TYPE_NVS:
        return "ACPI NVS";
    case MEM_TYPE_UNUSABLE:
        return "unusable";
    default:
        return "other";
    }
}

static void show_memory(const struct boot_info *bi)
{
    uint64_t usable = 0;
    for (uint32_t i = 0; i < bi->nr_mem; i++) {
        const struct mem_region *r = &bi->mem[i];
        uint64_t size = r->size;
        char amount[24];
        if (size >= (1ull << 20) && !(size & 0xfffff))
            snprintf(amount, sizeof(amount), "%7lu MiB", size >> 20);
        else if (size >= (1ull << 20))
            snprintf(amount, sizeof(amount), "%5lu.%lu MiB", size >> 20,
                     ((size & 0xfffff) * 10) >> 20);
        else if (!(size & 0x3ff))
            snprintf(amount, sizeof(amount), "%7lu KiB", size >> 10);
        else
            snprintf(amount, sizeof(amount), "%7lu B  ", size);
        row(i ? "" : "memory", "0x%010lx-0x%010lx %s  %s\n", r->addr, r->addr + size - 1, amount,
            e820_type(r->type));
        if (r->type == MEM_TYPE_RAM)
            usable += size;
    }
    if (!bi->nr_mem)
        row("memory", "no memory map\n");
    row("", "usable RAM: %lu.%lu MiB\n", usable >> 20, ((usable & 0xfffff) * 10) >> 20);
}

static bool find_cpus(const struct boot_info *bi)
{
    const char *how;
    uint64_t rsdp = acpi_find_rsdp(bi, &how);
    if (rsdp && madt_read_cpus(bi, rsdp, &cpus))
        return true;
    return mptable_read_cpus(bi, &cpus);
}

static void show_cpus(const struct boot_info *bi)
{
    if (!find_cpus(bi)) {
        row("cpus", "no ACPI MADT and no MP table: only this CPU\n");
        return;
    }
    row("cpus", "%u in the %s\n", cpus.count,
        strcmp(cpus.source, "madt") == 0 ? "ACPI MADT" : "MP table");
    lapic_init_bsp();
    uint32_t bsp = lapic_id();
    smp_prepare();
    smp_set_quiet(true);
    uint32_t started = 0;
    for (unsigned i = 0; i < cpus.count; i++)
        if (cpus.apic_id[i] != bsp && started < GUEST_MAX_APS && smp_start_ap(cpus.apic_id[i]))
            started++;
    smp_wait_reported(started);

    unsigned online = 0;
    for (unsigned i = 0; i < cpus.count; i++)
        if (cpus.apic_id[i] == bsp || smp_ap_reported_id(cpus.apic_id[i]))
            online++;
    printf("%s%u reported in, apic ids:", LABEL_INDENT, online);
    for (unsigned i = 0; i < cpus.count; i++) {
        uint32_t id = cpus.apic_id[i];
        if (id == bsp)
            printf(" %u (boot cpu)", id);
        else if (smp_ap_reported_id(id))
            printf(" %u", id);
    }
    printf("\n");
    if (online < cpus.count) {
        printf("%snot reporting:", LABEL_INDENT);
        for (unsigned i = 0; i < cpus.count; i++)
            if (cpus.apic_id[i] != bsp && !smp_ap_reported_id(cpus.apic_id[i]))
                printf(" %u", cpus.apic_id[i]);
        printf("\n");
    }
}

static void show_uart(void)
{
    uint8_t saved = inb(COM1_SCRATCH);
    outb(COM1_SCRATCH, 0x5a);
    bool a = inb(COM1_SCRATCH) == 0x5a;
    outb(COM1_SCRATCH, 0xa5);
    bool b = inb(COM1_SCRATCH) == 0xa5;
    outb(COM1_SCRATCH, saved);
    row("devices", "uart:   COM1 at 0x3f8 %s\n",
        a && b ? "present (scratch register works)" : "absent (scratch register reads back wrong)");
}

static uint8_t cmos_read(uint8_t reg)
{
    outb(CMOS_INDEX, reg);
    return inb(CMOS_DATA);
}

static bool rtc_wait_no_uip(void)
{
    for (unsigned i = 0; i < RTC_UIP_MAX_POLLS; i++)
        if (!(cmos_read(RTC_REG_A) & RTC_A_UIP))
            return true;
    return false;
}

struct rtc_time {
    uint8_t sec, min, hour, day, mon, year, century;
};

static bool rtc_read_once(struct rtc_time *t)
{
    if (!rtc_wait_no_uip())
        return false;
    t->sec = cmos_read(RTC_SECONDS);
    t->min = cmos_read(RTC_MINUTES);
    t->hour = cmos_read(RTC_HOURS);
    t->day = cmos_read(RTC_DAY);
    t->mon = cmos_read(RTC_MONTH);
    t->year = cmos_read(RTC_YEAR);
    t->century = cmos_read(RTC_CENTURY);
    return true;
}

static uint8_t bcd(uint8_t v) { return (uint8_t)((v & 0x0f) + (v >> 4) * 10); }

static void show_rtc(void)
{
    uint8_t a = cmos_read(RTC_REG_A);
    if (a == 0xff) {
        printf("%srtc:    absent (ports 0x70/0x71 read 0xff)\n", LABEL_INDENT);
        return;
    }
    /* Read until two consecutive reads agree (an update may slip in between). */
    struct rtc_time t, again;
    bool ok = false;
    for (int i = 0; i < RTC_READ_TRIES && !ok; i++)
        ok = rtc_read_once(&t) && rtc_read_once(&again) && memcmp(&t, &again, sizeof(t)) == 0;
    if (!ok) {
        printf("%srtc:    no stable reading (update in progress does not clear)\n", LABEL_INDENT);
        return;
    }
    uint8_t regb = cmos_read(RTC_REG_B);
    bool pm = !(regb & RTC_B_24H) && (t.hour & RTC_HOUR_PM);
    t.hour &= (uint8_t)~RTC_HOUR_PM;
    if (!(regb & RTC_B_BINARY)) {
        t.sec = bcd(t.sec);
        t.min = bcd(t.min);
        t.hour = bcd(t.hour);
        t.day = bcd(t.day);
        t.mon = bcd(t.mon);
        t.year = bcd(t.year);
        t.century = bcd(t.century);
    }
    if (!(regb & RTC_B_24H))
        t.hour = (uint8_t)(t.hour % 12 + (pm ? 12 : 0));
    unsigned year = t.century >= 19 && t.century <= 21 ? t.century * 100u + t.year
                    : t.year < 70                      ? 2000u + t.year
                                                       : 1900u + t.year;
    bool valid = t.sec < 60 && t.min < 60 && t.hour < 24 && t.day >= 1 && t.day <= 31 &&
                 t.mon >= 1 && t.mon <= 12 && t.year < 100;
    printf("%srtc:    %04u-%02u-%02u %02u:%02u:%02u UTC%s\n", LABEL_INDENT, year, t.mon, t.day, t.hour, t.min, t.sec,
        valid ? "" : " (invalid)");
}

static void show_acpi(const struct boot_info *bi)
{
    const char *how;
    uint64_t rsdp = acpi_find_rsdp(bi, &how);
    if (!rsdp) {
        row("acpi", "none (no RSDP)\n");
        return;
    }
    char oem[7];
    memcpy(oem, phys_ptr(rsdp + 9), 6);
    oem[6] = 0;
    for (int i = 5; i >= 0 && oem[i] == ' '; i--)
        oem[i] = 0;
    row("acpi", "RSDP at 0x%lx (%s), revision %u, OEM \"%s\"\n", rsdp, how,
        phys_read8(rsdp + 15), oem);
    unsigned n = acpi_list_tables(bi, rsdp, tables, ACPI_MAX_TABLES);
    for (unsigned i = 0; i < n; i++) {
        const struct acpi_table_info *t = &tables[i];
        printf("%s%s %6u bytes  OEM %s%s", LABEL_INDENT, t->sig, t->len, t->oem_id,
               t->ok ? "" : ", BAD CHECKSUM");
        if (t->ok && memcmp(t->sig, "FACP", 4) == 0)
            printf(", %s", fadt_read(t->addr, FADT_FLAGS, 4) & FADT_FLAG_HW_REDUCED
                               ? "hardware-reduced"
                               : "not hardware-reduced");
        printf("\n");
    }
}

static const char *virtio_name(uint32_t id)
{
    switch (id) {
    case 0:
        return "no device";
    case 1:
        return "net";
    case 2:
        return "block";
    case 3:
        return "console";
    case 4:
        return "entropy";
    case 5:
        return "balloon";
    case 9:
        return "9p";
    case 16:
        return "gpu";
    case 18:
        return "input";
    case 19:
        return "vsock";
    case 26:
        return "fs";
    default:
        return "other";
    }
}

static void show_virtio(const struct boot_info *bi)
{
    unsigned shown = 0;
    for (unsigned i = 0; i < cmdline_count(); i++) {
        const char *key, *value;
        cmdline_arg(i, &key, &value);
        if (strcmp(key, "virtio_mmio.device") != 0)
            continue;
        shown++;
        uint64_t size, addr, irq;
        if (!virtio_mmio_parse(value, &size, &addr, &irq)) {
            printf("%svirtio: \"%s\" is not <size>@<addr>:<irq>\n", LABEL_INDENT, value);
            continue;
        }
        if (size < VIRTIO_MMIO_REGS_END || (addr & 3) ||
            !phys_mapped(bi, addr, VIRTIO_MMIO_REGS_END)) {
            printf("%svirtio: 0x%lx irq %lu: window of 0x%lx bytes too small or unmapped\n", LABEL_INDENT,
                   addr, irq, size);
            continue;
        }
        uint32_t magic = mmio_read32(addr + VIRTIO_MMIO_MAGIC);
        uint32_t version = mmio_read32(addr + VIRTIO_MMIO_VERSION);
        uint32_t device = mmio_read32(addr + VIRTIO_MMIO_DEVICE_ID);
        uint32_t vendor = mmio_read32(addr + VIRTIO_MMIO_VENDOR_ID);
        printf("%svirtio: 0x%lx irq %lu: %s (device id %u)\n", LABEL_INDENT, addr, irq,
               virtio_name(device), device);
        printf("%smagic 0x%08x %s, version %u, vendor 0x%08x\n", DEVICE_INDENT, magic,
               magic == VIRTIO_MMIO_MAGIC_VALUE ? "(\"virt\")" : "(not \"virt\"!)", version, vendor);
    }
    if (!shown)
        printf("%svirtio: none\n", LABEL_INDENT);
}

static int test_demo(const struct boot_info *bi)
{
    puts("");
    puts("  minivmm test guest: the machine this VMM built");
    puts("");
    row("boot", "%s\n", protocol_title(bi->protocol));
    row("cmdline", "%s%s\n", bi->cmdline, bi->cmdline_truncated ? " (truncated)" : "");
    show_memory(bi);
    show_cpus(bi);
    show_uart();
    show_rtc();
    show_virtio(bi);
    show_acpi(bi);
    puts("");
    puts("demo: done");
    return EXIT_PASS;
}

GUEST_TEST(demo, "demo", test_demo);
