/*
 * blk-burst: the load of the crash-safety tests for disk formats.  Round r (0, 1, ...) makes
 * `writes` write requests of 1..128 sectors at places inside sectors [r*region, (r+1)*region)
 * of the disk, then a flush, then prints `blk: burst round=r flushed`; it goes on until the
 * next region would not fit, then prints `blk: burst done` and halts (the test kills the VMM
 * long before).  Places: x = x * 6364136223846793005 + 1442695040888963407 (x = seed at the
 * start), sector (x >> 33) % region, then again for the count 1 + (x >> 33) % 128, cut at the
 * region's end.  Data: the xorshift32 stream of blk-write from the same seed, continued over
 * every request.  So the host can replay every round the guest said it flushed.
 */
#include "cmdline.h"
#include "guest.h"
#include "io.h"
#include "virtio_blk.h"

static struct blk_dev blk;

static uint64_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x >> 33;
}

static uint32_t xorshift32(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static int test_blk_burst(const struct boot_info *bi)
{
    uint64_t seed, region = 2048, writes = 16;
    if (cmdline_get_u64("seed", &seed) != 0 || seed == 0 || seed > UINT32_MAX ||
        cmdline_get_u64("region", &region) == -2 || cmdline_get_u64("writes", &writes) == -2 ||
        region < BLK_MAX_REQUEST_SECTORS || writes == 0) {
        puts("blk-burst: error: need seed=S (1..0xffffffff) [region=SECTORS (>= 128)] [writes=N]");
        return EXIT_BAD_ARGUMENT;
    }
    unsigned nth;
    int rc;
    if ((rc = blk_disk_arg(&nth)) != 0 || (rc = blk_open(bi, nth, virtio_optional_features(), &blk)) != 0)
        return rc;
    uint64_t x = seed;
    uint32_t pattern = (uint32_t)seed;
    uint32_t *words = (uint32_t *)(uintptr_t)VIRTIO_DMA_DATA;
    for (uint64_t round = 0; (round + 1) * region <= blk.capacity; round++) {
        for (uint64_t i = 0; i < writes; i++) {
            uint64_t at = lcg(&x) % region;
            uint64_t n = 1 + lcg(&x) % BLK_MAX_REQUEST_SECTORS;
            n = min_u64(n, region - at);
            for (uint64_t w = 0; w < n * BLK_SECTOR / 4; w++)
                words[w] = xorshift32(&pattern);
            uint8_t status;
            if ((rc = blk_rw(&blk, true, round * region + at, VIRTIO_DMA_DATA, (uint32_t)n, &status)) != 0)
                return rc;
            if (status != VIRTIO_BLK_S_OK) {
                printf("blk: error: write of %lu sectors at %lu: status=%u\n", n, round * region + at, status);
                return EXIT_BLK_STATUS;
            }
        }
        uint8_t status;
        if ((rc = blk_request(&blk, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &status)) != 0)
            return rc;
        if (status != VIRTIO_BLK_S_OK) {
            printf("blk: error: flush status=%u\n", status);
            return EXIT_BLK_STATUS;
        }
        printf("blk: burst round=%lu flushed\n", round);
    }
    puts("blk: burst done");
    cpu_halt_forever();
}

GUEST_TEST(blk_burst, "blk-burst", test_blk_burst);
