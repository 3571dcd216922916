/*
 * net-bench: the guest side of network benchmarks, with as little CPU work per frame as the
 * guest can get away with (on some hosts its CPU is emulated very slowly).
 *   dir=tx: `depth` frames of `size` bytes are built once (header + frame in one descriptor,
 *     descriptor i = slot i); per frame the CPU writes the sequence number and the head.
 *   dir=rx: every receiveq buffer stays posted; per used entry the CPU reads num_buffers
 *     (first buffer of a frame, MRG_RXBUF only) and puts the head back; nothing is copied.
 * Completions are polled with interrupts suppressed (VIRTQ_AVAIL_F_NO_INTERRUPT, or with
 * EVENT_IDX a used_event half the index space ahead), one notification per batch.
 * Exit 0; 98 bad arguments; 25 no progress within the bound; virtio codes.
 */
#include "cmdline.h"
#include "guest.h"
#include "io.h"
#include "virtio_net.h"

static struct net_dev net;

struct bench {
    bool rx;
    uint64_t size, count, depth;
    uint64_t timeout;
};

static int parse_args(struct bench *b)
{
    const char *dir = cmdline_get("dir");
    int depth = cmdline_get_u64("depth", &b->depth);
    if (depth == -1)
        b->depth = 0; /* the transmitq size */
    if (!dir || (strcmp(dir, "tx") != 0 && strcmp(dir, "rx") != 0) ||
        cmdline_get_u64("count", &b->count) != 0 || b->count == 0 || depth == -2 ||
        (depth == 0 && b->depth == 0) || (dir[0] == 't' && cmdline_get_u64("size", &b->size) != 0)) {
        puts("net-bench: error: need dir=tx|rx count=N (N > 0), size=S for tx, optionally depth=D (D > 0)");
        return EXIT_BAD_ARGUMENT;
    }
    b->rx = dir[0] == 'r';
    if (!b->rx && (b->size < NET_FRAME_MIN || b->size > NET_FRAME_MAX)) {
        printf("net-bench: error: size=S needs S in %u..%u\n", NET_FRAME_MIN, NET_FRAME_MAX);
        return EXIT_BAD_ARGUMENT;
    }
    return 0;
}

/* Interrupts off: the flag, or with EVENT_IDX a used_event half the index space ahead. */
static void suppress_interrupts(struct virtq *vq)
{
    if (vq->event_idx)
        vq->avail->ring[vq->size] = (uint16_t)(vq->last_used + 0x8000);
    else
        virtq_set_avail_flags(vq, VIRTQ_AVAIL_F_NO_INTERRUPT);
}

static uint8_t *tx_frame(uint64_t slot)
{
    return (uint8_t *)(uintptr_t)(NET_TX_AREA + slot * NET_BUFFER_STRIDE + NET_HDR_BYTES);
}

static void tx_submit(uint16_t slot, uint32_t seq)
{
    uint8_t *p = tx_frame(slot) + NET_ETH_HLEN;
    p[0] = (uint8_t)seq;
    p[1] = (uint8_t)(seq >> 8);
    p[2] = (uint8_t)(seq >> 16);
    p[3] = (uint8_t)(seq >> 24);
    virtq_publish_raw(&net.txq, slot, 1);
}

/*
 * Waits for used entries on vq; false with *rc set if the device set NEEDS_RESET or nothing
 * came within `timeout` TSC ticks of `*progress`.
 */
static bool wait_progress(struct virtq *vq, uint64_t *progress, uint64_t timeout, uint64_t done, int *rc)
{
    for (unsigned spins = 1; virtq_used_idx(vq) == vq->last_used; spins++) {
        cpu_pause();
        if (spins % 4096)
            continue;
        if (virtio_status(&net.vdev) & VIRTIO_STATUS_NEEDS_RESET) {
            puts("net-bench: error: device set NEEDS_RESET");
            *rc = EXIT_VIRTIO_PROTOCOL;
            return false;
        }
        if (rdtsc() - *progress > timeout) {
            printf("net-bench: error: no completion for %lu TSC ticks (%lu frames done)\n", timeout, done);
            *rc = EXIT_VIRTIO_TIMEOUT;
            return false;
        }
    }
    *progress = rdtsc();
    return true;
}

