/*
 * blk-bench: the guest side of block benchmarks.  Keeps `depth` requests of `bs` bytes in
 * flight on one virtio-blk device until total/bs requests completed, at sequential or
 * random (LCG, bs-aligned, within the capacity) offsets.  Per request the CPU only writes
 * the sector into a prepared header and the head into the available ring: descriptors are
 * built once (3 per request, or 1 ring descriptor + a 3-entry table each with indirect=1),
 * all requests share one data buffer whose contents are never looked at, completions are
 * polled and interrupts suppressed (VIRTQ_AVAIL_F_NO_INTERRUPT, or a far used_event with
 * EVENT_IDX).  Exit 0; 30 if any request failed; 98 bad arguments; virtio codes.
 */
#include "cmdline.h"
#include "guest.h"
#include "io.h"
#include "virtio_blk.h"

#define BENCH_MAX_BS            0x100000u
#define BENCH_MAX_DEPTH         1024u
#define BENCH_TABLE_STRIDE      64u     /* 3 descriptors, 64-byte aligned */

static struct blk_dev blk;

struct bench {
    bool rand, write;
    uint64_t bs, depth, total, requests;
    uint64_t nslots;            /* bs-sized slots within the capacity */
    uint64_t next_seq, lcg;
};

static uint64_t next_sector(struct bench *b)
{
    uint64_t slot;
    if (b->rand) {
        b->lcg = b->lcg * 6364136223846793005ull + 1442695040888963407ull;
        slot = (b->lcg >> 33) % b->nslots;
    } else {
        slot = b->next_seq++ % b->nslots;
    }
    return slot * (b->bs / BLK_SECTOR);
}

static uint64_t header_pa(uint64_t i) { return VIRTIO_DMA_REQUESTS + i * VIRTIO_DMA_REQUEST_SLOT; }

/* BYTES: a number with an optional K/M/G suffix. */
static bool size_arg(const char *key, uint64_t *out)
{
    const char *v = cmdline_get(key), *end;
    return v && parse_size(v, &end, out) && *end == 0;
}

static int parse_args(struct bench *b)
{
    const char *mode = cmdline_get("mode");
    uint64_t write = 0, seed = 1;
    if (!mode || (strcmp(mode, "seq") != 0 && strcmp(mode, "rand") != 0) ||
        !size_arg("bs", &b->bs) || cmdline_get_u64("depth", &b->depth) != 0 ||
        !size_arg("total", &b->total) || cmdline_get_u64("write", &write) == -2 ||
        cmdline_get_u64("seed", &seed) == -2 || write > 1) {
        puts("blk-bench: error: need mode=seq|rand bs=BYTES depth=D total=BYTES (K/M/G suffix) [write=0|1] "
             "[seed=S] [disk=N]");
        return EXIT_BAD_ARGUMENT;
    }
    if (b->bs == 0 || b->bs % BLK_SECTOR || b->bs > BENCH_MAX_BS || b->depth == 0 ||
        b->depth > BENCH_MAX_DEPTH || b->total < b->bs) {
        printf("blk-bench: error: bs must be a multiple of 512 up to %u, depth 1..%u, total >= bs\n",
               BENCH_MAX_BS, BENCH_MAX_DEPTH);
        return EXIT_BAD_ARGUMENT;
    }
    b->rand = mode[0] == 'r';
    b->write = write;
    b->lcg = seed;
    b->requests = b->total / b->bs;
    return 0;
}

/* Descriptors of request slot i, built once. */
static void prepare(const struct bench *b, uint64_t i, uint16_t *head)
{
    uint64_t h = header_pa(i), st = h + VIRTIO_BLK_HEADER_BYTES;
    uint16_t data_flags = b->write ? 0 : VIRTQ_DESC_F_WRITE;
    uint32_t *hdr = (uint32_t *)(uintptr_t)h;
    hdr[0] = b->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
    hdr[1] = 0;
    if (blk.indirect) {
        struct virtq_desc *t =
            (struct virtq_desc *)(uintptr_t)(VIRTIO_DMA_INDIRECT + i * BENCH_TABLE_STRIDE);
        t[0] = (struct virtq_desc){h, VIRTIO_BLK_HEADER_BYTES, VIRTQ_DESC_F_NEXT, 1};
        t[1] = (struct virtq_desc){VIRTIO_DMA_DATA, (uint32_t)b->bs,
                                   (uint16_t)(VIRTQ_DESC_F_NEXT | data_flags), 2};
        t[2] = (struct virtq_desc){st, 1, VIRTQ_DESC_F_WRITE, 0};
        *head = (uint16_t)i;
        virtq_write_desc(&blk.vq, *head, (uint64_t)(uintptr_t)t, 3 * sizeof(*t),
                         VIRTQ_DESC_F_INDIRECT, 0);
    } else {
        *head = (uint16_t)(3 * i);
        virtq_write_desc(&blk.vq, *head, h, VIRTIO_BLK_HEADER_BYTES, VIRTQ_DESC_F_NEXT,
                         (uint16_t)(*head + 1));
        virtq_write_desc(&blk.vq, (uint16_t)(*head + 1), VIRTIO_DMA_DATA, (uint32_t)b->bs,
                         (uint16_t)(VIRTQ_DESC_F_NEXT | data_flags), (uint16_t)(*head + 2));
        virtq_write_desc(&blk.vq, (uint16_t)(*head + 2), st, 1, VIRTQ_DESC_F_WRITE, 0);
    }
}

