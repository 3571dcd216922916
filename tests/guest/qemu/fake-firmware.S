/*
 * Smoke-test firmware for QEMU (-bios): puts the boot CPU into the state in
 * which minivmm starts a bzImage -- 64-bit mode, GDT at 0x500 (CS 0x10, DS
 * 0x18), identity map of 1 GiB at 0x9000-0xbfff, %rsi = 0x7000 (boot_params),
 * %rsp = 0x8ff0 -- and jumps to the 64-bit entry at 0x100200.  fake_loader.py
 * writes boot_params, the command line, the payload and the tables.
 * Linked at 0xf0000 as a 64 KiB image; the CPU resets to 0xffff0.
 */
        .code16
        .text
        .globl  _start
_start:
        cli
        cld
        xorw    %ax, %ax
        movw    %ax, %es
        movw    %ax, %ss
        movw    $0x7c00, %sp
        movw    $0xf000, %ax
        movw    %ax, %ds
        movw    $(gdt_template - _start), %si
        movw    $0x500, %di
        movw    $(gdt_template_end - gdt_template), %cx
        rep movsb
        lgdtl   %cs:(gdt_desc - _start)
        movl    %cr0, %eax
        orl     $1, %eax
        movl    %eax, %cr0
        ljmpl   $0x08, $pm32

        .code32
pm32:
        movl    $0x18, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        movl    $0x9000, %edi
        xorl    %eax, %eax
        movl    $(3 * 1024), %ecx
        rep stosl
        movl    $0xa003, 0x9000
        movl    $0xb003, 0xa000
        movl    $0xb000, %edi
        movl    $0x83, %eax             /* present, writable, 2 MiB */
        movl    $512, %ecx
1:      movl    %eax, (%edi)
        addl    $0x200000, %eax
        addl    $8, %edi
        loop    1b
        movl    %cr4, %eax
        orl     $0x20, %eax             /* PAE */
        movl    %eax, %cr4
        movl    $0x9000, %eax
        movl    %eax, %cr3
        movl    $0xc0000080, %ecx       /* EFER.LME */
        rdmsr
        orl     $0x100, %eax
        wrmsr
        movl    %cr0, %eax
        orl     $0x80000001, %eax
        movl    %eax, %cr0
        ljmp    $0x10, $lm64

        .code64
lm64:
        movl    $0x18, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        movq    $0x8ff0, %rsp
        movq    $0x7000, %rsi
        xorl    %eax, %eax
        xorl    %ebx, %ebx
        xorl    %ecx, %ecx
        xorl    %edx, %edx
        xorl    %edi, %edi
        xorl    %ebp, %ebp
        movl    $0x100200, %eax
        jmp     *%rax

        .balign 8
gdt_template:
        .quad   0
        .quad   0x00cf9a000000ffff      /* 0x08 flat 32-bit code (for this firmware) */
        .quad   0x00af9a000000ffff      /* 0x10 64-bit code */
        .quad   0x00cf92000000ffff      /* 0x18 data */
gdt_template_end:
gdt_desc:
        .word   gdt_template_end - gdt_template - 1
        .long   0x500

        .code16
        .org    0xfff0
        ljmp    $0xf000, $(_start - 0xf0000)
        .org    0x10000

        .section .note.GNU-stack, "", @progbits
