/*
 * bzImage boot sector + setup (Linux x86 boot protocol 2.15,
 * Documentation/arch/x86/boot.rst): the real-mode part of the file in front of
 * the protected-mode payload.  Only linked into minivmm-test-guest.bzImage.
 *
 * minivmm never runs this code: it reads the header, copies the payload to
 * 0x100000 and enters the 64-bit entry at payload offset 0x200.  A BIOS boot
 * loader (QEMU's linuxboot option ROM) jumps here in real mode, at offset
 * 0x200 with CS = setup segment + 0x20.  Like Linux's setup, this code then
 * builds a zero page (at setup base + 0x2000, clear of the loader's heap and
 * stack below the command line), copies the setup header into it, asks the
 * BIOS for the E820 map (int 0x15, AX=0xe820 -- the only BIOS use, and only on
 * this path), enables A20 and enters the 32-bit entry at code32_start with
 * %esi = zero page, as the 32-bit boot protocol specifies.
 */
#include "layout.h"

#define ZERO_PAGE_OFFSET        0x2000
#define E820_MAX_ZEROPAGE       128
#define SMAP                    0x534d4150
#define BOOT_CS                 0x10    /* 32-bit boot protocol selectors */
#define BOOT_DS                 0x18

        .section .setup, "ax"
        .code16
        .globl  setup_start
setup_start:
        /* boot sector: never executed */
        .org    0x1ef
        /* boot_params.sentinel: stays set in boot_params only if a loader wrongly copies
         * the image from 0x1ef instead of 0x1f1 (boot.rst, zero-page.rst). */
sentinel:                       .byte   0xff, 0xff
hdr:
        .globl  hdr_setup_sects, hdr_syssize, hdr_boot_flag, hdr_header
        .globl  hdr_version, hdr_loadflags, hdr_code32_start, hdr_ramdisk_image
        .globl  hdr_cmd_line_ptr, hdr_kernel_alignment, hdr_relocatable_kernel, hdr_xloadflags
        .globl  hdr_cmdline_size, hdr_pref_address, hdr_init_size, hdr_kernel_info_offset
hdr_setup_sects:                .byte   GUEST_SETUP_SIZE / 512 - 1
root_flags:                     .word   0
hdr_syssize:                    .long   _syssize        /* payload size / 16, from ld */
ram_size:                       .word   0
vid_mode:                       .word   0xffff          /* NORMAL_VGA */
root_dev:                       .word   0
hdr_boot_flag:                  .word   0xaa55
        /* 0x200: real-mode entry, a two-byte jump over the header */
jump:                           .byte   0xeb, start_of_setup - 1f
1:
hdr_header:                     .ascii  "HdrS"
hdr_version:                    .word   0x020f
realmode_swtch:                 .long   0
start_sys_seg:                  .word   0x1000
kernel_version:                 .word   kernel_version_str - 0x200
type_of_loader:                 .byte   0
hdr_loadflags:                  .byte   0x01            /* LOADED_HIGH */
setup_move_size:                .word   0x8000
hdr_code32_start:               .long   GUEST_LOAD_ADDR
hdr_ramdisk_image:              .long   0
ramdisk_size:                   .long   0
bootsect_kludge:                .long   0
heap_end_ptr:                   .word   0
ext_loader_ver:                 .byte   0
ext_loader_type:                .byte   0
hdr_cmd_line_ptr:               .long   0
initrd_addr_max:                .long   0x7fffffff
hdr_kernel_alignment:           .long   0x100000
hdr_relocatable_kernel:         .byte   0
min_alignment:                  .byte   20
hdr_xloadflags:                 .word   0x0001          /* XLF_KERNEL_64 */
hdr_cmdline_size:               .long   4095
hardware_subarch:               .long   0
hardware_subarch_data:          .quad   0
payload_offset:                 .long   0
payload_length:                 .long   0
setup_data:                     .quad   0
hdr_pref_address:               .quad   GUEST_LOAD_ADDR
hdr_init_size:                  .long   _init_size      /* image incl. .bss/.noinit, from ld */
handover_offset:                .long   0
hdr_kernel_info_offset:         .long   0

        /* Field offsets are the protocol: ld/bzimage.ld asserts them, and
         * check_bzimage.cmake checks the values in the finished file. */
        .org    0x26c

start_of_setup:
        cli
        cld
        /* Normalise CS:IP so that IP equals the offset in this file. */
        movw    %cs, %ax
        subw    $0x20, %ax
        pushw   %ax
        pushw   $2f
        lret
2:      movw    %ax, %ds

        /* Clear the zero page and copy the setup header into it. */
        addw    $(ZERO_PAGE_OFFSET >> 4), %ax
        movw    %ax, %es
        xorw    %di, %di
        xorw    %ax, %ax
        movw    $2048, %cx
        rep stosw
        movw    $0x1f1, %si
        movw    %si, %di
        movw    $(0x290 - 0x1f1), %cx
        rep movsb

        /* E820 map into boot_params.e820_table (0x2d0), count at 0x1e8.
         * DS = ES and the upper half of EDI clear: some BIOSes (qboot) store
         * through DS:EDI rather than ES:DI. */
        pushw   %ds
        movw    %es, %ax
        movw    %ax, %ds
        xorl    %ebx, %ebx
        xorw    %bp, %bp
        movl    $0x2d0, %edi
3:      movl    $0xe820, %eax
        movl    $20, %ecx
        movl    $SMAP, %edx
        int     $0x15
        jc      4f
        cmpl    $SMAP, %eax
        jne     4f
        incw    %bp
        addl    $20, %edi
        cmpw    $E820_MAX_ZEROPAGE, %bp
        jae     4f
        testl   %ebx, %ebx
        jnz     3b
4:      movw    %bp, %ax
        movb    %al, %es:0x1e8
        popw    %ds

        /* Fast A20. */
        inb     $0x92, %al
        orb     $0x02, %al
        andb    $0xfe, %al
        outb    %al, $0x92

        /* Linear addresses: the GDT for lgdt, the zero page for %esi. */
        movw    %ds, %ax
        movzwl  %ax, %esi
        shll    $4, %esi
        leal    setup_gdt(%esi), %eax
        movl    %eax, setup_gdt_desc + 2
        lgdtl   setup_gdt_desc
        addl    $ZERO_PAGE_OFFSET, %esi

        movl    %cr0, %eax
        orl     $CR0_PE, %eax
        movl    %eax, %cr0
        movw    $BOOT_DS, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movw    %ax, %fs
        movw    %ax, %gs
        xorl    %ebx, %ebx
        xorl    %ebp, %ebp
        xorl    %edi, %edi
        ljmpl   $BOOT_CS, $GUEST_LOAD_ADDR

        .balign 8
setup_gdt:
        .quad   0
        .quad   0
        .quad   0x00cf9a000000ffff      /* BOOT_CS: flat 32-bit code */
        .quad   0x00cf92000000ffff      /* BOOT_DS: flat data */
setup_gdt_desc:
        .word   4 * 8 - 1
        .long   0

kernel_version_str:
        .asciz  "minivmm-test-guest"

        .section .note.GNU-stack, "", @progbits
