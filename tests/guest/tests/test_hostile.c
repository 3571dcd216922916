/*
 * hostile: malformed descriptor chains on the virtio-blk request queue.  The device must
 * not crash or hang; it is expected to set DEVICE_NEEDS_RESET (virtio 1.2 2.1.2) and raise
 * a configuration-change interrupt (InterruptStatus bit 1), then work again after a reset.
 * Every chain is a 1-sector read of sector 0 (header H, data D, status S) with one defect:
 *   loop                  D.next -> S, S.next -> D (NEXT set on both)
 *   next-range            H.next = queue size
 *   head-range            avail.ring[] = queue size
 *   avail-jump            avail.idx advanced by queue size + 1
 *   outside-ram           D is 16 KiB at 1 GiB above max(end of the e820 map, 4 GiB)
 *   read-after-write      a 16-byte device-readable descriptor between D and S
 *   indirect-unnegotiated INDIRECT descriptor -> table {H, D, S}, feature not accepted
 *   nested-indirect       INDIRECT -> table {INDIRECT -> table {H, D, S}}
 *   bad-indirect-len      INDIRECT -> table {H, D, S} with len 40 (not a multiple of 16)
 * Every case but indirect-unnegotiated accepts VIRTIO_F_INDIRECT_DESC when offered.
 * Exit: 0 all passed; else the first failure: 40 NEEDS_RESET not set (the request was
 * completed, or nothing within the bound), 41 no InterruptStatus bit 1, 42 not recovered.
 */
#include "cmdline.h"
#include "guest.h"
#include "io.h"
#include "virtio_blk.h"

#define EXIT_HOSTILE_NO_RESET       40
#define EXIT_HOSTILE_NO_CONFIG_IRQ  41
#define EXIT_HOSTILE_NOT_RECOVERED  42

#define HOSTILE_TIMEOUT_TSC     3000000000ul   /* 1 s at 3 GHz */
#define OUTSIDE_LEN             0x4000u
#define GIB                     (1ull << 30)

#define REQ_H                   VIRTIO_DMA_REQUESTS
#define REQ_S                   (VIRTIO_DMA_REQUESTS + VIRTIO_BLK_HEADER_BYTES)
#define REQ_D                   VIRTIO_DMA_DATA
#define REQ_EXTRA               (VIRTIO_DMA_SMALL + 0x100)
#define TABLE1                  VIRTIO_DMA_INDIRECT
#define TABLE2                  (VIRTIO_DMA_INDIRECT + 0x400)

enum hostile_case {
    CASE_LOOP,
    CASE_NEXT_RANGE,
    CASE_HEAD_RANGE,
    CASE_AVAIL_JUMP,
    CASE_OUTSIDE_RAM,
    CASE_READ_AFTER_WRITE,
    CASE_INDIRECT_UNNEGOTIATED,
    CASE_NESTED_INDIRECT,
    CASE_BAD_INDIRECT_LEN,
    CASE_COUNT
};

static const char *const case_names[CASE_COUNT] = {
    "loop", "next-range", "head-range", "avail-jump", "outside-ram", "read-after-write",
    "indirect-unnegotiated", "nested-indirect", "bad-indirect-len",
};

static struct blk_dev blk;

static uint64_t outside_ram(const struct boot_info *bi)
{
    uint64_t top = 4 * GIB;
    for (uint32_t i = 0; i < bi->nr_mem; i++)
        top = max_u64(top, bi->mem[i].addr + bi->mem[i].size);
    return ((top + GIB - 1) & ~(GIB - 1)) + GIB;
}

static void write_table(uint64_t pa, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                        uint16_t next)
{
    struct virtq_desc *d = (struct virtq_desc *)(uintptr_t)pa + i;
    *d = (struct virtq_desc){addr, len, flags, next};
}

