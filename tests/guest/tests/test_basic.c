/* hello, boot, exit, idle: the smallest tests (console, boot timing, exit codes, stopping). */
#include "cmdline.h"
#include "guest.h"

static int test_hello(const struct boot_info *bi)
{
    puts("Hello from the minivmm test guest");
    printf("boot: protocol=%s info=0x%lx cmdline_len=%u initrd=0x%lx+0x%lx e820_entries=%u "
           "rsdp=0x%lx mapped=0x%lx\n",
           boot_protocol_name(bi->protocol), bi->info_paddr, bi->cmdline_len, bi->initrd_addr,
           bi->initrd_size, bi->nr_mem, bi->rsdp_paddr, bi->mapped_limit);
    return EXIT_PASS;
}

static int test_boot(const struct boot_info *bi)
{
    (void)bi;
    return EXIT_PASS;
}

static int test_exit(const struct boot_info *bi)
{
    (void)bi;
    uint64_t code;
    int rc = cmdline_get_u64("code", &code);
    if (rc != 0 || code > 255) {
        printf("exit: error: need code=N with N in 0..255\n");
        return EXIT_BAD_ARGUMENT;
    }
    printf("exit: code=%lu\n", code);
    return (int)code;
}

/* Waits forever with interrupts off: the host ends the run (signal, --timeout, stop()). */
static int test_idle(const struct boot_info *bi)
{
    (void)bi;
    puts("idle: waiting for the host to stop the VM");
    for (;;)
        __asm__ volatile("cli; hlt");
    return EXIT_PASS;
}

GUEST_TEST(boot, "boot", test_boot);
GUEST_TEST(idle, "idle", test_idle);
GUEST_TEST(exit, "exit", test_exit);
GUEST_TEST(hello, "hello", test_hello);
