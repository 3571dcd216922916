/* guest_main: boot timer, test selection from `test=NAME`, exit through port 0xf4. */
#include "cmdline.h"
#include "guest.h"
#include "io.h"

extern const struct guest_test __guest_tests_start[], __guest_tests_end[];

void guest_exit(int code)
{
    outb(DEBUG_EXIT_PORT, (uint8_t)code);
    /* Without a debug-exit device (or if the VMM lets us run on), park. */
    cpu_halt_forever();
}

static const struct guest_test *find_test(const char *name)
{
    for (const struct guest_test *t = __guest_tests_start; t < __guest_tests_end; t++)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

static void list_tests(void)
{
    printf("minivmm-test-guest: available tests:");
    for (const struct guest_test *t = __guest_tests_start; t < __guest_tests_end; t++)
        printf(" %s", t->name);
    printf("\n");
}

void guest_main(const struct boot_info *bi)
{
    mmio_write8(BOOT_TIMER_ADDR, BOOT_TIMER_MAGIC);
    cmdline_parse(bi->cmdline);
    const char *name = cmdline_get("test");
    printf("minivmm-test-guest: test=%s\n", name ? name : "");
    if (bi->boot_params_sentinel)
        puts("minivmm-test-guest: warning: boot_params sentinel (0x1ef) is set; ignored ext_* fields "
             "and acpi_rsdp_addr");

    const struct guest_test *t = name ? find_test(name) : NULL;
    if (!t) {
        if (name)
            printf("minivmm-test-guest: error: unknown test '%s'\n", name);
        else
            printf("minivmm-test-guest: error: no test=NAME on the command line\n");
        list_tests();
        guest_exit(EXIT_UNKNOWN_TEST);
    }
    int code = t->run(bi);
    printf("minivmm-test-guest: exit %d\n", code);
    guest_exit(code);
}
