/*
 * Entry points of the test guest.  The payload starts at GUEST_LOAD_ADDR with
 *   +0x000  32-bit Linux boot protocol entry (code32_start): protected mode,
 *           paging off, flat segments, %esi = boot_params.  QEMU reaches it
 *           through arch/setup.S.
 *   +0x100  PVH entry (XEN_ELFNOTE_PHYS32_ENTRY): protected mode, paging off,
 *           flat segments, %ebx = struct hvm_start_info.
 *   +0x200  64-bit Linux boot protocol entry: long mode, identity map of at
 *           least the first 1 GiB, %rsi = boot_params.  minivmm uses this one.
 * All three load the guest's own GDT and page tables (arch/pagetables.S),
 * switch to the BSP stack, clear .bss and call guest_entry(protocol, info).
 * Application processors arrive at ap_start32 from arch/trampoline.S.
 */
#include "layout.h"

        .section .text.entry, "ax"

        .code32
        .globl linux_start32
linux_start32:
        cli
        cld
        movl    $BOOT_PROTO_LINUX32, %edi
        jmp     start32_common

        .org    ENTRY_PVH_OFFSET
        .globl  pvh_start32
pvh_start32:
        cli
        cld
        movl    %ebx, %esi
        movl    $BOOT_PROTO_PVH, %edi
        jmp     start32_common

        .org    ENTRY_LINUX64_OFFSET
        .code64
        .globl  linux_start64
linux_start64:
        cli
        cld
        movl    $BOOT_PROTO_LINUX64, %edi
        movq    $bsp_stack_top, %rsp
        lgdt    gdt_desc(%rip)
        movl    $pml4, %eax
        movq    %rax, %cr3
        jmp     start64_common

/*
 * Long mode from 32-bit protected mode: PAE, CR3, EFER.LME, paging.
 * A macro because the APs have no stack yet.  Clobbers eax, ecx, edx.
 */
.macro ENABLE_LONG_MODE
        movl    %cr4, %eax
        orl     $CR4_PAE, %eax
        movl    %eax, %cr4
        movl    $pml4, %eax
        movl    %eax, %cr3
        movl    $MSR_EFER, %ecx
        rdmsr
        orl     $EFER_LME, %eax
        wrmsr
        movl    %cr0, %eax
        orl     $(CR0_PG | CR0_PE), %eax
        movl    %eax, %cr0
.endm

.macro LOAD_DATA_SEGMENTS
        movl    $GDT_DATA, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        movl    %eax, %fs
        movl    %eax, %gs
.endm

        .code32
start32_common:
        lgdt    gdt_desc
        ljmp    $GDT_CODE32, $1f
1:      LOAD_DATA_SEGMENTS
        ENABLE_LONG_MODE
        ljmp    $GDT_CODE64, $start64_from32

        .code64
start64_from32:
        movl    %esi, %esi              /* upper halves are undefined after the switch */
        movl    %edi, %edi
start64_common:
        LOAD_DATA_SEGMENTS
        movq    $bsp_stack_top, %rsp
        pushq   $GDT_CODE64             /* reload CS from our GDT (64-bit entry) */
        leaq    1f(%rip), %rax
        pushq   %rax
        lretq
1:      movq    %rdi, %r12
        movq    %rsi, %r13
        movl    $_bss_start, %edi
        movl    $_bss_end, %ecx
        subl    %edi, %ecx
        shrl    $3, %ecx
        xorl    %eax, %eax
        rep stosq
        movl    %r12d, %edi
        movq    %r13, %rsi
        call    guest_entry
2:      cli
        hlt
        jmp     2b

/* Application processors: from the trampoline, protected mode, CS = GDT_CODE32. */
        .code32
        .globl  ap_start32
ap_start32:
        LOAD_DATA_SEGMENTS
        ENABLE_LONG_MODE
        ljmp    $GDT_CODE64, $ap_start64

        .code64
ap_start64:
        LOAD_DATA_SEGMENTS
        movl    $1, %eax
        lock xaddl %eax, ap_next_slot(%rip)
        cmpl    $GUEST_MAX_APS, %eax
        jae     3f
        movl    %eax, %edi
        leal    1(%rax), %edx
        shlq    $12, %rdx               /* * AP_STACK_SIZE */
.if AP_STACK_SIZE != 0x1000
        .error "ap_start64 assumes 4 KiB AP stacks"
.endif
        addq    $ap_stacks, %rdx
        movq    %rdx, %rsp
        call    ap_main
3:      cli
        hlt
        jmp     3b

/* PVH: ELF note "Xen", type XEN_ELFNOTE_PHYS32_ENTRY, 32-bit physical entry. */
        .section .note.Xen, "a", @note
        .balign 4
        .long   4                       /* namesz */
        .long   4                       /* descsz */
        .long   18                      /* XEN_ELFNOTE_PHYS32_ENTRY */
        .asciz  "Xen"
        .long   pvh_start32

        .section .data, "aw"
        .balign 16
        .globl  gdt
gdt:
        .quad   0                       /* null */
        .quad   0x00cf9a000000ffff      /* GDT_CODE32: flat 32-bit code */
        .quad   0x00af9a000000ffff      /* GDT_CODE64: 64-bit code */
        .quad   0x00cf92000000ffff      /* GDT_DATA: flat data */
        .balign 8
        .word   0
        .word   0, 0
gdt_desc:                               /* 32-bit lgdt reads limit + 4 bytes, 64-bit 8 */
        .word   GDT_SIZE - 1
        .quad   gdt

        .globl  ap_next_slot
        .balign 4
ap_next_slot:
        .long   0

        .section .note.GNU-stack, "", @progbits
