/*
 * Local APIC (xAPIC MMIO, or x2APIC MSRs if the firmware left x2APIC on) and
 * AP start-up with the INIT-SIPI-SIPI sequence (Intel SDM vol. 3A 10.4.4 /
 * MP spec B.4).  The in-kernel LAPIC of KVM and QEMU's emulated one need no
 * real delays, so the waits are short fixed pause loops.
 */
#include "smp.h"

#include "guest.h"
#include "io.h"

#define MSR_APIC_BASE           0x1b
#define APIC_BASE_X2APIC        (1u << 10)
#define APIC_BASE_ENABLE        (1u << 11)
#define APIC_BASE_ADDR_MASK     0x000ffffffffff000ull

#define LAPIC_ID                0x020
#define LAPIC_SVR               0x0f0
#define LAPIC_ICR_LOW           0x300
#define LAPIC_ICR_HIGH          0x310
#define X2APIC_MSR(reg)         (0x800 + ((reg) >> 4))

#define SVR_ENABLE              0x100
#define SVR_SPURIOUS_VECTOR     0xff
#define ICR_DM_INIT             0x500
#define ICR_DM_STARTUP          0x600
#define ICR_DELIVERY_PENDING    (1u << 12)
#define ICR_LEVEL_ASSERT        (1u << 14)
#define ICR_TRIGGER_LEVEL       (1u << 15)

#define INIT_DELAY_PAUSES       5000
#define SIPI_DELAY_PAUSES       1000
#define ICR_IDLE_MAX_SPINS      100000
#define AP_NOT_REPORTED         0xffffffffu

/* Generous bound for the APs (they may run emulated, e.g. nested under TCG): 5 s at a
 * 3 GHz TSC, 15 s at 1 GHz; the spin cap only matters if the TSC does not advance. */
#define WAIT_TSC_TICKS          15000000000ull
#define WAIT_MAX_SPINS          400000000u

extern const uint8_t ap_trampoline_start[], ap_trampoline_end[];
extern uint32_t ap_next_slot;

static uint32_t ap_reported;
static uint32_t ap_reported_id[GUEST_MAX_APS];
static bool ap_quiet;

bool lapic_x2apic_mode(void) { return (rdmsr(MSR_APIC_BASE) & APIC_BASE_X2APIC) != 0; }

static uint64_t lapic_base(void) { return rdmsr(MSR_APIC_BASE) & APIC_BASE_ADDR_MASK; }

uint32_t lapic_id(void)
{
    if (lapic_x2apic_mode())
        return (uint32_t)rdmsr(X2APIC_MSR(LAPIC_ID));
    return mmio_read32(lapic_base() + LAPIC_ID) >> 24;
}

void lapic_init_bsp(void)
{
    uint64_t base = rdmsr(MSR_APIC_BASE);
    if (!(base & APIC_BASE_ENABLE))
        wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE);
    if (lapic_x2apic_mode())
        wrmsr(X2APIC_MSR(LAPIC_SVR), SVR_ENABLE | SVR_SPURIOUS_VECTOR);
    else
        mmio_write32(lapic_base() + LAPIC_SVR, SVR_ENABLE | SVR_SPURIOUS_VECTOR);
}

static bool icr_wait_idle(uint64_t base)
{
    for (unsigned i = 0; i < ICR_IDLE_MAX_SPINS; i++) {
        if (!(mmio_read32(base + LAPIC_ICR_LOW) & ICR_DELIVERY_PENDING))
            return true;
        cpu_pause();
    }
    return false;
}

static bool send_ipi(uint32_t apic_id, uint32_t icr_low)
{
    if (lapic_x2apic_mode()) {
        wrmsr(X2APIC_MSR(LAPIC_ICR_LOW), (uint64_t)apic_id << 32 | icr_low);
        return true;
    }
    uint64_t base = lapic_base();
    if (apic_id > 0xff || !icr_wait_idle(base))
        return false;
    mmio_write32(base + LAPIC_ICR_HIGH, apic_id << 24);
    mmio_write32(base + LAPIC_ICR_LOW, icr_low);
    return icr_wait_idle(base);
}

void smp_prepare(void)
{
    /* Through a variable: the compiler must not reason about address 0x3000. */
    uintptr_t dst = AP_TRAMPOLINE_ADDR;
    __asm__("" : "+r"(dst));
    memcpy((void *)dst, ap_trampoline_start, (size_t)(ap_trampoline_end - ap_trampoline_start));
    for (uint32_t i = 0; i < GUEST_MAX_APS; i++)
        ap_reported_id[i] = AP_NOT_REPORTED;
    __atomic_store_n(&ap_next_slot, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&ap_reported, 0, __ATOMIC_RELEASE);
    ap_quiet = false;
}

void smp_set_quiet(bool quiet) { __atomic_store_n(&ap_quiet, quiet, __ATOMIC_RELEASE); }

uint32_t smp_wait_reported(uint32_t started)
{
    uint64_t t0 = rdtsc();
    for (uint32_t spin = 0; spin < WAIT_MAX_SPINS && smp_reported() < started; spin++) {
        cpu_pause();
        if ((spin & 1023) == 0 && rdtsc() - t0 > WAIT_TSC_TICKS)
            break;
    }
    return smp_reported();
}

bool smp_start_ap(uint32_t apic_id)
{
    uint32_t vector = AP_TRAMPOLINE_ADDR >> 12;
    if (!send_ipi(apic_id, ICR_DM_INIT | ICR_LEVEL_ASSERT | ICR_TRIGGER_LEVEL))
        return false;
    pause_delay(INIT_DELAY_PAUSES);
    if (!lapic_x2apic_mode() && !send_ipi(apic_id, ICR_DM_INIT | ICR_TRIGGER_LEVEL))
        return false;
    for (int i = 0; i < 2; i++) {
        if (!send_ipi(apic_id, ICR_DM_STARTUP | vector))
            return false;
        pause_delay(SIPI_DELAY_PAUSES);
    }
    return true;
}

uint32_t smp_reported(void) { return __atomic_load_n(&ap_reported, __ATOMIC_ACQUIRE); }

bool smp_ap_reported_id(uint32_t apic_id)
{
    for (uint32_t i = 0; i < GUEST_MAX_APS; i++)
        if (__atomic_load_n(&ap_reported_id[i], __ATOMIC_ACQUIRE) == apic_id)
            return true;
    return false;
}

void ap_main(uint32_t slot)
{
    uint32_t id = lapic_id();
    if (!__atomic_load_n(&ap_quiet, __ATOMIC_ACQUIRE))
        printf("cpu: apic id %u reporting\n", id);
    __atomic_store_n(&ap_reported_id[slot], id, __ATOMIC_RELEASE);
    __atomic_fetch_add(&ap_reported, 1, __ATOMIC_RELEASE);
    cpu_halt_forever();
}
