/*
 * virtio-mmio transport, driver side: virtio 1.2 section 4.2.2 (version 2 registers) and
 * the initialisation sequence of 3.1.1.  Every register access is 32 bits wide (4.2.2.2).
 * Left out: legacy (version 1) devices, shared memory regions, queue reset, notification
 * data (VIRTIO_F_NOTIFICATION_DATA is never accepted).
 */
#include "virtio_mmio.h"

#include "cmdline.h"
#include "guest.h"
#include "io.h"
#include "virtq.h"

#define RESET_POLLS             1000000u
#define INTERRUPT_TIMEOUT_TSC   3000000000ul /* 1 s at 3 GHz */
#define STATUS_CHECK_EVERY      4096u   /* polls of the used ring between Status reads */

static void arm(const struct virtio_dev *dev, struct virtq *vq);

static uint32_t reg_read(const struct virtio_dev *dev, uint32_t reg) { return mmio_read32(dev->base + reg); }
static void reg_write(const struct virtio_dev *dev, uint32_t reg, uint32_t v) { mmio_write32(dev->base + reg, v); }

bool virtio_mmio_parse(const char *v, uint64_t *size, uint64_t *addr, uint64_t *irq)
{
    const char *p;
    uint64_t id;
    if (!parse_size(v, &p, size) || *p != '@' || !parse_u64(p + 1, &p, addr) || *p != ':' ||
        !parse_u64(p + 1, &p, irq))
        return false;
    if (*p == ':' && !parse_u64(p + 1, &p, &id))
        return false;
    return *p == 0;
}

int virtio_find(const struct boot_info *bi, uint32_t device_id, unsigned nth, struct virtio_dev *dev)
{
    unsigned seen = 0;
    for (unsigned i = 0; i < cmdline_count(); i++) {
        const char *key, *value;
        cmdline_arg(i, &key, &value);
        if (strcmp(key, "virtio_mmio.device") != 0)
            continue;
        uint64_t size, addr, irq;
        if (!virtio_mmio_parse(value, &size, &addr, &irq)) {
            printf("virtio: skipping \"%s\": not <size>@<addr>:<irq>[:<id>]\n", value);
            continue;
        }
        if (size < VIRTIO_MMIO_MIN_WINDOW || (addr & 3) || !phys_mapped(bi, addr, size)) {
            printf("virtio: skipping 0x%lx: window of 0x%lx bytes misaligned, below 0x%x or unmapped\n",
                   addr, size, VIRTIO_MMIO_MIN_WINDOW);
            continue;
        }
        struct virtio_dev d = {.base = addr, .size = size, .irq = (uint32_t)irq};
        uint32_t magic = reg_read(&d, VIRTIO_MMIO_MAGIC);
        if (magic != VIRTIO_MMIO_MAGIC_VALUE) {
            printf("virtio: rejecting 0x%lx: magic 0x%08x is not \"virt\" (0x%08x)\n", addr, magic,
                   VIRTIO_MMIO_MAGIC_VALUE);
            continue;
        }
        d.device_id = reg_read(&d, VIRTIO_MMIO_DEVICE_ID);
        if (d.device_id != device_id || seen++ != nth)
            continue;
        uint32_t version = reg_read(&d, VIRTIO_MMIO_VERSION);
        if (version != VIRTIO_MMIO_MODERN_VERSION) {
            printf("virtio: rejecting 0x%lx: version %u, only version 2 (virtio 1.x) is supported%s\n",
                   addr, version, version == 1 ? " (legacy device)" : "");
            return EXIT_VIRTIO_REJECTED;
        }
        d.nth = nth;
        *dev = d;
        return 0;
    }
    printf("virtio: no device %u with device id %u among %u found\n", nth, device_id, seen);
    return EXIT_VIRTIO_NO_DEVICE;
}