static int bench_tx(const struct bench *b, uint64_t *frames)
{
    for (uint64_t i = 0; i < b->depth; i++) {
        uint64_t hdr = NET_TX_AREA + i * NET_BUFFER_STRIDE;
        memset((void *)(uintptr_t)hdr, 0, NET_HDR_BYTES + b->size);
        uint8_t *f = tx_frame(i);
        memset(f, 0xff, NET_ETH_ALEN);
        memcpy(f + NET_ETH_ALEN, net.mac, NET_ETH_ALEN);
        f[12] = 0x88;
        f[13] = 0xb5;
        virtq_write_desc(&net.txq, (uint16_t)i, hdr, (uint32_t)(NET_HDR_BYTES + b->size), 0, 0);
    }
    suppress_interrupts(&net.txq);
    uint64_t submitted = 0, completed = 0, progress = rdtsc();
    for (; submitted < b->depth && submitted < b->count; submitted++)
        tx_submit((uint16_t)submitted, (uint32_t)submitted);
    virtio_kick(&net.vdev, &net.txq);
    int rc = 0;
    while (completed < b->count) {
        if (!wait_progress(&net.txq, &progress, VIRTIO_TIMEOUT_TSC, completed, &rc))
            break;
        for (uint16_t used = virtq_used_idx(&net.txq); net.txq.last_used != used; net.txq.last_used++) {
            uint32_t id = virtq_used_elem(&net.txq, net.txq.last_used).id;
            if (id >= b->depth) {
                printf("net-bench: error: used id %u was never posted\n", id);
                return EXIT_VIRTIO_PROTOCOL;
            }
            completed++;
            if (submitted < b->count)
                tx_submit((uint16_t)id, (uint32_t)submitted++);
        }
        suppress_interrupts(&net.txq);
        virtio_kick(&net.vdev, &net.txq);
    }
    *frames = completed;
    return rc;
}

static int bench_rx(const struct bench *b, uint64_t *frames, uint64_t *bytes)
{
    suppress_interrupts(&net.rxq);
    net_print_ready(&net);
    uint64_t progress = rdtsc(), received = 0, rest = 0; /* rest: buffers of the current frame */
    int rc = 0;
    while (received < b->count || rest) {
        if (!wait_progress(&net.rxq, &progress, b->timeout, received, &rc))
            break;
        uint16_t used = virtq_used_idx(&net.rxq);
        for (; net.rxq.last_used != used && (received < b->count || rest); net.rxq.last_used++) {
            struct virtq_used_elem e = virtq_used_elem(&net.rxq, net.rxq.last_used);
            if (e.id >= net.rxq.size) {
                printf("net-bench: error: used id %u was never posted\n", e.id);
                return EXIT_VIRTIO_PROTOCOL;
            }
            if (rest) {
                rest--;
                *bytes += e.len;
            } else {
                const struct virtio_net_hdr *h = (const struct virtio_net_hdr *)(uintptr_t)(
                    NET_RX_AREA + (uint64_t)net.rx_buf_of_head[e.id] * NET_BUFFER_STRIDE);
                rest = net.mrg && h->num_buffers ? h->num_buffers - 1u : 0;
                *bytes += e.len >= NET_HDR_BYTES ? e.len - NET_HDR_BYTES : 0;
                received++;
            }
            virtq_publish_raw(&net.rxq, (uint16_t)e.id, 1);
        }
        suppress_interrupts(&net.rxq);
        virtio_kick(&net.vdev, &net.rxq);
    }
    *frames = received;
    return rc;
}

static int test_net_bench(const struct boot_info *bi)
{
    struct bench b = {0};
    struct net_options o;
    unsigned nth;
    int rc = parse_args(&b);
    if (rc || (rc = net_options_parse(&o, &nth)) != 0 || (rc = net_open(bi, nth, &o, &net)) != 0)
        return rc;
    b.timeout = o.timeout;
    if (!b.depth)
        b.depth = net.txq.size;
    if (b.depth > net.txq.size) {
        printf("net-bench: error: depth=D needs D in 1..%u (the transmitq size)\n", net.txq.size);
        net_stop(&net);
        return EXIT_BAD_ARGUMENT;
    }
    net_print_setup(&net);
    printf("bench: dir=%s size=%lu count=%lu depth=%lu queue_size=%u mrg=%d event_idx=%d\n",
           b.rx ? "rx" : "tx", b.rx ? 0 : b.size, b.count, b.rx ? net.rx_posted : b.depth,
           b.rx ? net.rxq.size : net.txq.size, net.mrg, net.rxq.event_idx);
    uint64_t t0 = rdtsc(), frames = 0, bytes = 0;
    if (b.rx) {
        rc = bench_rx(&b, &frames, &bytes);
    } else {
        rc = bench_tx(&b, &frames);
        bytes = frames * b.size;
    }
    uint64_t ticks = rdtsc() - t0;
    printf("bench: frames=%lu bytes=%lu\n", frames, bytes);
    printf("bench: tsc_ticks=%lu\n", ticks);
    net_stop(&net);
    return rc;
}

GUEST_TEST(net_bench, "net-bench", test_net_bench);