static void submit(struct bench *b, uint64_t i, uint16_t head)
{
    *(uint64_t *)(uintptr_t)(header_pa(i) + 8) = next_sector(b);
    *(volatile uint8_t *)(uintptr_t)(header_pa(i) + VIRTIO_BLK_HEADER_BYTES) = 0xff;
    virtq_publish_raw(&blk.vq, head, 1);
}

/* Interrupts off: the flag, or with EVENT_IDX a used_event half the index space ahead. */
static void suppress_interrupts(void)
{
    if (blk.vq.event_idx)
        blk.vq.avail->ring[blk.vq.size] = (uint16_t)(blk.vq.last_used + 0x8000);
    else
        virtq_set_avail_flags(&blk.vq, VIRTQ_AVAIL_F_NO_INTERRUPT);
}

static int test_blk_bench(const struct boot_info *bi)
{
    struct bench b = {0};
    unsigned nth;
    int rc = parse_args(&b);
    if (rc || (rc = blk_disk_arg(&nth)) != 0 ||
        (rc = blk_open(bi, nth, virtio_optional_features(), &blk)) != 0)
        return rc;
    uint64_t per_request = blk.indirect ? 1 : 3;
    b.nslots = blk.capacity * BLK_SECTOR / b.bs;
    if (b.nslots == 0 || b.depth * per_request > blk.vq.size) {
        printf("blk-bench: error: need bs <= capacity (%lu bytes) and depth <= %lu (queue size %u%s)\n",
               blk.capacity * BLK_SECTOR, blk.vq.size / per_request, blk.vq.size,
               blk.indirect ? ", indirect" : ", 3 descriptors per request");
        blk_stop(&blk);
        return EXIT_BAD_ARGUMENT;
    }
    printf("bench: mode=%s bs=%lu depth=%lu write=%d requests=%lu queue_size=%u indirect=%d "
           "event_idx=%d\n", b.rand ? "rand" : "seq", b.bs, b.depth, b.write, b.requests,
           blk.vq.size, blk.indirect, blk.vq.event_idx);
    memset((void *)(uintptr_t)VIRTIO_DMA_DATA, 0, b.bs);
    uint16_t heads[BENCH_MAX_DEPTH];
    for (uint64_t i = 0; i < b.depth; i++)
        prepare(&b, i, &heads[i]);
    suppress_interrupts();

    uint64_t t0 = rdtsc(), submitted = 0, completed = 0, failed = 0;
    for (uint64_t i = 0; i < b.depth && submitted < b.requests; i++, submitted++)
        submit(&b, i, heads[i]);
    virtio_kick(&blk.vdev, &blk.vq);
    uint64_t progress = rdtsc();
    for (unsigned spins = 0; completed < b.requests;) {
        uint16_t used = virtq_used_idx(&blk.vq);
        if (used == blk.vq.last_used) {
            cpu_pause();
            if (++spins % 4096)
                continue;
            if (virtio_status(&blk.vdev) & VIRTIO_STATUS_NEEDS_RESET) {
                puts("blk-bench: error: device set NEEDS_RESET");
                return EXIT_VIRTIO_PROTOCOL;
            }
            if (rdtsc() - progress > VIRTIO_TIMEOUT_TSC) {
                printf("blk-bench: error: no completion for %lu TSC ticks (%lu of %lu done)\n",
                       VIRTIO_TIMEOUT_TSC, completed, b.requests);
                return EXIT_VIRTIO_TIMEOUT;
            }
            continue;
        }
        for (; blk.vq.last_used != used; blk.vq.last_used++, completed++) {
            uint32_t id = virtq_used_elem(&blk.vq, blk.vq.last_used).id;
            uint64_t slot = id / per_request;
            if (id % per_request || slot >= b.depth) {
                printf("blk-bench: error: used id %u was never posted\n", id);
                return EXIT_VIRTIO_PROTOCOL;
            }
            if (*(volatile uint8_t *)(uintptr_t)(header_pa(slot) + VIRTIO_BLK_HEADER_BYTES))
                failed++;
            if (submitted < b.requests) {
                submit(&b, slot, (uint16_t)id);
                submitted++;
            }
        }
        suppress_interrupts();
        virtio_kick(&blk.vdev, &blk.vq);
        progress = rdtsc();
    }
    uint64_t ticks = rdtsc() - t0;
    printf("bench: requests=%lu bytes=%lu\n", completed, completed * b.bs);
    printf("bench: tsc_ticks=%lu failed=%lu\n", ticks, failed);
    blk_stop(&blk);
    return failed ? EXIT_BLK_STATUS : EXIT_PASS;
}

GUEST_TEST(blk_bench, "blk-bench", test_blk_bench);
