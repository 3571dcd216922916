/*
 * checksum: CRC-32 (zlib-compatible) of the full command line and the initrd,
 * so the host can check what the loader passed.  Exit 0; 98 if the initrd
 * lies outside the identity map.
 */
#include "crc32.h"
#include "guest.h"

static int test_checksum(const struct boot_info *bi)
{
    printf("cmdline: %s\n", bi->cmdline);
    if (bi->cmdline_truncated)
        printf("cmdline: warning: truncated to %u bytes\n", bi->cmdline_len);
    printf("cmdline crc32=%08x len=%u\n", crc32_update(0, bi->cmdline, bi->cmdline_len),
           bi->cmdline_len);
    if (!bi->initrd_size) {
        puts("initrd: none");
        return EXIT_PASS;
    }
    if (!phys_mapped(bi, bi->initrd_addr, bi->initrd_size)) {
        printf("initrd: error: 0x%lx+0x%lx is outside the identity map\n", bi->initrd_addr,
               bi->initrd_size);
        return EXIT_BAD_ARGUMENT;
    }
    const void *initrd = (const void *)(uintptr_t)bi->initrd_addr;
    printf("initrd crc32=%08x len=%lu\n", crc32_update(0, initrd, bi->initrd_size), bi->initrd_size);
    return EXIT_PASS;
}

GUEST_TEST(checksum, "checksum", test_checksum);
