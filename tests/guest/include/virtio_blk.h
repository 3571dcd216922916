/*
 * virtio-blk driver for the tests (virtio 1.2 section 5.2): one request queue, synchronous
 * requests (header, data descriptors, status byte), direct chains or one indirect table.
 */
#ifndef GUEST_VIRTIO_BLK_H
#define GUEST_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "boot.h"
#include "virtio_mmio.h"
#include "virtq.h"

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX           1
#define VIRTIO_BLK_F_SEG_MAX            2
#define VIRTIO_BLK_F_RO                 5
#define VIRTIO_BLK_F_BLK_SIZE           6
#define VIRTIO_BLK_F_FLUSH              9
#define VIRTIO_BLK_F_DISCARD            13
#define VIRTIO_BLK_F_WRITE_ZEROES       14

/* Configuration layout (5.2.4). */
#define VIRTIO_BLK_CFG_CAPACITY         0
#define VIRTIO_BLK_CFG_SIZE_MAX         8
#define VIRTIO_BLK_CFG_SEG_MAX          12
#define VIRTIO_BLK_CFG_BLK_SIZE         20
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS      36
#define VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT 44
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS 48

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN                 0
#define VIRTIO_BLK_T_OUT                1
#define VIRTIO_BLK_T_FLUSH              4
#define VIRTIO_BLK_T_GET_ID             8
#define VIRTIO_BLK_T_DISCARD            11
#define VIRTIO_BLK_T_WRITE_ZEROES       13
#define VIRTIO_BLK_S_OK                 0
#define VIRTIO_BLK_S_IOERR              1
#define VIRTIO_BLK_S_UNSUPP             2
#define VIRTIO_BLK_ID_BYTES             20
#define VIRTIO_BLK_HEADER_BYTES         16

#define BLK_SECTOR                      512u
#define BLK_MAX_REQUEST_SECTORS         128u
#define BLK_MAX_INDIRECT                64u     /* entries of one indirect table */

/* Test-specific exit codes of the blk tests (README). */
#define EXIT_BLK_STATUS                 30  /* a request that must succeed did not */
#define EXIT_BLK_RO                     31  /* blk-ro: the write did not fail with IOERR */
#define EXIT_BLK_OPS                    32  /* blk-ops: at least one op FAIL */

/* Feature bits the blk tests always accept when offered. */
#define BLK_DEFAULT_FEATURES                                                                       \
    (BIT64(VIRTIO_BLK_F_SIZE_MAX) | BIT64(VIRTIO_BLK_F_SEG_MAX) | BIT64(VIRTIO_BLK_F_RO) |         \
     BIT64(VIRTIO_BLK_F_BLK_SIZE) | BIT64(VIRTIO_BLK_F_FLUSH) | BIT64(VIRTIO_BLK_F_DISCARD) |      \
     BIT64(VIRTIO_BLK_F_WRITE_ZEROES))

struct blk_dev {
    struct virtio_dev vdev;
    struct virtq vq;
    uint64_t capacity;          /* 512-byte sectors */
    uint32_t blk_size, seg_max, size_max; /* 0: feature not offered */
    uint32_t max_discard_sectors, discard_sector_alignment, max_write_zeroes_sectors;
    bool ro;
    bool indirect;              /* requests go through one indirect table */
};

/* `disk=N` (default 0): 0, or EXIT_BAD_ARGUMENT with a line. */
int blk_disk_arg(unsigned *nth);
/* Finds the nth virtio-blk device, checks the DMA region and starts it (blk_start). */
int blk_open(const struct boot_info *bi, unsigned nth, uint64_t features, struct blk_dev *blk);
/*
 * virtio_init() with BLK_DEFAULT_FEATURES | features, request queue 0, DRIVER_OK, then the
 * configuration.  Indirect tables are used iff INDIRECT_DESC was requested and accepted.
 */
int blk_start(struct blk_dev *blk, uint64_t features);
/* Resets the device (it stops using our memory). */
void blk_stop(struct blk_dev *blk);

/*
 * One synchronous request: header (type, sector), the data buffers, the status byte.
 * Returns 0 with *status as written by the device (0xff if it wrote none), or an
 * EXIT_VIRTIO_* code.
 */
int blk_request(struct blk_dev *blk, uint32_t type, uint64_t sector, const struct virtq_buf *data,
                unsigned n, uint8_t *status);
/* A read or write of `sectors` (<= BLK_MAX_REQUEST_SECTORS) at pa, split into descriptors of
 * at most 4 KiB (fewer, larger ones if seg_max, the queue size or the table require). */
int blk_rw(struct blk_dev *blk, bool write, uint64_t sector, uint64_t pa, uint32_t sectors,
           uint8_t *status);

#endif
