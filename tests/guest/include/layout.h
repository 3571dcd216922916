/*
 * Memory layout and constants of the minivmm test guest, shared by the
 * assembly entry code and C.  Only #defines: this header is included from .S.
 */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

/* The image (both formats) runs at 1 MiB; it must end below 2 MiB (ld asserts). */
#define GUEST_LOAD_ADDR         0x100000
#define GUEST_IMAGE_LIMIT       0x200000

/* bzImage: boot sector + setup sectors in front of the payload (setup_sects = 7). */
#define GUEST_SETUP_SIZE        0x1000
/* Payload offsets of the three entry points. */
#define ENTRY_LINUX32_OFFSET    0x000   /* 32-bit boot protocol: %esi = boot_params   */
#define ENTRY_PVH_OFFSET        0x100   /* PVH: %ebx = struct hvm_start_info          */
#define ENTRY_LINUX64_OFFSET    0x200   /* 64-bit boot protocol: %rsi = boot_params   */

/* How guest_entry() was reached (first argument). */
#define BOOT_PROTO_LINUX32      1
#define BOOT_PROTO_PVH          2
#define BOOT_PROTO_LINUX64      3

/* The guest's own GDT (arch/entry.S). */
#define GDT_CODE32              0x08
#define GDT_CODE64              0x10
#define GDT_DATA                0x18
#define GDT_SIZE                32

#define BSP_STACK_SIZE          0x4000
#define AP_STACK_SIZE           0x1000
#define GUEST_MAX_CPUS          64
#define GUEST_MAX_APS           (GUEST_MAX_CPUS - 1)

/* Real-mode AP trampoline page (vector 0x03).  Free in minivmm's map and after BIOS boot. */
#define AP_TRAMPOLINE_ADDR      0x3000

/* Identity map: 0-4 GiB with 2 MiB pages (3-4 GiB uncached), up to 64 GiB above. */
#define PAGING_LOW_GIB          4
#define PAGING_MAX_GIB          64

/* Control registers and MSRs used by the entry code. */
#define CR0_PE                  0x00000001
#define CR0_PG                  0x80000000
#define CR4_PAE                 0x00000020
#define MSR_EFER                0xc0000080
#define EFER_LME                0x00000100

#endif
