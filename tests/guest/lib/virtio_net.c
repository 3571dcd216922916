/*
 * virtio-net driver for the tests (virtio 1.2 section 5.1): one receiveq/transmitq pair,
 * completions polled through virtio_wait_used() (so every used entry is also checked for its
 * interrupt).  Receive: one descriptor per buffer, 1526 bytes each, or `rxbuf` bytes each
 * with MRG_RXBUF, where a frame spans num_buffers buffers (5.1.6.4).  Transmit: the zeroed
 * header and the frame in one descriptor, or as two (`split=1`), or through a two-entry
 * indirect table (INDIRECT_DESC accepted); up to a queue's worth of frames in flight.
 * Not used: control queue, multiqueue, offloads, MTU, announce, RSS.
 */
#include "virtio_net.h"

#include "cmdline.h"
#include "guest.h"

static int u64_arg(const char *key, uint64_t lo, uint64_t hi, uint64_t *v)
{
    int rc = cmdline_get_u64(key, v);
    if (rc == -2 || (rc == 0 && (*v < lo || *v > hi))) {
        printf("net: error: %s=N needs N in %lu..%lu\n", key, lo, hi);
        return EXIT_BAD_ARGUMENT;
    }
    return 0;
}

int net_options_parse(struct net_options *o, unsigned *nth)
{
    uint64_t nic = 0, mrg = 0, split = 0, rxbuf = NET_MRG_RX_DEFAULT, timeout_s = NET_DEFAULT_TIMEOUT_S;
    if (u64_arg("nic", 0, 255, &nic) || u64_arg("mrg", 0, 1, &mrg) || u64_arg("split", 0, 1, &split) ||
        u64_arg("rxbuf", NET_MRG_RX_MIN, NET_BUFFER_STRIDE, &rxbuf) ||
        u64_arg("timeout_s", 1, 86400, &timeout_s))
        return EXIT_BAD_ARGUMENT;
    if (!mrg && cmdline_get("rxbuf")) {
        puts("net: error: rxbuf=B needs mrg=1");
        return EXIT_BAD_ARGUMENT;
    }
    *nth = (unsigned)nic;
    o->features = virtio_optional_features() | (mrg ? BIT64(VIRTIO_NET_F_MRG_RXBUF) : 0);
    o->rx_bytes = (uint32_t)rxbuf;
    o->split = split;
    o->timeout = timeout_s * NET_TSC_PER_SECOND;
    return 0;
}

