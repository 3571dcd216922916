/*
 * virtio-mmio transport, driver side (virtio 1.2 section 4.2.2, the modern version-2 register
 * layout only; legacy version-1 devices are rejected).  Devices are found through the
 * `virtio_mmio.device=<size>@<addr>:<irq>[:<id>]` words of the command line, in order.
 * Rings and buffers live in one fixed region of guest RAM (VIRTIO_DMA_*), checked against
 * the e820 map before use.  Completions are polled; interrupts stay masked at the CPU and
 * are only observed through InterruptStatus.
 */
#ifndef GUEST_VIRTIO_MMIO_H
#define GUEST_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "boot.h"

/* Registers (4.2.2, table "MMIO Device Register Layout"). */
#define VIRTIO_MMIO_MAGIC               0x000
#define VIRTIO_MMIO_VERSION             0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100

#define VIRTIO_MMIO_MAGIC_VALUE         0x74726976u     /* "virt" little-endian */
#define VIRTIO_MMIO_MODERN_VERSION      2
#define VIRTIO_MMIO_MIN_WINDOW          0x200           /* registers + some config space */

/* InterruptStatus bits (4.2.2). */
#define VIRTIO_INT_USED_BUFFER          0x1
#define VIRTIO_INT_CONFIG_CHANGE        0x2

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE       0x01
#define VIRTIO_STATUS_DRIVER            0x02
#define VIRTIO_STATUS_DRIVER_OK         0x04
#define VIRTIO_STATUS_FEATURES_OK       0x08
#define VIRTIO_STATUS_NEEDS_RESET       0x40
#define VIRTIO_STATUS_FAILED            0x80

/* Device-independent feature bits (6). */
#define VIRTIO_F_INDIRECT_DESC          28
#define VIRTIO_F_EVENT_IDX              29
#define VIRTIO_F_VERSION_1              32

/* Device IDs (5). */
#define VIRTIO_ID_NET                   1
#define VIRTIO_ID_BLOCK                 2
#define VIRTIO_ID_CONSOLE               3

#define BIT64(n)                        (1ull << (n))

/* Exit codes shared by every virtio test (README, "virtio exit codes"). */
#define EXIT_VIRTIO_NO_DEVICE           20  /* no such device among the virtio_mmio.device= words */
#define EXIT_VIRTIO_REJECTED            21  /* magic not "virt" or version != 2 */
#define EXIT_VIRTIO_INIT                22  /* reset, VERSION_1 or FEATURES_OK failed */
#define EXIT_VIRTIO_QUEUE               23  /* queue missing, already live or not made ready */
#define EXIT_VIRTIO_DMA                 24  /* the DMA region is not free usable RAM */
#define EXIT_VIRTIO_TIMEOUT             25  /* no used-ring entry within the bound */
#define EXIT_VIRTIO_NO_INTERRUPT        26  /* InterruptStatus bit 0 clear after a completion */
#define EXIT_VIRTIO_PROTOCOL            27  /* NEEDS_RESET set, or a used entry we did not post */
#define EXIT_VIRTIO_FEATURE             28  /* a feature the test needs is not offered */

/*
 * The fixed DMA region: [16 MiB, 32 MiB), inside the identity map.  Sub-areas:
 * ring memory for two queues, indirect tables, request headers/status bytes, small
 * buffers, bulk data.  The guest image ends below 2 MiB, so nothing else lives here.
 */
#define VIRTIO_DMA_BASE                 0x1000000ull
#define VIRTIO_DMA_SIZE                 0x1000000ull
#define VIRTIO_DMA_RINGS                (VIRTIO_DMA_BASE + 0x000000)   /* 64 KiB per queue, 2 */
#define VIRTIO_DMA_RING_STRIDE          0x10000ull
#define VIRTIO_DMA_INDIRECT             (VIRTIO_DMA_BASE + 0x020000)   /* 64 KiB of tables */
#define VIRTIO_DMA_INDIRECT_SIZE        0x10000ull
#define VIRTIO_DMA_REQUESTS             (VIRTIO_DMA_BASE + 0x030000)   /* 64 KiB, 32 B slots */
#define VIRTIO_DMA_REQUEST_SLOT         32ull
#define VIRTIO_DMA_SMALL                (VIRTIO_DMA_BASE + 0x040000)   /* 768 KiB of small buffers */
#define VIRTIO_DMA_DATA                 (VIRTIO_DMA_BASE + 0x100000)   /* 15 MiB of data */
#define VIRTIO_DMA_DATA_SIZE            0xf00000ull

/* Completion bounds in TSC ticks (1.5e10 is 5 s at 3 GHz). */
#define VIRTIO_TIMEOUT_TSC              15000000000ul

