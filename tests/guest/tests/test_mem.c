/*
 * mem: the memory map the guest received, then a few words of every usable
 * RAM region (first, middle and last 8-byte word, each with its own pattern)
 * plus the words named by `addr=A[,B...]`: all written first, then all read
 * back, so aliasing between regions shows up as a mismatch.
 * Skipped: below 2 MiB (the guest itself), words inside the initrd (moved to
 * its edge when possible), anything beyond the identity map.
 * Exit 0: all words read back; 2: mismatch; 98: bad addr= argument.
 */
#include "cmdline.h"
#include "guest.h"
#include "io.h"

#define EXIT_MISMATCH           2
#define MEM_TEST_FLOOR          0x200000ull
#define MEM_MAX_WORDS           (BOOT_MAX_MEM_REGIONS * 3 + 64)

static uint64_t words[MEM_MAX_WORDS];
static unsigned nwords;

static uint64_t pattern(uint64_t addr, unsigned i)
{
    return (addr ^ 0x5a5aa5a5c3c33c3cull) + (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull;
}

static bool in_initrd(const struct boot_info *bi, uint64_t a)
{
    return bi->initrd_size && a + 8 > bi->initrd_addr && a < bi->initrd_addr + bi->initrd_size;
}

static void add_word(uint64_t a)
{
    for (unsigned i = 0; i < nwords; i++)
        if (words[i] == a)
            return;
    if (nwords < MEM_MAX_WORDS)
        words[nwords++] = a;
}

/* Add a word of [lo, hi) (8-aligned bounds), moved out of the initrd if needed. */
static void add_region_word(const struct boot_info *bi, uint64_t a, uint64_t lo, uint64_t hi)
{
    if (in_initrd(bi, a)) {
        uint64_t above = (bi->initrd_addr + bi->initrd_size + 7) & ~7ull;
        uint64_t below = (bi->initrd_addr & ~7ull) - 8;
        if (above + 8 <= hi)
            a = above;
        else if (bi->initrd_addr >= lo + 8 && below >= lo)
            a = below;
        else
            return;
    }
    add_word(a);
}

static bool in_usable_ram(const struct boot_info *bi, uint64_t a)
{
    for (uint32_t i = 0; i < bi->nr_mem; i++) {
        const struct mem_region *r = &bi->mem[i];
        if (r->type == MEM_TYPE_RAM && a >= r->addr && a + 8 <= r->addr + r->size)
            return true;
    }
    return false;
}

/* addr=A[,B...]: each must be 8-byte aligned usable RAM at or above 2 MiB, mapped. */
static bool add_argument_words(const struct boot_info *bi)
{
    const char *p = cmdline_get("addr");
    if (!p)
        return true;
    while (*p) {
        uint64_t a;
        const char *end;
        if (!parse_u64(p, &end, &a) || (*end && *end != ',')) {
            printf("mem: error: bad addr= list at '%s'\n", p);
            return false;
        }
        if ((a & 7) || a < MEM_TEST_FLOOR || !phys_mapped(bi, a, 8) || !in_usable_ram(bi, a)) {
            printf("mem: error: addr 0x%lx is not an aligned, mapped, usable RAM word above 2 MiB\n", a);
            return false;
        }
        add_word(a);
        p = *end ? end + 1 : end;
    }
    return true;
}

static int test_mem(const struct boot_info *bi)
{
    printf("mem: %u e820 entries, identity map up to 0x%lx\n", bi->nr_mem, bi->mapped_limit);
    for (uint32_t i = 0; i < bi->nr_mem; i++)
        printf("e820: 0x%016lx 0x%016lx %u\n", bi->mem[i].addr, bi->mem[i].size, bi->mem[i].type);

    nwords = 0;
    for (uint32_t i = 0; i < bi->nr_mem; i++) {
        const struct mem_region *r = &bi->mem[i];
        if (r->type != MEM_TYPE_RAM || r->addr + r->size < r->addr)
            continue;
        uint64_t lo = (max_u64(r->addr, MEM_TEST_FLOOR) + 7) & ~7ull;
        uint64_t hi = min_u64(r->addr + r->size, bi->mapped_limit) & ~7ull;
        if (r->addr + r->size > bi->mapped_limit)
            printf("mem: region 0x%lx-0x%lx: only tested below 0x%lx\n", r->addr, r->addr + r->size,
                   bi->mapped_limit);
        if (hi < lo + 8)
            continue;
        add_region_word(bi, lo, lo, hi);
        add_region_word(bi, (lo + (hi - lo) / 2) & ~7ull, lo, hi);
        add_region_word(bi, hi - 8, lo, hi);
    }
    if (!add_argument_words(bi))
        return EXIT_BAD_ARGUMENT;
    if (!nwords) {
        puts("mem: error: no usable RAM above 2 MiB to test");
        return EXIT_MISMATCH;
    }

    for (unsigned i = 0; i < nwords; i++)
        mmio_write64(words[i], pattern(words[i], i));
    uint64_t highest = 0;
    unsigned bad = 0;
    for (unsigned i = 0; i < nwords; i++) {
        uint64_t want = pattern(words[i], i), got = mmio_read64(words[i]);
        if (got != want) {
            printf("mem: MISMATCH at 0x%lx: wrote 0x%016lx read 0x%016lx\n", words[i], want, got);
            bad++;
        } else {
            printf("mem: 0x%lx ok\n", words[i]);
        }
        highest = max_u64(highest, words[i]);
    }
    if (bad) {
        printf("mem: %u of %u words wrong\n", bad, nwords);
        return EXIT_MISMATCH;
    }
    printf("mem: %u words ok, highest address 0x%lx\n", nwords, highest);
    return EXIT_PASS;
}

GUEST_TEST(mem, "mem", test_mem);
