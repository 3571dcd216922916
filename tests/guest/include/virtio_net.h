/*
 * virtio-net driver for the tests (virtio 1.2 section 5.1): receiveq 0 and transmitq 1 of one
 * device, VIRTIO_F_VERSION_1 framing (the 12-byte header always carries num_buffers).
 * Accepted: MAC, STATUS, MRG_RXBUF (with `mrg=1`) and the common `indirect=1`/`event_idx=1`;
 * never a checksum or segmentation offload, CTRL_VQ or MQ, so every frame is complete and
 * fully checksummed in both directions.
 */
#ifndef GUEST_VIRTIO_NET_H
#define GUEST_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "boot.h"
#include "virtio_mmio.h"
#include "virtq.h"

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM               0
#define VIRTIO_NET_F_GUEST_CSUM         1
#define VIRTIO_NET_F_MAC                5
#define VIRTIO_NET_F_MRG_RXBUF          15
#define VIRTIO_NET_F_STATUS             16

/* Configuration layout (5.1.4). */
#define VIRTIO_NET_CFG_MAC              0
#define VIRTIO_NET_CFG_STATUS           6
#define VIRTIO_NET_S_LINK_UP            1

/* struct virtio_net_hdr (5.1.6). */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM     1
#define VIRTIO_NET_HDR_F_DATA_VALID     2
#define VIRTIO_NET_HDR_GSO_NONE         0
#define NET_HDR_BYTES                   12

struct virtio_net_hdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
};

#define NET_RECEIVEQ                    0
#define NET_TRANSMITQ                   1
#define NET_QUEUE_SIZE                  256u
#define NET_ETH_ALEN                    6
#define NET_ETH_HLEN                    14
#define NET_FRAME_MIN                   60u     /* without the FCS */
#define NET_FRAME_MAX                   1514u
#define NET_RX_BYTES                    (NET_HDR_BYTES + NET_FRAME_MAX) /* 1526, 5.1.6.3.1 */
#define NET_MRG_RX_DEFAULT              256u    /* receive buffer bytes with mrg=1 */
#define NET_MRG_RX_MIN                  64u
#define NET_BUFFER_STRIDE               2048u
#define NET_TSC_PER_SECOND              3000000000ul /* the tests' nominal 3 GHz */
#define NET_DEFAULT_TIMEOUT_S           10u

/*
 * DMA areas: receive buffer i at NET_RX_AREA + i * 2 KiB, transmit slot i at NET_TX_AREA +
 * i * 2 KiB (header at +0, frame at +12, or at +64 when header and frame are separate
 * descriptors), the indirect table of slot i at VIRTIO_DMA_INDIRECT + i * 32.
 */
#define NET_RX_AREA                     VIRTIO_DMA_DATA
#define NET_TX_AREA                     (VIRTIO_DMA_DATA + NET_QUEUE_SIZE * NET_BUFFER_STRIDE)
#define NET_TX_SPLIT_FRAME              64u
#define NET_TX_TABLE_BYTES              32u

/* Test-specific exit codes of the net tests (README). */
#define EXIT_NET_RX_LENGTH              50  /* a used length or frame length out of bounds */
#define EXIT_NET_RX_HEADER              51  /* a received header field the device must not set */

/* Arguments every net test shares. */
struct net_options {
    uint64_t features;          /* optional features (indirect=1, event_idx=1, mrg=1) */
    uint32_t rx_bytes;          /* bytes per receive buffer (header included) */
    bool split;                 /* split=1: transmit header and frame as two descriptors */
    uint64_t timeout;           /* timeout_s=T in TSC ticks: wait for a received frame */
};

struct net_dev {
    struct virtio_dev vdev;
    struct virtq rxq, txq;
    unsigned nth;
    uint8_t mac[NET_ETH_ALEN];
    uint16_t status;            /* configuration status; LINK_UP if STATUS is not offered */
    bool mac_offered, status_offered;
    bool mrg, indirect, split;
    uint32_t rx_bytes;
    uint16_t rx_posted;         /* receive buffers posted at start */
    bool num_buffers_noted;
    uint16_t tx_nfree;
    uint16_t tx_free[NET_QUEUE_SIZE];           /* free transmit slots (a stack) */
    uint16_t tx_slot_of_head[VIRTQ_MAX_SIZE];
    uint16_t rx_buf_of_head[VIRTQ_MAX_SIZE];
};

/*
 * `nic=N` (default 0), `mrg=0|1`, `rxbuf=B` (mrg only), `split=0|1`, `timeout_s=T` and the
 * common `indirect=1`/`event_idx=1`: 0, or EXIT_BAD_ARGUMENT with a line.
 */
int net_options_parse(struct net_options *o, unsigned *nth);

/*
 * Finds the nth virtio-net device, checks the DMA region, negotiates MAC | STATUS | the
 * options' features, sets up both queues, DRIVER_OK, reads the configuration and posts a
 * receive buffer on every receiveq descriptor.
 */
int net_open(const struct boot_info *bi, unsigned nth, const struct net_options *o, struct net_dev *net);
/* Resets the device (it stops using our memory). */
void net_stop(struct net_dev *net);
/* `net: driver_features=… queues=R+T rx_buffer_bytes=B tx_layout=…` and notes (MAC, link). */
void net_print_setup(const struct net_dev *net);
/* `net: ready rx_buffers=K`: receive buffers are posted, a peer may start sending. */
void net_print_ready(const struct net_dev *net);
void net_format_mac(const uint8_t mac[NET_ETH_ALEN], char out[18]);

/* Queues one frame (copied; 14..1514 bytes), waiting for a free transmit slot if needed. */
int net_send(struct net_dev *net, const void *frame, uint32_t len);
/* Waits until every transmitted frame has been completed. */
int net_tx_drain(struct net_dev *net);

/*
 * Receives one frame into frame[NET_FRAME_MAX] (reassembling num_buffers buffers with
 * MRG_RXBUF), checks the header and lengths, and posts the buffers again.  The wait for the
 * first buffer is bounded by `timeout` TSC ticks.  0, EXIT_NET_RX_* or a virtio code.
 */
int net_receive(struct net_dev *net, uint8_t *frame, uint32_t *len, uint64_t timeout);

#endif
