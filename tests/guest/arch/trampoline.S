/*
 * Real-mode start-up code for application processors.  core/smp.c copies the
 * bytes between ap_trampoline_start and ap_trampoline_end to
 * AP_TRAMPOLINE_ADDR (page aligned, below 1 MiB) and sends the SIPI vector
 * AP_TRAMPOLINE_ADDR >> 12.  The AP starts with CS = vector << 8, IP = 0.
 * It loads the guest's GDT (its base is a linear address, so the GDT can stay
 * in the image above 1 MiB), enters protected mode and jumps to ap_start32
 * in arch/entry.S, which enables long mode with the BSP's page tables.
 */
#include "layout.h"

        .section .rodata.ap_trampoline, "a"
        .code16
        .balign 16
        .globl  ap_trampoline_start, ap_trampoline_end
ap_trampoline_start:
        cli
        cld
        lgdtl   %cs:(tr_gdt_desc - ap_trampoline_start)
        movl    %cr0, %eax
        orl     $CR0_PE, %eax
        movl    %eax, %cr0
        ljmpl   $GDT_CODE32, $ap_start32

        .balign 8
tr_gdt_desc:
        .word   GDT_SIZE - 1
        .long   gdt
ap_trampoline_end:

        .section .note.GNU-stack, "", @progbits
