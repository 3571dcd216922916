/*
 * virtio-blk tests: blk-info, blk-write, blk-indirect, blk-read, blk-ro, blk-multi.
 * Data goes through VIRTIO_DMA_DATA in requests of at most 128 sectors; the write pattern
 * is a 32-bit xorshift (x ^= x << 13; x ^= x >> 17; x ^= x << 5) emitted as little-endian
 * words, so the host can regenerate it; CRCs are zlib's CRC-32 of the bytes.
 */
#include "cmdline.h"
#include "crc32.h"
#include "guest.h"
#include "io.h"
#include "virtio_blk.h"

#define MULTI_SECTORS           8

static struct blk_dev blk;

static uint32_t xorshift32(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* `start=L` (default 0) and the required `sectors=K`, within the capacity. */
static int range_args(const char *test, uint64_t *start, uint64_t *sectors)
{
    *start = 0;
    if (cmdline_get_u64("start", start) == -2 || cmdline_get_u64("sectors", sectors) != 0 ||
        *sectors == 0) {
        printf("%s: error: need sectors=K (K > 0) and optionally start=L\n", test);
        return EXIT_BAD_ARGUMENT;
    }
    return 0;
}

static int check_range(uint64_t start, uint64_t sectors)
{
    if (start > blk.capacity || sectors > blk.capacity - start) {
        printf("blk: error: sectors %lu..%lu are beyond the capacity of %lu sectors\n", start,
               start + sectors - 1, blk.capacity);
        blk_stop(&blk);
        return EXIT_BAD_ARGUMENT;
    }
    return 0;
}

static int flush(void)
{
    if (!virtio_has(&blk.vdev, VIRTIO_BLK_F_FLUSH)) {
        puts("blk: flush skipped (VIRTIO_BLK_F_FLUSH not offered)");
        return 0;
    }
    uint8_t status;
    int rc = blk_request(&blk, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &status);
    if (rc)
        return rc;
    printf("blk: flush status=%u\n", status);
    return status == VIRTIO_BLK_S_OK ? 0 : EXIT_BLK_STATUS;
}

static int write_pattern(const struct boot_info *bi, const char *test, bool need_indirect)
{
    uint64_t seed, start, sectors;
    if (cmdline_get_u64("seed", &seed) != 0 || seed == 0 || seed > UINT32_MAX) {
        printf("%s: error: need seed=S with S in 1..0xffffffff\n", test);
        return EXIT_BAD_ARGUMENT;
    }
    int rc = range_args(test, &start, &sectors);
    if (rc)
        return rc;
    unsigned nth;
    if ((rc = blk_disk_arg(&nth)) != 0)
        return rc;
    uint64_t features = virtio_optional_features();
    if (need_indirect)
        features |= BIT64(VIRTIO_F_INDIRECT_DESC);
    if ((rc = blk_open(bi, nth, features, &blk)) != 0)
        return rc;
    if (need_indirect && !blk.indirect) {
        printf("%s: error: VIRTIO_F_INDIRECT_DESC not offered (features 0x%016lx)\n", test,
               blk.vdev.device_features);
        blk_stop(&blk);
        return EXIT_VIRTIO_FEATURE;
    }
    if ((rc = check_range(start, sectors)) != 0)
        return rc;

    uint32_t x = (uint32_t)seed, crc = 0;
    uint32_t *words = (uint32_t *)(uintptr_t)VIRTIO_DMA_DATA;
    for (uint64_t done = 0; done < sectors;) {
        uint32_t n = (uint32_t)min_u64(BLK_MAX_REQUEST_SECTORS, sectors - done);
        for (uint32_t i = 0; i < n * BLK_SECTOR / 4; i++)
            words[i] = xorshift32(&x);
        crc = crc32_update(crc, words, n * BLK_SECTOR);
        uint8_t status;
        if ((rc = blk_rw(&blk, true, start + done, VIRTIO_DMA_DATA, n, &status)) != 0)
            return rc;
        if (status != VIRTIO_BLK_S_OK) {
            printf("blk: error: write of %u sectors at %lu: status=%u\n", n, start + done, status);
            blk_stop(&blk);
            return EXIT_BLK_STATUS;
        }
        done += n;
    }
    printf("blk: wrote %lu sectors crc32=%08x\n", sectors, crc);
    rc = flush();
    uint64_t hold = 0;
    if (rc == 0 && cmdline_get_u64("hold", &hold) == 0 && hold) {
        /* The durability test kills the VMM here: the flush has completed, so every byte
         * written must already be in the image, whatever the VMM would have done at exit. */
        puts("blk: holding after the flush");
        cpu_halt_forever();
    }
    blk_stop(&blk);
    return rc;
}

static int test_blk_write(const struct boot_info *bi) { return write_pattern(bi, "blk-write", false); }
static int test_blk_indirect(const struct boot_info *bi) { return write_pattern(bi, "blk-indirect", true); }

static int test_blk_read(const struct boot_info *bi)
{
    uint64_t start, sectors;
    int rc = range_args("blk-read", &start, &sectors);
    unsigned nth;
    if (rc || (rc = blk_disk_arg(&nth)) != 0)
        return rc;
    if ((rc = blk_open(bi, nth, virtio_optional_features(), &blk)) != 0)
        return rc;
    if ((rc = check_range(start, sectors)) != 0)
        return rc;
    uint32_t crc = 0;
    for (uint64_t done = 0; done < sectors;) {
        uint32_t n = (uint32_t)min_u64(BLK_MAX_REQUEST_SECTORS, sectors - done);
        uint8_t status;
        if ((rc = blk_rw(&blk, false, start + done, VIRTIO_DMA_DATA, n, &status)) != 0)
            return rc;
        if (status != VIRTIO_BLK_S_OK) {
            printf("blk: error: read of %u sectors at %lu: status=%u\n", n, start + done, status);
            blk_stop(&blk);
            return EXIT_BLK_STATUS;
        }
        crc = crc32_update(crc, (const void *)(uintptr_t)VIRTIO_DMA_DATA, n * BLK_SECTOR);
        done += n;
    }
    printf("blk: read %lu sectors crc32=%08x\n", sectors, crc);
    blk_stop(&blk);
    return EXIT_PASS;
}

static int test_blk_info(const struct boot_info *bi)
{
    unsigned nth;
    int rc = blk_disk_arg(&nth);
    if (rc || (rc = blk_open(bi, nth, virtio_optional_features(), &blk)) != 0)
        return rc;
    char *id = (char *)(uintptr_t)VIRTIO_DMA_SMALL;
    memset(id, 0, VIRTIO_BLK_ID_BYTES);
    struct virtq_buf buf = {VIRTIO_DMA_SMALL, VIRTIO_BLK_ID_BYTES, true};
    uint8_t status;
    if ((rc = blk_request(&blk, VIRTIO_BLK_T_GET_ID, 0, &buf, 1, &status)) != 0)
        return rc;
    /* The ID is NUL-terminated only if shorter than 20 bytes (5.2.6). */
    char serial[VIRTIO_BLK_ID_BYTES + 1];
    size_t n = 0;
    for (; status == VIRTIO_BLK_S_OK && n < VIRTIO_BLK_ID_BYTES && id[n]; n++)
        serial[n] = id[n] >= 0x20 && id[n] < 0x7f && id[n] != '\'' ? id[n] : '?';
    serial[n] = 0;
    if (status != VIRTIO_BLK_S_OK)
        printf("blk: get_id status=%u\n", status);
    printf("blk: driver_features=0x%016lx queue_size=%u\n", blk.vdev.driver_features, blk.vq.size);
    printf("blk: disk=%u capacity=%lu features=0x%016lx blk_size=%u seg_max=%u ro=%d serial='%s'\n",
           nth, blk.capacity, blk.vdev.device_features, blk.blk_size, blk.seg_max, blk.ro, serial);
    blk_stop(&blk);
    return EXIT_PASS;
}

static int test_blk_ro(const struct boot_info *bi)
{
    unsigned nth;
    int rc = blk_disk_arg(&nth);
    if (rc || (rc = blk_open(bi, nth, virtio_optional_features(), &blk)) != 0)
        return rc;
    if (!blk.ro)
        puts("blk: note: VIRTIO_BLK_F_RO not offered");
    memset((void *)(uintptr_t)VIRTIO_DMA_DATA, 0x5a, BLK_SECTOR);
    uint8_t status;
    if ((rc = blk_rw(&blk, true, 0, VIRTIO_DMA_DATA, 1, &status)) != 0)
        return rc;
    printf("blk: write status=%u\n", status);
    blk_stop(&blk);
    return status == VIRTIO_BLK_S_IOERR ? EXIT_PASS : EXIT_BLK_RO;
}

static int test_blk_multi(const struct boot_info *bi)
{
    unsigned count = virtio_count(bi, VIRTIO_ID_BLOCK);
    if (!count) {
        puts("blk: error: no virtio-blk device");
        return EXIT_VIRTIO_NO_DEVICE;
    }
    for (unsigned nth = 0; nth < count; nth++) {
        int rc = blk_open(bi, nth, virtio_optional_features(), &blk);
        if (rc)
            return rc;
        uint32_t n = (uint32_t)min_u64(MULTI_SECTORS, blk.capacity);
        uint8_t status = VIRTIO_BLK_S_OK;
        if (n && (rc = blk_rw(&blk, false, 0, VIRTIO_DMA_DATA, n, &status)) != 0)
            return rc;
        if (status != VIRTIO_BLK_S_OK) {
            printf("blk: error: disk=%u read of %u sectors: status=%u\n", nth, n, status);
            blk_stop(&blk);
            return EXIT_BLK_STATUS;
        }
        printf("blk: disk=%u capacity=%lu crc32=%08x\n", nth, blk.capacity,
               crc32_update(0, (const void *)(uintptr_t)VIRTIO_DMA_DATA, n * BLK_SECTOR));
        blk_stop(&blk);
    }
    printf("blk: disks=%u\n", count);
    return EXIT_PASS;
}

GUEST_TEST(blk_info, "blk-info", test_blk_info);
GUEST_TEST(blk_write, "blk-write", test_blk_write);
GUEST_TEST(blk_indirect, "blk-indirect", test_blk_indirect);
GUEST_TEST(blk_read, "blk-read", test_blk_read);
GUEST_TEST(blk_ro, "blk-ro", test_blk_ro);
GUEST_TEST(blk_multi, "blk-multi", test_blk_multi);
