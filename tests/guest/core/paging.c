/*
 * Extends the static identity map of arch/pagetables.S (0-4 GiB) to memory
 * above 4 GiB: 1 GiB pages up to 64 GiB when CPUID.80000001H:EDX[26]
 * (pdpe1gb) is set, else 2 MiB pages up to the top of RAM in the memory map
 * (at most 64 GiB), so that a CPU without 1 GiB pages and little memory does
 * not fill 60 page directories at CPL0.
 */
#include "boot.h"
#include "io.h"
#include "lib.h"

#define PTE_P       0x001ull
#define PTE_RW      0x002ull
#define PTE_A       0x020ull
#define PTE_D       0x040ull
#define PTE_PS      0x080ull
#define PTE_TABLE   (PTE_P | PTE_RW | PTE_A)
#define PTE_LARGE   (PTE_P | PTE_RW | PTE_A | PTE_D | PTE_PS)
#define GIB         (1ull << 30)

extern uint64_t pdpt[512];
extern uint64_t pd_high[PAGING_MAX_GIB - PAGING_LOW_GIB][512];

bool cpu_has_pdpe1gb(void)
{
    if (cpuid(0x80000000, 0).eax < 0x80000001)
        return false;
    return (cpuid(0x80000001, 0).edx >> 26) & 1;
}

uint64_t paging_map_high(const struct boot_info *bi)
{
    uint64_t top = (uint64_t)PAGING_LOW_GIB * GIB;
    if (cpu_has_pdpe1gb()) {
        for (uint64_t g = PAGING_LOW_GIB; g < PAGING_MAX_GIB; g++)
            pdpt[g] = g * GIB | PTE_LARGE;
        top = (uint64_t)PAGING_MAX_GIB * GIB;
    } else {
        uint64_t ram_top = 0;
        for (uint32_t i = 0; i < bi->nr_mem; i++)
            if (bi->mem[i].type == MEM_TYPE_RAM && bi->mem[i].addr + bi->mem[i].size > ram_top)
                ram_top = bi->mem[i].addr + bi->mem[i].size;
        uint64_t gibs = min_u64((ram_top + GIB - 1) / GIB, PAGING_MAX_GIB);
        for (uint64_t g = PAGING_LOW_GIB; g < gibs; g++) {
            uint64_t *pd = pd_high[g - PAGING_LOW_GIB];
            for (uint64_t i = 0; i < 512; i++)
                pd[i] = (g * GIB + (i << 21)) | PTE_LARGE;
            pdpt[g] = (uint64_t)(uintptr_t)pd | PTE_TABLE;
        }
        if (gibs > top / GIB)
            top = gibs * GIB;
    }
    write_cr3(read_cr3()); /* flush: entries went from not-present to present */
    return top;
}
