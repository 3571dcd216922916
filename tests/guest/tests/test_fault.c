/*
 * reset: pulse the i8042 reset line (0xfe to port 0x64); exit 3 if still alive.
 * triple-fault: empty IDT + ud2 (#UD -> #GP -> #DF -> shutdown); exit 4 if alive.
 */
#include "guest.h"
#include "io.h"

#define EXIT_RESET_IGNORED      3
#define EXIT_NO_TRIPLE_FAULT    4

static int test_reset(const struct boot_info *bi)
{
    (void)bi;
    puts("reset: writing 0xfe to port 0x64");
    outb(0x64, 0xfe);
    pause_delay(100000);
    puts("reset: error: still running after the reset request");
    return EXIT_RESET_IGNORED;
}

static int test_triple_fault(const struct boot_info *bi)
{
    (void)bi;
    static const struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } empty_idt = {0, 0};
    puts("triple-fault: loading an empty IDT and executing ud2");
    __asm__ volatile("lidt %0\n\tud2" : : "m"(empty_idt) : "memory");
    puts("triple-fault: error: still running after ud2");
    return EXIT_NO_TRIPLE_FAULT;
}

GUEST_TEST(reset, "reset", test_reset);
GUEST_TEST(triple_fault, "triple-fault", test_triple_fault);