void net_format_mac(const uint8_t mac[NET_ETH_ALEN], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

static uint64_t rx_buffer_pa(unsigned i) { return NET_RX_AREA + (uint64_t)i * NET_BUFFER_STRIDE; }
static uint64_t tx_slot_pa(unsigned i) { return NET_TX_AREA + (uint64_t)i * NET_BUFFER_STRIDE; }

/* Posts receive buffer i (its header zeroed, so a device that skips it is seen). */
static int post_rx(struct net_dev *net, uint16_t i)
{
    memset((void *)(uintptr_t)rx_buffer_pa(i), 0, NET_HDR_BYTES);
    struct virtq_buf b = {rx_buffer_pa(i), net->rx_bytes, true};
    int head = virtq_add_chain(&net->rxq, &b, 1);
    if (head < 0) {
        puts("net: error: receiveq has no free descriptor");
        return EXIT_VIRTIO_QUEUE;
    }
    net->rx_buf_of_head[head] = i;
    virtq_publish(&net->rxq, (uint16_t)head);
    return 0;
}

int net_open(const struct boot_info *bi, unsigned nth, const struct net_options *o, struct net_dev *net)
{
    struct virtio_dev *dev = &net->vdev;
    int rc = virtio_dma_check(bi);
    if (rc || (rc = virtio_find(bi, VIRTIO_ID_NET, nth, dev)) != 0 ||
        (rc = virtio_init(dev, BIT64(VIRTIO_NET_F_MAC) | BIT64(VIRTIO_NET_F_STATUS) | o->features)) != 0)
        return rc;
    if ((rc = virtio_queue_setup(dev, &net->rxq, NET_RECEIVEQ, NET_QUEUE_SIZE, 0)) != 0 ||
        (rc = virtio_queue_setup(dev, &net->txq, NET_TRANSMITQ, NET_QUEUE_SIZE, 1)) != 0) {
        virtio_set_failed(dev);
        return rc;
    }
    virtio_driver_ok(dev);
    net->nth = nth;
    net->mrg = virtio_has(dev, VIRTIO_NET_F_MRG_RXBUF);
    net->indirect = virtio_has(dev, VIRTIO_F_INDIRECT_DESC);
    net->split = o->split;
    net->rx_bytes = net->mrg ? o->rx_bytes : NET_RX_BYTES;
    net->num_buffers_noted = false;
    /* 5.1.5: without MAC the driver picks an address; ours is locally administered. */
    net->mac_offered = virtio_has(dev, VIRTIO_NET_F_MAC);
    for (unsigned i = 0; i < NET_ETH_ALEN; i++)
        net->mac[i] = net->mac_offered ? virtio_config8(dev, VIRTIO_NET_CFG_MAC + i) : 0;
    if (!net->mac_offered) {
        net->mac[0] = 0x02;
        net->mac[5] = (uint8_t)nth;
    }
    /* 5.1.4: without STATUS the link is assumed up. */
    net->status_offered = virtio_has(dev, VIRTIO_NET_F_STATUS);
    net->status = net->status_offered ? virtio_config16(dev, VIRTIO_NET_CFG_STATUS) : VIRTIO_NET_S_LINK_UP;

    net->tx_nfree = net->txq.size;
    for (uint16_t i = 0; i < net->txq.size; i++)
        net->tx_free[i] = (uint16_t)(net->txq.size - 1 - i);
    net->rx_posted = net->rxq.size;
    for (uint16_t i = 0; i < net->rxq.size; i++)
        if ((rc = post_rx(net, i)) != 0)
            return rc;
    virtio_kick(dev, &net->rxq);
    return 0;
}

void net_stop(struct net_dev *net) { virtio_reset(&net->vdev); }

void net_print_setup(const struct net_dev *net)
{
    printf("net: driver_features=0x%016lx queues=%u+%u rx_buffer_bytes=%u tx_layout=%s\n",
           net->vdev.driver_features, net->rxq.size, net->txq.size, net->rx_bytes,
           net->indirect ? "indirect" : net->split ? "split" : "single");
    if (!net->mac_offered)
        puts("net: note: VIRTIO_NET_F_MAC not offered, using a locally administered address");
    if (!(net->status & VIRTIO_NET_S_LINK_UP))
        printf("net: note: link is down (status 0x%x)\n", net->status);
}

void net_print_ready(const struct net_dev *net) { printf("net: ready rx_buffers=%u\n", net->rx_posted); }

/* Waits for one transmit completion and frees its slot. */
static int tx_complete_one(struct net_dev *net)
{
    uint32_t id, len;
    int rc = virtio_wait_used(&net->vdev, &net->txq, &id, &len, VIRTIO_TIMEOUT_TSC);
    if (rc)
        return rc;
    net->tx_free[net->tx_nfree++] = net->tx_slot_of_head[id];
    return 0;
}

int net_send(struct net_dev *net, const void *frame, uint32_t len)
{
    if (len > NET_FRAME_MAX) {
        printf("net: error: frame of %u bytes, at most %u\n", len, NET_FRAME_MAX);
        return EXIT_BAD_ARGUMENT;
    }
    bool separate = net->split || net->indirect;
    uint16_t ring_descriptors = net->split && !net->indirect ? 2 : 1;
    int rc;
    while (!net->tx_nfree || net->txq.num_free < ring_descriptors)
        if ((rc = tx_complete_one(net)) != 0)
            return rc;
    uint16_t slot = net->tx_free[--net->tx_nfree];
    uint64_t hdr = tx_slot_pa(slot), data = hdr + (separate ? NET_TX_SPLIT_FRAME : NET_HDR_BYTES);
    /* 5.1.6.2: no offloads, so flags, gso_type and (5.1.6.2.1) num_buffers are all 0. */
    memset((void *)(uintptr_t)hdr, 0, NET_HDR_BYTES);
    memcpy((void *)(uintptr_t)data, frame, len);
    struct virtq_buf bufs[2] = {{hdr, NET_HDR_BYTES, false}, {data, len, false}};
    int head;
    if (net->indirect) {
        head = virtq_add_indirect(&net->txq, VIRTIO_DMA_INDIRECT + (uint64_t)slot * NET_TX_TABLE_BYTES,
                                  bufs, 2);
    } else if (net->split) {
        head = virtq_add_chain(&net->txq, bufs, 2);
    } else {
        bufs[0].len = NET_HDR_BYTES + len;
        head = virtq_add_chain(&net->txq, bufs, 1);
    }
    if (head < 0) {
        puts("net: error: transmitq has no free descriptor");
        return EXIT_VIRTIO_QUEUE;
    }
    net->tx_slot_of_head[head] = slot;
    virtq_publish(&net->txq, (uint16_t)head);
    virtio_kick(&net->vdev, &net->txq);
    return 0;
}

int net_tx_drain(struct net_dev *net)
{
    int rc;
    while (net->tx_nfree < net->txq.size)
        if ((rc = tx_complete_one(net)) != 0)
            return rc;
    return 0;
}

/*
 * 5.1.6.4.1: without GUEST_CSUM only DATA_VALID may be set (the 2024 correction allows it),
 * without GUEST_TSO4/6 or UFO gso_type is NONE, without MRG_RXBUF num_buffers is 1.  A 0 there is
 * tolerated with a note: QEMU 7.2 leaves the field unwritten (as vhost-net did until 2025).
 */
static int check_header(struct net_dev *net, const struct virtio_net_hdr *h, uint16_t *nbufs)
{
    if (h->flags & ~VIRTIO_NET_HDR_F_DATA_VALID || h->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
        printf("net: error: received header flags=0x%02x gso_type=%u; no offload was accepted\n",
               h->flags, h->gso_type);
        return EXIT_NET_RX_HEADER;
    }
    *nbufs = h->num_buffers;
    if (!net->mrg) {
        if (*nbufs == 0 && !net->num_buffers_noted) {
            puts("net: note: num_buffers=0 without VIRTIO_NET_F_MRG_RXBUF (5.1.6.4.1 wants 1)");
            net->num_buffers_noted = true;
        } else if (*nbufs > 1) {
            printf("net: error: num_buffers=%u without VIRTIO_NET_F_MRG_RXBUF\n", *nbufs);
            return EXIT_NET_RX_HEADER;
        }
        *nbufs = 1;
    } else if (*nbufs == 0 || *nbufs > net->rx_posted) {
        printf("net: error: num_buffers=%u, want 1..%u (buffers posted)\n", *nbufs, net->rx_posted);
        return EXIT_NET_RX_HEADER;
    }
    return 0;
}

int net_receive(struct net_dev *net, uint8_t *frame, uint32_t *frame_len, uint64_t timeout)
{
    uint16_t bufs[NET_QUEUE_SIZE], nbufs = 1;
    uint32_t total = 0, id, used = 0;
    int rc;
    for (uint16_t k = 0; k < nbufs; k++) {
        if (k && used != net->rx_bytes) {
            /* 5.1.6.4.2: all but the last buffer are used completely. */
            printf("net: error: buffer %u of %u used %u of %u bytes\n", k, nbufs, used, net->rx_bytes);
            return EXIT_NET_RX_LENGTH;
        }
        if ((rc = virtio_wait_used(&net->vdev, &net->rxq, &id, &used, k ? VIRTIO_TIMEOUT_TSC : timeout)) != 0)
            return rc;
        bufs[k] = net->rx_buf_of_head[id];
        const uint8_t *p = (const uint8_t *)(uintptr_t)rx_buffer_pa(bufs[k]);
        if (used > net->rx_bytes || (k == 0 && used < NET_HDR_BYTES)) {
            printf("net: error: used length %u for a %u-byte receive buffer%s\n", used, net->rx_bytes,
                   used < NET_HDR_BYTES ? " (shorter than the header)" : "");
            return EXIT_NET_RX_LENGTH;
        }
        uint32_t len = used;
        if (k == 0) {
            struct virtio_net_hdr h;
            memcpy(&h, p, sizeof(h));
            if ((rc = check_header(net, &h, &nbufs)) != 0)
                return rc;
            p += NET_HDR_BYTES;
            len -= NET_HDR_BYTES;
        }
        if (len > NET_FRAME_MAX - total) {
            printf("net: error: frame longer than %u bytes (%u buffers)\n", NET_FRAME_MAX, nbufs);
            return EXIT_NET_RX_LENGTH;
        }
        memcpy(frame + total, p, len);
        total += len;
    }
    for (uint16_t k = 0; k < nbufs; k++)
        if ((rc = post_rx(net, bufs[k])) != 0)
            return rc;
    virtio_kick(&net->vdev, &net->rxq);
    *frame_len = total;
    return 0;
}
