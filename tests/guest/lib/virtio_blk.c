/*
 * virtio-blk driver for the tests (virtio 1.2 section 5.2): request queue 0 only, one
 * request in flight, header in slot 0 of VIRTIO_DMA_REQUESTS, status byte right after it.
 * Not used: multiqueue, geometry/topology, writeback toggling (CONFIG_WCE), secure erase,
 * zoned devices.
 */
#include "virtio_blk.h"

#include "cmdline.h"
#include "guest.h"

#define BLK_QUEUE_SIZE          256
#define BLK_PAGE                4096u

struct blk_header {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

int blk_disk_arg(unsigned *nth)
{
    uint64_t v = 0;
    int rc = cmdline_get_u64("disk", &v);
    if (rc == -2 || v > 255) {
        printf("blk: error: disk=N needs N in 0..255\n");
        return EXIT_BAD_ARGUMENT;
    }
    *nth = (unsigned)v;
    return 0;
}

int blk_start(struct blk_dev *blk, uint64_t features)
{
    struct virtio_dev *dev = &blk->vdev;
    int rc = virtio_init(dev, BLK_DEFAULT_FEATURES | features);
    if (rc)
        return rc;
    rc = virtio_queue_setup(dev, &blk->vq, 0, BLK_QUEUE_SIZE, 0);
    if (rc) {
        virtio_set_failed(dev);
        return rc;
    }
    virtio_driver_ok(dev);
    blk->capacity = virtio_config64(dev, VIRTIO_BLK_CFG_CAPACITY);
    bool offered_size_max = dev->device_features & BIT64(VIRTIO_BLK_F_SIZE_MAX);
    bool offered_seg_max = dev->device_features & BIT64(VIRTIO_BLK_F_SEG_MAX);
    bool offered_blk_size = dev->device_features & BIT64(VIRTIO_BLK_F_BLK_SIZE);
    blk->size_max = offered_size_max ? virtio_config32(dev, VIRTIO_BLK_CFG_SIZE_MAX) : 0;
    blk->seg_max = offered_seg_max ? virtio_config32(dev, VIRTIO_BLK_CFG_SEG_MAX) : 0;
    blk->blk_size = offered_blk_size ? virtio_config32(dev, VIRTIO_BLK_CFG_BLK_SIZE) : 0;
    blk->max_discard_sectors = blk->discard_sector_alignment = blk->max_write_zeroes_sectors = 0;
    if (virtio_has(dev, VIRTIO_BLK_F_DISCARD)) {
        blk->max_discard_sectors = virtio_config32(dev, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS);
        blk->discard_sector_alignment = virtio_config32(dev, VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT);
    }
    if (virtio_has(dev, VIRTIO_BLK_F_WRITE_ZEROES))
        blk->max_write_zeroes_sectors = virtio_config32(dev, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS);
    blk->ro = virtio_has(dev, VIRTIO_BLK_F_RO);
    blk->indirect = virtio_has(dev, VIRTIO_F_INDIRECT_DESC);
    return 0;
}

int blk_open(const struct boot_info *bi, unsigned nth, uint64_t features, struct blk_dev *blk)
{
    int rc = virtio_dma_check(bi);
    if (rc)
        return rc;
    rc = virtio_find(bi, VIRTIO_ID_BLOCK, nth, &blk->vdev);
    if (rc)
        return rc;
    return blk_start(blk, features);
}

void blk_stop(struct blk_dev *blk) { virtio_reset(&blk->vdev); }

int blk_request(struct blk_dev *blk, uint32_t type, uint64_t sector, const struct virtq_buf *data,
                unsigned n, uint8_t *status)
{
    struct blk_header *h = (struct blk_header *)(uintptr_t)VIRTIO_DMA_REQUESTS;
    volatile uint8_t *st = (volatile uint8_t *)(uintptr_t)(VIRTIO_DMA_REQUESTS + VIRTIO_BLK_HEADER_BYTES);
    struct virtq_buf bufs[BLK_MAX_INDIRECT];
    if (n + 2 > BLK_MAX_INDIRECT || (!blk->indirect && n + 2 > blk->vq.size)) {
        printf("blk: error: %u data buffers do not fit one request\n", n);
        return EXIT_VIRTIO_QUEUE;
    }
    h->type = type;
    h->reserved = 0;
    h->sector = sector;
    *st = 0xff;
    bufs[0] = (struct virtq_buf){VIRTIO_DMA_REQUESTS, VIRTIO_BLK_HEADER_BYTES, false};
    for (unsigned i = 0; i < n; i++)
        bufs[1 + i] = data[i];
    bufs[n + 1] = (struct virtq_buf){VIRTIO_DMA_REQUESTS + VIRTIO_BLK_HEADER_BYTES, 1, true};

    int head = blk->indirect ? virtq_add_indirect(&blk->vq, VIRTIO_DMA_INDIRECT, bufs, n + 2)
                             : virtq_add_chain(&blk->vq, bufs, n + 2);
    if (head < 0) {
        printf("blk: error: no free descriptors\n");
        return EXIT_VIRTIO_QUEUE;
    }
    virtq_publish(&blk->vq, (uint16_t)head);
    virtio_kick(&blk->vdev, &blk->vq);
    uint32_t id, len;
    int rc = virtio_wait_used(&blk->vdev, &blk->vq, &id, &len, VIRTIO_TIMEOUT_TSC);
    if (rc)
        return rc;
    if (id != (uint32_t)head) {
        printf("blk: error: used id %u, posted head %d\n", id, head);
        return EXIT_VIRTIO_PROTOCOL;
    }
    *status = *st;
    return 0;
}

int blk_rw(struct blk_dev *blk, bool write, uint64_t sector, uint64_t pa, uint32_t sectors,
           uint8_t *status)
{
    uint32_t bytes = sectors * BLK_SECTOR;
    uint32_t segs = (bytes + BLK_PAGE - 1) / BLK_PAGE;
    uint32_t limit = blk->indirect ? BLK_MAX_INDIRECT - 2 : (uint32_t)blk->vq.size - 2;
    if (blk->seg_max)
        limit = (uint32_t)min_u64(limit, blk->seg_max);
    if (segs > limit)
        segs = limit;
    if (segs == 0)
        segs = 1;
    /* Equal pieces of whole sectors; the last one takes the rest. */
    uint32_t seg_len = ((bytes + segs - 1) / segs + BLK_SECTOR - 1) / BLK_SECTOR * BLK_SECTOR;
    if (blk->size_max && seg_len > blk->size_max)
        seg_len = (uint32_t)max_u64(blk->size_max / BLK_SECTOR * BLK_SECTOR, BLK_SECTOR);
    segs = (bytes + seg_len - 1) / seg_len;
    if (segs > limit) {
        printf("blk: error: %u sectors need %u segments of %u bytes, limit %u\n", sectors, segs,
               seg_len, limit);
        return EXIT_VIRTIO_QUEUE;
    }
    struct virtq_buf data[BLK_MAX_INDIRECT];
    for (uint32_t i = 0; i < segs; i++) {
        uint32_t off = i * seg_len;
        data[i] = (struct virtq_buf){pa + off, (uint32_t)min_u64(seg_len, bytes - off), !write};
    }
    return blk_request(blk, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, sector, data, segs, status);
}
