/*
 * The guest's identity map, static so that no CPL0 loop has to build it:
 * PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 2 MiB pages covering
 * 0-4 GiB, the last one (0xc0000000-0xffffffff, the MMIO hole) uncached
 * (PCD|PWT).  core/paging.c maps 4-64 GiB at run time (1 GiB pages when the
 * CPU has pdpe1gb, else 2 MiB pages from pd_high up to the top of RAM).
 * Accessed/dirty bits are preset so the page walker never writes them.
 *
 * Also the big uninitialised areas (.noinit: not cleared at boot): the BSP
 * stack, the AP stacks and the page directories for 4-64 GiB.
 */
#include "layout.h"

#define PTE_P      0x001
#define PTE_RW     0x002
#define PTE_PWT    0x008
#define PTE_PCD    0x010
#define PTE_A      0x020
#define PTE_D      0x040
#define PTE_PS     0x080
#define PTE_TABLE  (PTE_P | PTE_RW | PTE_A)
#define PTE_2M_WB  (PTE_P | PTE_RW | PTE_A | PTE_D | PTE_PS)
#define PTE_2M_UC  (PTE_2M_WB | PTE_PCD | PTE_PWT)

        .section .data.pagetables, "aw"
        .balign 4096
        .globl  pml4, pdpt, pd_low
pml4:
        .quad   pdpt + PTE_TABLE
        .fill   511, 8, 0
pdpt:
        .quad   pd_low + 0x0000 + PTE_TABLE
        .quad   pd_low + 0x1000 + PTE_TABLE
        .quad   pd_low + 0x2000 + PTE_TABLE
        .quad   pd_low + 0x3000 + PTE_TABLE
        .fill   508, 8, 0
pd_low:
        .set    i, 0
        .rept   PAGING_LOW_GIB * 512
        .if     i >= 3 * 512
        .quad   (i << 21) | PTE_2M_UC
        .else
        .quad   (i << 21) | PTE_2M_WB
        .endif
        .set    i, i + 1
        .endr

        .section .noinit, "aw", @nobits
        .balign 4096
        .globl  pd_high
pd_high:
        .skip   (PAGING_MAX_GIB - PAGING_LOW_GIB) * 4096
        .globl  ap_stacks
ap_stacks:
        .skip   GUEST_MAX_APS * AP_STACK_SIZE
        .globl  bsp_stack_top
        .skip   BSP_STACK_SIZE
bsp_stack_top:

        .section .note.GNU-stack, "", @progbits