unsigned virtio_count(const struct boot_info *bi, uint32_t device_id)
{
    unsigned n = 0;
    for (unsigned i = 0; i < cmdline_count(); i++) {
        const char *key, *value;
        uint64_t size, addr, irq;
        cmdline_arg(i, &key, &value);
        if (strcmp(key, "virtio_mmio.device") == 0 && virtio_mmio_parse(value, &size, &addr, &irq) &&
            size >= VIRTIO_MMIO_MIN_WINDOW && !(addr & 3) && phys_mapped(bi, addr, size) &&
            mmio_read32(addr + VIRTIO_MMIO_MAGIC) == VIRTIO_MMIO_MAGIC_VALUE &&
            mmio_read32(addr + VIRTIO_MMIO_DEVICE_ID) == device_id)
            n++;
    }
    return n;
}

int virtio_dma_check(const struct boot_info *bi)
{
    uint64_t lo = VIRTIO_DMA_BASE, hi = VIRTIO_DMA_BASE + VIRTIO_DMA_SIZE;
    bool in_ram = false;
    for (uint32_t i = 0; i < bi->nr_mem; i++) {
        const struct mem_region *r = &bi->mem[i];
        if (r->type == MEM_TYPE_RAM && r->addr <= lo && r->addr + r->size >= hi)
            in_ram = true;
    }
    if (!in_ram || !phys_mapped(bi, lo, VIRTIO_DMA_SIZE)) {
        printf("virtio: error: DMA region 0x%lx-0x%lx is not in one usable e820 region "
               "(need at least 32 MiB of RAM)\n", lo, hi - 1);
        return EXIT_VIRTIO_DMA;
    }
    if (bi->initrd_size && bi->initrd_addr < hi && bi->initrd_addr + bi->initrd_size > lo) {
        printf("virtio: error: DMA region 0x%lx-0x%lx overlaps the initrd at 0x%lx+0x%lx\n", lo,
               hi - 1, bi->initrd_addr, bi->initrd_size);
        return EXIT_VIRTIO_DMA;
    }
    return 0;
}

uint32_t virtio_status(const struct virtio_dev *dev) { return reg_read(dev, VIRTIO_MMIO_STATUS); }

static void status_set(struct virtio_dev *dev, uint32_t bits)
{
    reg_write(dev, VIRTIO_MMIO_STATUS, virtio_status(dev) | bits);
}

void virtio_set_failed(struct virtio_dev *dev) { status_set(dev, VIRTIO_STATUS_FAILED); }
void virtio_driver_ok(struct virtio_dev *dev) { status_set(dev, VIRTIO_STATUS_DRIVER_OK); }

bool virtio_reset(struct virtio_dev *dev)
{
    reg_write(dev, VIRTIO_MMIO_STATUS, 0);
    for (unsigned i = 0; i < RESET_POLLS; i++) {
        if (virtio_status(dev) == 0)
            return true;
        cpu_pause();
    }
    return false;
}

