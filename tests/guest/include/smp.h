/* Local APIC access and AP start-up (INIT + two SIPIs into arch/trampoline.S). */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include <stdbool.h>
#include <stdint.h>

#define LAPIC_DEFAULT_BASE      0xfee00000ull

void lapic_init_bsp(void);
uint32_t lapic_id(void);
bool lapic_x2apic_mode(void);

/* Copies the trampoline to AP_TRAMPOLINE_ADDR and resets the AP bookkeeping. */
void smp_prepare(void);
/* INIT, INIT deassert, SIPI, SIPI to one APIC ID; false if the ICR stays busy. */
bool smp_start_ap(uint32_t apic_id);
/* APs report silently (no "cpu: apic id N reporting" line) until the next smp_prepare(). */
void smp_set_quiet(bool quiet);
/* Waits (bounded: 1.5e10 TSC ticks) until `started` APs reported; returns how many did. */
uint32_t smp_wait_reported(uint32_t started);
/* Number of APs that reached ap_main() and reported. */
uint32_t smp_reported(void);
/* Did the AP with this APIC ID report? */
bool smp_ap_reported_id(uint32_t apic_id);

/* Called by arch/entry.S on each AP with its slot number. */
__attribute__((noreturn)) void ap_main(uint32_t slot);

#endif
