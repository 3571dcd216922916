/*
 * Test table and process-level helpers.  A test is a function returning the
 * exit code written to the debug-exit port (0 = pass).  Each test group file
 * registers its tests with GUEST_TEST(); the linker collects them.
 */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#include "boot.h"
#include "lib.h"

#define DEBUG_EXIT_PORT         0xf4
#define BOOT_TIMER_ADDR         0xc0000000ull
#define BOOT_TIMER_MAGIC        123

/* Exit codes shared by all tests (test-specific ones are in each test). */
#define EXIT_PASS               0
#define EXIT_BAD_ARGUMENT       98
#define EXIT_UNKNOWN_TEST       99

struct guest_test {
    const char *name;
    int (*run)(const struct boot_info *bi);
};

#define GUEST_TEST(id, test_name, fn)                                                              \
    static const struct guest_test guest_test_##id                                                 \
        __attribute__((used, section(".guest_tests." #id), aligned(8))) = {test_name, fn}

/* Write the byte to the debug-exit port; halts if the VMM lets us continue. */
__attribute__((noreturn)) void guest_exit(int code);

void guest_main(const struct boot_info *bi);

#endif