/* The valid read {H, D, S} as a table of three at pa. */
static void valid_table(uint64_t pa)
{
    write_table(pa, 0, REQ_H, VIRTIO_BLK_HEADER_BYTES, VIRTQ_DESC_F_NEXT, 1);
    write_table(pa, 1, REQ_D, BLK_SECTOR, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    write_table(pa, 2, REQ_S, 1, VIRTQ_DESC_F_WRITE, 0);
}

/* Writes the malformed request into the rings and publishes it. */
static void build(enum hostile_case c, const struct boot_info *bi)
{
    struct virtq *vq = &blk.vq;
    uint16_t q = vq->size;
    const uint16_t n = VIRTQ_DESC_F_NEXT, w = VIRTQ_DESC_F_WRITE, ind = VIRTQ_DESC_F_INDIRECT;
    uint32_t *hdr = (uint32_t *)(uintptr_t)REQ_H;
    hdr[0] = VIRTIO_BLK_T_IN;
    hdr[1] = 0;
    *(uint64_t *)(uintptr_t)(REQ_H + 8) = 0;
    *(volatile uint8_t *)(uintptr_t)REQ_S = 0xff;
    /* Descriptors 0..2 hold the valid read unless a case overwrites them. */
    valid_table(vq->desc_pa);
    switch (c) {
    case CASE_LOOP:
        virtq_write_desc(vq, 2, REQ_S, 1, n | w, 1);
        virtq_publish_raw(vq, 0, 1);
        break;
    case CASE_NEXT_RANGE:
        virtq_write_desc(vq, 0, REQ_H, VIRTIO_BLK_HEADER_BYTES, n, q);
        virtq_publish_raw(vq, 0, 1);
        break;
    case CASE_HEAD_RANGE:
        virtq_publish_raw(vq, q, 1);
        break;
    case CASE_AVAIL_JUMP:
        virtq_publish_raw(vq, 0, (uint16_t)(q + 1));
        break;
    case CASE_OUTSIDE_RAM: {
        uint64_t a = outside_ram(bi);
        printf("hostile: case=%s buffer 0x%lx+0x%x\n", case_names[c], a, OUTSIDE_LEN);
        virtq_write_desc(vq, 1, a, OUTSIDE_LEN, n | w, 2);
        virtq_publish_raw(vq, 0, 1);
        break;
    }
    case CASE_READ_AFTER_WRITE:
        virtq_write_desc(vq, 1, REQ_D, BLK_SECTOR, n | w, 3);
        virtq_write_desc(vq, 3, REQ_EXTRA, 16, n, 2);
        virtq_publish_raw(vq, 0, 1);
        break;
    case CASE_INDIRECT_UNNEGOTIATED:
        valid_table(TABLE1);
        virtq_write_desc(vq, 0, TABLE1, 48, ind, 0);
        virtq_publish_raw(vq, 0, 1);
        break;
    case CASE_NESTED_INDIRECT:
        valid_table(TABLE2);
        write_table(TABLE1, 0, TABLE2, 48, ind, 0);
        virtq_write_desc(vq, 0, TABLE1, 16, ind, 0);
        virtq_publish_raw(vq, 0, 1);
        break;
    case CASE_BAD_INDIRECT_LEN:
        valid_table(TABLE1);
        virtq_write_desc(vq, 0, TABLE1, 40, ind, 0);
        virtq_publish_raw(vq, 0, 1);
        break;
    case CASE_COUNT:
        break;
    }
}

static uint64_t case_features(enum hostile_case c)
{
    uint64_t f = virtio_optional_features();
    return c == CASE_INDIRECT_UNNEGOTIATED ? f & ~BIT64(VIRTIO_F_INDIRECT_DESC)
                                           : f | BIT64(VIRTIO_F_INDIRECT_DESC);
}

/* Reset, initialise again and complete one valid 1-sector read. */
static bool recover(enum hostile_case c)
{
    const char *name = case_names[c];
    if (!virtio_reset(&blk.vdev)) {
        printf("hostile: case=%s reset: status 0x%x, want 0\n", name, virtio_status(&blk.vdev));
        return false;
    }
    virtio_ack_interrupt(&blk.vdev);
    uint8_t status;
    if (blk_start(&blk, virtio_optional_features()) != 0 ||
        blk_rw(&blk, false, 0, VIRTIO_DMA_DATA, 1, &status) != 0)
        return false;
    if (status != VIRTIO_BLK_S_OK) {
        printf("hostile: case=%s read after reset: status=%u\n", name, status);
        return false;
    }
    printf("hostile: case=%s recovered\n", name);
    return true;
}

static int run_case(enum hostile_case c, const struct boot_info *bi)
{
    const char *name = case_names[c];
    if (blk_start(&blk, case_features(c)) != 0)
        return EXIT_HOSTILE_NOT_RECOVERED;
    virtio_ack_interrupt(&blk.vdev);
    uint16_t used_before = virtq_used_idx(&blk.vq);
    build(c, bi);
    virtio_notify(&blk.vdev, &blk.vq);

    uint64_t t0 = rdtsc();
    uint32_t status = 0, isr = 0;
    bool completed = false;
    for (;;) {
        status = virtio_status(&blk.vdev);
        if (status & VIRTIO_STATUS_NEEDS_RESET)
            break;
        if (virtq_used_idx(&blk.vq) != used_before) {
            completed = true;
            status = virtio_status(&blk.vdev);
            break;
        }
        if (rdtsc() - t0 > HOSTILE_TIMEOUT_TSC)
            break;
        cpu_pause();
    }
    bool needs_reset = status & VIRTIO_STATUS_NEEDS_RESET;
    printf("hostile: case=%s needs_reset=%d\n", name, needs_reset);
    int rc = 0;
    if (!needs_reset) {
        if (completed)
            printf("hostile: case=%s the device completed the request (request status=%u, device "
                   "status 0x%x)\n", name, *(volatile uint8_t *)(uintptr_t)REQ_S, status);
        else
            printf("hostile: case=%s no reaction within %lu TSC ticks (device status 0x%x)\n", name,
                   HOSTILE_TIMEOUT_TSC, status);
        rc = EXIT_HOSTILE_NO_RESET;
    } else {
        /* The device may set the bit just after Status: poll briefly. */
        t0 = rdtsc();
        while (!(isr & VIRTIO_INT_CONFIG_CHANGE) && rdtsc() - t0 < HOSTILE_TIMEOUT_TSC)
            isr |= virtio_ack_interrupt(&blk.vdev);
        printf("hostile: case=%s interrupt_status=0x%x\n", name, isr);
        if (!(isr & VIRTIO_INT_CONFIG_CHANGE))
            rc = EXIT_HOSTILE_NO_CONFIG_IRQ;
    }
    if (!recover(c) && !rc)
        rc = EXIT_HOSTILE_NOT_RECOVERED;
    return rc;
}

static int test_hostile(const struct boot_info *bi)
{
    const char *which = cmdline_get("case");
    int first = -1;
    for (int c = 0; which && c < CASE_COUNT; c++)
        if (strcmp(which, case_names[c]) == 0)
            first = c;
    bool all = which && strcmp(which, "all") == 0;
    if (first < 0 && !all) {
        printf("hostile: error: need case=NAME, NAME one of all");
        for (int c = 0; c < CASE_COUNT; c++)
            printf(" %s", case_names[c]);
        printf("\n");
        return EXIT_BAD_ARGUMENT;
    }
    unsigned nth;
    int rc = blk_disk_arg(&nth);
    if (rc || (rc = virtio_dma_check(bi)) != 0 || (rc = virtio_find(bi, VIRTIO_ID_BLOCK, nth, &blk.vdev)) != 0)
        return rc;
    int result = 0;
    unsigned passed = 0, ran = 0;
    for (int c = all ? 0 : first; c < (all ? CASE_COUNT : first + 1); c++) {
        rc = run_case((enum hostile_case)c, bi);
        ran++;
        if (!rc)
            passed++;
        else if (!result)
            result = rc;
    }
    printf("hostile: %u of %u cases passed\n", passed, ran);
    blk_stop(&blk);
    return result;
}

GUEST_TEST(hostile, "hostile", test_hostile);
