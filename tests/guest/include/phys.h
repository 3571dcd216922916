/* Reads of identity-mapped physical memory (boot structures, firmware tables). */
#ifndef GUEST_PHYS_H
#define GUEST_PHYS_H

#include <stdint.h>

/* Hides a constant address from the compiler, which otherwise treats small
 * ones (the BIOS data area) as offsets from NULL (-Warray-bounds). No code. */
static inline const volatile void *phys_ptr_v(uint64_t a)
{
    __asm__("" : "+r"(a));
    return (const volatile void *)(uintptr_t)a;
}

static inline uint8_t phys_read8(uint64_t a) { return *(const volatile uint8_t *)phys_ptr_v(a); }
static inline uint16_t phys_read16(uint64_t a) { return *(const volatile uint16_t *)phys_ptr_v(a); }
static inline uint32_t phys_read32(uint64_t a) { return *(const volatile uint32_t *)phys_ptr_v(a); }
static inline uint64_t phys_read64(uint64_t a) { return *(const volatile uint64_t *)phys_ptr_v(a); }
static inline const void *phys_ptr(uint64_t a) { return (const void *)(uintptr_t)phys_ptr_v(a); }

/* The real-mode segment of the EBDA in the BIOS data area (0 without a BIOS). */
#define BDA_EBDA_SEGMENT        0x40e

#endif