int virtio_init(struct virtio_dev *dev, uint64_t wanted)
{
    dev->nqueues = 0;
    dev->driver_features = 0;
    if (!virtio_reset(dev)) {
        printf("virtio: error: 0x%lx: status 0x%x after reset, want 0\n", dev->base, virtio_status(dev));
        return EXIT_VIRTIO_INIT;
    }
    status_set(dev, VIRTIO_STATUS_ACKNOWLEDGE);
    status_set(dev, VIRTIO_STATUS_DRIVER);
    reg_write(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t lo = reg_read(dev, VIRTIO_MMIO_DEVICE_FEATURES);
    reg_write(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    uint64_t hi = reg_read(dev, VIRTIO_MMIO_DEVICE_FEATURES);
    dev->device_features = hi << 32 | lo;
    if (!(dev->device_features & BIT64(VIRTIO_F_VERSION_1))) {
        printf("virtio: error: 0x%lx: VIRTIO_F_VERSION_1 not offered (features 0x%016lx)\n", dev->base,
               dev->device_features);
        virtio_set_failed(dev);
        return EXIT_VIRTIO_INIT;
    }
    dev->driver_features = dev->device_features & (wanted | BIT64(VIRTIO_F_VERSION_1));
    reg_write(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    reg_write(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)dev->driver_features);
    reg_write(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    reg_write(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(dev->driver_features >> 32));
    status_set(dev, VIRTIO_STATUS_FEATURES_OK);
    uint32_t status = virtio_status(dev);
    if (!(status & VIRTIO_STATUS_FEATURES_OK)) {
        printf("virtio: error: 0x%lx: FEATURES_OK not kept (status 0x%x, features 0x%016lx)\n",
               dev->base, status, dev->driver_features);
        virtio_set_failed(dev);
        return EXIT_VIRTIO_INIT;
    }
    return 0;
}

/* Generation-checked config read (4.2.2.2: retry while ConfigGeneration changes). */
static uint64_t config_read(const struct virtio_dev *dev, uint32_t offset, unsigned width)
{
    uint64_t a = dev->base + VIRTIO_MMIO_CONFIG + offset, v;
    uint32_t gen;
    do {
        gen = reg_read(dev, VIRTIO_MMIO_CONFIG_GENERATION);
        switch (width) {
        case 1: v = mmio_read8(a); break;
        case 2: v = mmio_read16(a); break;
        case 4: v = mmio_read32(a); break;
        default: v = mmio_read32(a) | (uint64_t)mmio_read32(a + 4) << 32; break;
        }
    } while (gen != reg_read(dev, VIRTIO_MMIO_CONFIG_GENERATION));
    return v;
}

uint8_t virtio_config8(const struct virtio_dev *dev, uint32_t o) { return (uint8_t)config_read(dev, o, 1); }
uint16_t virtio_config16(const struct virtio_dev *dev, uint32_t o) { return (uint16_t)config_read(dev, o, 2); }
uint32_t virtio_config32(const struct virtio_dev *dev, uint32_t o) { return (uint32_t)config_read(dev, o, 4); }
uint64_t virtio_config64(const struct virtio_dev *dev, uint32_t o) { return config_read(dev, o, 8); }

int virtio_queue_setup(struct virtio_dev *dev, struct virtq *vq, uint16_t index, uint16_t max_size,
                       unsigned slot)
{
    reg_write(dev, VIRTIO_MMIO_QUEUE_SEL, index);
    if (reg_read(dev, VIRTIO_MMIO_QUEUE_READY)) {
        printf("virtio: error: 0x%lx queue %u: QueueReady already 1 after reset\n", dev->base, index);
        return EXIT_VIRTIO_QUEUE;
    }
    uint32_t num_max = reg_read(dev, VIRTIO_MMIO_QUEUE_NUM_MAX);
    uint32_t limit = (uint32_t)min_u64(min_u64(num_max, max_size), VIRTQ_MAX_SIZE);
    if (limit == 0) {
        printf("virtio: error: 0x%lx queue %u: QueueNumMax is 0 (no such queue)\n", dev->base, index);
        return EXIT_VIRTIO_QUEUE;
    }
    uint16_t size = 1;
    while ((uint32_t)size * 2 <= limit)
        size = (uint16_t)(size * 2);
    uint64_t base = VIRTIO_DMA_RINGS + slot * VIRTIO_DMA_RING_STRIDE;
    uint64_t desc = base, avail = base + 0x4000, used = base + 0x8000; /* room for 1024 entries */
    if (slot >= VIRTIO_MAX_QUEUES || dev->nqueues >= VIRTIO_MAX_QUEUES) {
        printf("virtio: error: queue %u: at most %u queues per device\n", index, VIRTIO_MAX_QUEUES);
        return EXIT_VIRTIO_QUEUE;
    }
    virtq_init(vq, index, size, desc, avail, used, virtio_has(dev, VIRTIO_F_EVENT_IDX));
    dev->queues[dev->nqueues++] = vq;
    arm(dev, vq);
    reg_write(dev, VIRTIO_MMIO_QUEUE_NUM, size);
    reg_write(dev, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    reg_write(dev, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    reg_write(dev, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
    reg_write(dev, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
    reg_write(dev, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
    reg_write(dev, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
    reg_write(dev, VIRTIO_MMIO_QUEUE_READY, 1);
    if (reg_read(dev, VIRTIO_MMIO_QUEUE_READY) != 1) {
        printf("virtio: error: 0x%lx queue %u: QueueReady does not read back 1\n", dev->base, index);
        return EXIT_VIRTIO_QUEUE;
    }
    return 0;
}

void virtio_notify(const struct virtio_dev *dev, const struct virtq *vq)
{
    reg_write(dev, VIRTIO_MMIO_QUEUE_NOTIFY, vq->index);
}

void virtio_kick(const struct virtio_dev *dev, struct virtq *vq)
{
    if (virtq_should_notify(vq))
        virtio_notify(dev, vq);
}

uint32_t virtio_ack_interrupt(const struct virtio_dev *dev)
{
    uint32_t isr = reg_read(dev, VIRTIO_MMIO_INTERRUPT_STATUS);
    if (isr)
        reg_write(dev, VIRTIO_MMIO_INTERRUPT_ACK, isr);
    return isr;
}

/* Acknowledges InterruptStatus; bit 0 counts for every queue of the device (one bit for all). */
static void ack_and_credit(const struct virtio_dev *dev)
{
    if (virtio_ack_interrupt(dev) & VIRTIO_INT_USED_BUFFER)
        for (unsigned q = 0; q < dev->nqueues; q++)
            dev->queues[q]->irq_seen = true;
}

/*
 * Prepares the check that the next used entry of vq is announced.  Clears InterruptStatus,
 * asks for an interrupt at that entry (used_event, with EVENT_IDX), then - after a full
 * barrier, the driver half of the 2.7.10 handshake - looks whether the entry is already
 * there.  If it is, the device may have published it before it could see used_event, and
 * no interrupt is owed for it; otherwise one is (InterruptStatus bit 0, as seen by any later
 * acknowledgement: the bit is per device, so another queue's interrupt may stand in for it).
 */
static void arm(const struct virtio_dev *dev, struct virtq *vq)
{
    ack_and_credit(dev);
    vq->irq_seen = false;
    virtq_want_interrupt(vq);
    virtq_mb();
    vq->irq_required = !virtq_has_used(vq);
}

int virtio_wait_used(const struct virtio_dev *dev, struct virtq *vq, uint32_t *id, uint32_t *len,
                     uint64_t timeout)
{
    uint64_t start = rdtsc();
    for (unsigned n = 1; !virtq_has_used(vq); n++) {
        cpu_pause();
        if (n % STATUS_CHECK_EVERY)
            continue;
        uint32_t status = virtio_status(dev);
        if (status & VIRTIO_STATUS_NEEDS_RESET) {
            printf("virtio: error: 0x%lx queue %u: device set NEEDS_RESET (status 0x%x)\n", dev->base,
                   vq->index, status);
            return EXIT_VIRTIO_PROTOCOL;
        }
        if (rdtsc() - start > timeout) {
            printf("virtio: error: 0x%lx queue %u: no used entry after %lu TSC ticks (avail.idx %u, "
                   "used.idx %u, status 0x%x)\n", dev->base, vq->index, timeout, vq->avail_idx,
                   virtq_used_idx(vq), status);
            return EXIT_VIRTIO_TIMEOUT;
        }
    }
    if (!virtq_pop_used(vq, id, len)) {
        printf("virtio: error: 0x%lx queue %u: used entry with id %u that was never posted\n",
               dev->base, vq->index, *id);
        return EXIT_VIRTIO_PROTOCOL;
    }
    if (vq->irq_required) {
        uint64_t t0 = rdtsc();
        while (!vq->irq_seen) {
            ack_and_credit(dev);
            if (!vq->irq_seen && rdtsc() - t0 > INTERRUPT_TIMEOUT_TSC) {
                printf("virtio: error: 0x%lx queue %u: InterruptStatus bit 0 clear after a "
                       "completion\n", dev->base, vq->index);
                return EXIT_VIRTIO_NO_INTERRUPT;
            }
        }
    }
    arm(dev, vq);
    return 0;
}

uint64_t virtio_optional_features(void)
{
    uint64_t v, f = 0;
    if (cmdline_get_u64("indirect", &v) == 0 && v)
        f |= BIT64(VIRTIO_F_INDIRECT_DESC);
    if (cmdline_get_u64("event_idx", &v) == 0 && v)
        f |= BIT64(VIRTIO_F_EVENT_IDX);
    return f;
}