#define VIRTIO_MAX_QUEUES               2

struct virtq;
struct virtio_dev {
    uint64_t base;
    uint64_t size;
    uint32_t irq;
    uint32_t device_id;
    unsigned nth;               /* 0 for the first device of this type */
    uint64_t device_features;   /* offered */
    uint64_t driver_features;   /* accepted */
    struct virtq *queues[VIRTIO_MAX_QUEUES]; /* set up since the last virtio_init() */
    unsigned nqueues;
};

/* One `virtio_mmio.device=` value: <size>@<addr>:<irq>[:<id>], size with K/M/G/T suffix. */
bool virtio_mmio_parse(const char *value, uint64_t *size, uint64_t *addr, uint64_t *irq);

/*
 * The nth (from 0) device with this ID, in command-line order.  Words that do not parse or
 * whose window is unmapped, and windows without "virt", are reported and skipped; a matching
 * device with version != 2 is reported and rejected.  0 or EXIT_VIRTIO_NO_DEVICE/REJECTED.
 */
int virtio_find(const struct boot_info *bi, uint32_t device_id, unsigned nth, struct virtio_dev *dev);

/* How many devices with this ID virtio_find() can see (silent). */
unsigned virtio_count(const struct boot_info *bi, uint32_t device_id);

/* Is the DMA region inside one usable e820 region, mapped and clear of the initrd? */
int virtio_dma_check(const struct boot_info *bi);

/*
 * 3.1.1 steps 1-6: reset (and see 0 read back), ACKNOWLEDGE, DRIVER, read both feature
 * words, accept VIRTIO_F_VERSION_1 plus (offered & wanted), FEATURES_OK, re-read status.
 * Sets FAILED and returns EXIT_VIRTIO_INIT on failure.
 */
int virtio_init(struct virtio_dev *dev, uint64_t wanted);
/* Writes 0 to Status and waits (bounded) for 0 to read back. */
bool virtio_reset(struct virtio_dev *dev);
/* Step 8: DRIVER_OK. */
void virtio_driver_ok(struct virtio_dev *dev);
void virtio_set_failed(struct virtio_dev *dev);
uint32_t virtio_status(const struct virtio_dev *dev);
static inline bool virtio_has(const struct virtio_dev *dev, unsigned bit)
{
    return (dev->driver_features >> bit) & 1;
}

/* Device-specific configuration, read until ConfigGeneration is stable. */
uint8_t virtio_config8(const struct virtio_dev *dev, uint32_t offset);
uint16_t virtio_config16(const struct virtio_dev *dev, uint32_t offset);
uint32_t virtio_config32(const struct virtio_dev *dev, uint32_t offset);
uint64_t virtio_config64(const struct virtio_dev *dev, uint32_t offset);

/*
 * Step 7 for one queue: QueueSel, QueueNumMax, QueueNum (the largest power of two
 * <= min(max_size, QueueNumMax)), the three ring addresses, QueueReady = 1 (read back).
 * The rings go to VIRTIO_DMA_RINGS + slot * VIRTIO_DMA_RING_STRIDE.
 */
int virtio_queue_setup(struct virtio_dev *dev, struct virtq *vq, uint16_t index, uint16_t max_size,
                       unsigned slot);
void virtio_notify(const struct virtio_dev *dev, const struct virtq *vq);
/* Notify only if the device asked for it (EVENT_IDX avail_event or VIRTQ_USED_F_NO_NOTIFY). */
void virtio_kick(const struct virtio_dev *dev, struct virtq *vq);

/* Reads InterruptStatus and acknowledges every bit that is set; returns what it read. */
uint32_t virtio_ack_interrupt(const struct virtio_dev *dev);
/*
 * Polls the used ring of vq for one entry (bounded by timeout TSC ticks), then checks that
 * the device announced it: InterruptStatus bit 0 (a short bounded poll; acknowledged), unless
 * the entry was already there when the queue was armed (at set-up and after each completion,
 * see arm() in virtio_mmio.c).  Returns 0, EXIT_VIRTIO_TIMEOUT, EXIT_VIRTIO_PROTOCOL
 * (NEEDS_RESET seen while waiting, or an id never posted) or EXIT_VIRTIO_NO_INTERRUPT,
 * each with a line.
 */
int virtio_wait_used(const struct virtio_dev *dev, struct virtq *vq, uint32_t *id, uint32_t *len,
                     uint64_t timeout);

/* `indirect=1` / `event_idx=1` on the command line: features a test may add to its own. */
uint64_t virtio_optional_features(void);

#endif
