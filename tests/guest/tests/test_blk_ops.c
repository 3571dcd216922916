/*
 * blk-ops: the error and maintenance paths of a virtio-blk device (virtio 1.2 5.2.6):
 *   read-past-end   a 1-sector read at sector `capacity`          -> VIRTIO_BLK_S_IOERR
 *   unknown         request type 0x55, no data                     -> VIRTIO_BLK_S_UNSUPP
 *   discard         pattern to sectors 64..127, DISCARD them, read back: status 0 and zeros
 *   write-zeroes    pattern to sectors 128..191, WRITE_ZEROES (no unmap), read back: zeros
 * discard/write-zeroes are skipped when their feature is not offered.  The zeros after
 * DISCARD are stricter than the spec (a discarded range may read back anything); minivmm's
 * device punches a hole, and QEMU does so with `discard=unmap` on a raw file.
 * Needs a writable disk of at least 256 sectors.  Exit 0 if all ops ran are ok, else 32.
 */
#include "guest.h"
#include "virtio_blk.h"

#define OPS_MIN_CAPACITY        256
#define DISCARD_START           64
#define ZEROES_START            128
#define OPS_RANGE               64
#define UNKNOWN_TYPE            0x55
#define PATTERN_BYTE            0xa7

struct blk_range_segment { /* virtio_blk_discard_write_zeroes */
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};

static struct blk_dev blk;

static bool report(const char *op, uint8_t status, bool ok)
{
    printf("blk: op=%s status=%u %s\n", op, status, ok ? "ok" : "FAIL");
    return ok;
}

static bool is_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

/* Fills [start, start + n) with a pattern, runs `type` over it, reads it back as zeros. */
static int range_op(const char *op, uint32_t type, uint64_t start, uint32_t n, bool *ok)
{
    uint8_t status;
    int rc;
    memset((void *)(uintptr_t)VIRTIO_DMA_DATA, PATTERN_BYTE, n * BLK_SECTOR);
    if ((rc = blk_rw(&blk, true, start, VIRTIO_DMA_DATA, n, &status)) != 0)
        return rc;
    if (status != VIRTIO_BLK_S_OK) {
        printf("blk: op=%s: pattern write to sectors %lu..%lu: status=%u\n", op, start,
               start + n - 1, status);
        *ok = report(op, status, false);
        return 0;
    }
    struct blk_range_segment *seg = (struct blk_range_segment *)(uintptr_t)VIRTIO_DMA_SMALL;
    *seg = (struct blk_range_segment){start, n, 0};
    struct virtq_buf buf = {VIRTIO_DMA_SMALL, sizeof(*seg), false};
    if ((rc = blk_request(&blk, type, 0, &buf, 1, &status)) != 0)
        return rc;
    uint8_t read_status = VIRTIO_BLK_S_OK;
    memset((void *)(uintptr_t)VIRTIO_DMA_DATA, PATTERN_BYTE, n * BLK_SECTOR);
    if (status == VIRTIO_BLK_S_OK && (rc = blk_rw(&blk, false, start, VIRTIO_DMA_DATA, n, &read_status)) != 0)
        return rc;
    bool zeros = read_status == VIRTIO_BLK_S_OK &&
                 is_zero((const void *)(uintptr_t)VIRTIO_DMA_DATA, n * BLK_SECTOR);
    if (status == VIRTIO_BLK_S_OK && !zeros)
        printf("blk: op=%s: sectors %lu..%lu do not read back as zeros (read status=%u)\n", op,
               start, start + n - 1, read_status);
    *ok = report(op, status, status == VIRTIO_BLK_S_OK && zeros);
    return 0;
}

static int test_blk_ops(const struct boot_info *bi)
{
    unsigned nth;
    int rc = blk_disk_arg(&nth);
    if (rc || (rc = blk_open(bi, nth, virtio_optional_features(), &blk)) != 0)
        return rc;
    if (blk.capacity < OPS_MIN_CAPACITY) {
        printf("blk-ops: error: capacity %lu sectors, need at least %u\n", blk.capacity,
               OPS_MIN_CAPACITY);
        blk_stop(&blk);
        return EXIT_BAD_ARGUMENT;
    }
    bool all = true, ok;
    uint8_t status;

    if ((rc = blk_rw(&blk, false, blk.capacity, VIRTIO_DMA_DATA, 1, &status)) != 0)
        return rc;
    all &= report("read-past-end", status, status == VIRTIO_BLK_S_IOERR);

    if ((rc = blk_request(&blk, UNKNOWN_TYPE, 0, NULL, 0, &status)) != 0)
        return rc;
    all &= report("unknown", status, status == VIRTIO_BLK_S_UNSUPP);

    if (virtio_has(&blk.vdev, VIRTIO_BLK_F_DISCARD)) {
        /* 64 sectors at 64, shrunk to max_discard_sectors and discard_sector_alignment. */
        uint32_t align = blk.discard_sector_alignment ? blk.discard_sector_alignment : 1;
        uint32_t n = OPS_RANGE;
        if (blk.max_discard_sectors && n > blk.max_discard_sectors)
            n = blk.max_discard_sectors;
        n = n / align * align;
        if (n == 0 || DISCARD_START % align) {
            printf("blk: op=discard: cannot fit an aligned range (alignment %u, max %u sectors)\n",
                   align, blk.max_discard_sectors);
            all &= report("discard", 0xff, false);
        } else {
            if ((rc = range_op("discard", VIRTIO_BLK_T_DISCARD, DISCARD_START, n, &ok)) != 0)
                return rc;
            all &= ok;
        }
    } else {
        puts("blk: op=discard skipped (VIRTIO_BLK_F_DISCARD not offered)");
    }

    if (virtio_has(&blk.vdev, VIRTIO_BLK_F_WRITE_ZEROES)) {
        uint32_t n = OPS_RANGE;
        if (blk.max_write_zeroes_sectors && n > blk.max_write_zeroes_sectors)
            n = blk.max_write_zeroes_sectors;
        if ((rc = range_op("write-zeroes", VIRTIO_BLK_T_WRITE_ZEROES, ZEROES_START, n, &ok)) != 0)
            return rc;
        all &= ok;
    } else {
        puts("blk: op=write-zeroes skipped (VIRTIO_BLK_F_WRITE_ZEROES not offered)");
    }
    blk_stop(&blk);
    return all ? EXIT_PASS : EXIT_BLK_OPS;
}

GUEST_TEST(blk_ops, "blk-ops", test_blk_ops);
