/*
 * smp: processors from the ACPI MADT (if an RSDP is found) else the MP table
 * (`source=madt|mptable` forces one), then every AP started with INIT-SIPI-SIPI
 * into the real-mode trampoline; each AP prints its APIC ID and counts itself.
 * Exit 0: all listed CPUs reported; 5: some did not; 6: no MADT and no MP
 * table; 98: bad source= argument.
 */
#include "cmdline.h"
#include "guest.h"
#include "io.h"
#include "platform.h"
#include "smp.h"

#define EXIT_CPUS_MISSING       5
#define EXIT_NO_CPU_TABLE       6

static struct cpu_list cpus;

static bool find_cpus(const struct boot_info *bi, const char *force)
{
    if (!force || strcmp(force, "madt") == 0) {
        const char *how;
        uint64_t rsdp = acpi_find_rsdp(bi, &how);
        if (rsdp) {
            printf("smp: RSDP at 0x%lx (%s)\n", rsdp, how);
            if (madt_read_cpus(bi, rsdp, &cpus))
                return true;
            puts("smp: no valid MADT");
        } else {
            printf("smp: no valid RSDP (%s)\n", how);
        }
    }
    if (!force || strcmp(force, "mptable") == 0) {
        if (mptable_read_cpus(bi, &cpus))
            return true;
        puts("smp: no valid MP table");
    }
    return false;
}

static int test_smp(const struct boot_info *bi)
{
    const char *force = cmdline_get("source");
    if (force && strcmp(force, "madt") != 0 && strcmp(force, "mptable") != 0) {
        printf("smp: error: source=%s (want madt or mptable)\n", force);
        return EXIT_BAD_ARGUMENT;
    }
    if (!find_cpus(bi, force)) {
        puts("smp: error: no processor table found");
        return EXIT_NO_CPU_TABLE;
    }
    printf("smp: source=%s cpus=%u\n", cpus.source, cpus.count);

    lapic_init_bsp();
    uint32_t bsp = lapic_id();
    printf("smp: bsp apic id %u%s\n", bsp, lapic_x2apic_mode() ? " (x2apic)" : "");
    smp_prepare();
    bool bsp_listed = false;
    uint32_t started = 0;
    for (unsigned i = 0; i < cpus.count; i++) {
        uint32_t id = cpus.apic_id[i];
        if (cpus.table_bsp[i] && id != bsp)
            printf("smp: warning: the %s marks apic id %u as the BSP\n", cpus.source, id);
        if (id == bsp) {
            bsp_listed = true;
            continue;
        }
        if (started >= GUEST_MAX_APS) {
            printf("smp: error: apic id %u: more than %u APs\n", id, GUEST_MAX_APS);
            continue;
        }
        printf("smp: starting apic id %u\n", id);
        if (smp_start_ap(id))
            started++;
        else
            printf("smp: error: apic id %u: IPI not delivered\n", id);
    }
    if (!bsp_listed)
        printf("smp: error: bsp apic id %u is not in the %s\n", bsp, cpus.source);

    uint32_t reported = smp_wait_reported(started);
    for (unsigned i = 0; i < cpus.count; i++)
        if (cpus.apic_id[i] != bsp && !smp_ap_reported_id(cpus.apic_id[i]))
            printf("smp: apic id %u did not report\n", cpus.apic_id[i]);
    uint32_t total = reported + (bsp_listed ? 1 : 0);
    printf("smp: %u of %u cpus reported\n", total, cpus.count);
    return bsp_listed && total == cpus.count ? EXIT_PASS : EXIT_CPUS_MISSING;
}

GUEST_TEST(smp, "smp", test_smp);
