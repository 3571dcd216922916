/*
 * Intel MultiProcessor Specification 1.4, read-only: the floating pointer
 * ("_MP_", section 4.1) in the first KiB of the EBDA, the last KiB of base
 * memory or 0xf0000-0xfffff; the configuration table ("PCMP", section 4.2) and
 * its processor entries (type 0, section 4.3.1: flags bit 0 EN, bit 1 BP).
 * Default configurations (feature byte 1 != 0) are not supported.  The entries
 * are walked by the base table length; the entry count field is ignored.
 */
#include "guest.h"
#include "phys.h"
#include "platform.h"

#define MPF_SIGNATURE           0x5f504d5fu     /* "_MP_" */
#define MPC_HEADER_SIZE         44
#define MPC_PROCESSOR           0
#define MPC_PROCESSOR_SIZE      20
#define MPC_OTHER_SIZE          8               /* bus, I/O APIC, interrupt entries */
#define MPC_CPU_ENABLED         0x01
#define MPC_CPU_BSP             0x02


static uint64_t scan_mpf(uint64_t start, uint64_t len)
{
    for (uint64_t a = start; a + 16 <= start + len; a += 16) {
        if (phys_read32(a) != MPF_SIGNATURE)
            continue;
        uint8_t paragraphs = phys_read8(a + 8);
        if (paragraphs >= 1 && a + paragraphs * 16u <= start + len &&
            byte_sum(phys_ptr(a), paragraphs * 16u) == 0)
            return a;
    }
    return 0;
}

bool mptable_read_cpus(const struct boot_info *bi, struct cpu_list *out)
{
    uint64_t ebda = (uint64_t)phys_read16(BDA_EBDA_SEGMENT) << 4;
    uint64_t mpf = 0;
    if (ebda >= 0x400 && ebda < 0xa0000)
        mpf = scan_mpf(ebda, 1024);
    if (!mpf)
        mpf = scan_mpf(0x9fc00, 1024);
    if (!mpf)
        mpf = scan_mpf(0xf0000, 0x10000);
    if (!mpf)
        return false;
    if (phys_read8(mpf + 11) != 0) {
        printf("smp: MP floating pointer at 0x%lx uses default configuration %u (unsupported)\n", mpf,
               phys_read8(mpf + 11));
        return false;
    }
    uint64_t mpc = phys_read32(mpf + 4);
    if (!phys_mapped(bi, mpc, MPC_HEADER_SIZE) || memcmp(phys_ptr(mpc), "PCMP", 4) != 0)
        return false;
    uint16_t len = phys_read16(mpc + 4);
    if (len < MPC_HEADER_SIZE || !phys_mapped(bi, mpc, len) ||
        byte_sum(phys_ptr(mpc), len) != 0) {
        printf("smp: MP configuration table at 0x%lx has a bad length or checksum\n", mpc);
        return false;
    }

    out->source = "mptable";
    out->count = 0;
    /* Walk by base table length, as Linux does: some firmware leaves the entry count 0. */
    uint64_t e = mpc + MPC_HEADER_SIZE, end = mpc + len;
    while (e < end) {
        uint8_t type = phys_read8(e);
        uint64_t size = type == MPC_PROCESSOR ? MPC_PROCESSOR_SIZE : type <= 4 ? MPC_OTHER_SIZE : 0;
        if (!size || e + size > end)
            break;
        if (type == MPC_PROCESSOR && (phys_read8(e + 3) & MPC_CPU_ENABLED) && out->count < CPU_LIST_MAX) {
            out->apic_id[out->count] = phys_read8(e + 1);
            out->table_bsp[out->count] = (phys_read8(e + 3) & MPC_CPU_BSP) != 0;
            out->count++;
        }
        e += size;
    }
    return true;
}
