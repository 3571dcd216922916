/*
 * Split virtqueue, driver side (virtio 1.2 section 2.7): descriptor table, available ring
 * (driver area) and used ring (device area) in guest RAM, a free list threaded through a
 * private copy of the `next` fields (never read back from shared memory), optional
 * VIRTIO_F_EVENT_IDX and indirect descriptor tables.  No transport here: virtio_mmio.c
 * programs the addresses and writes QueueNotify.
 */
#ifndef GUEST_VIRTQ_H
#define GUEST_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>

#define VIRTQ_MAX_SIZE          1024

#define VIRTQ_DESC_F_NEXT       1
#define VIRTQ_DESC_F_WRITE      2
#define VIRTQ_DESC_F_INDIRECT   4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY  1

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];            /* size entries, then used_event (EVENT_IDX) */
};

struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};

struct virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[]; /* size entries, then avail_event (EVENT_IDX) */
};

struct virtq {
    uint16_t index;             /* queue number on the device */
    uint16_t size;
    bool event_idx;
    struct virtq_desc *desc;
    struct virtq_avail *avail;
    struct virtq_used *used;
    uint64_t desc_pa, avail_pa, used_pa;
    uint16_t avail_idx;         /* next avail.idx we publish */
    uint16_t kicked_idx;        /* avail.idx at the last notification decision */
    uint16_t last_used;         /* next used.idx entry we consume */
    bool irq_required;          /* the next used entry must be announced by an interrupt */
    bool irq_seen;              /* InterruptStatus bit 0 was seen since the queue was armed */
    uint16_t free_head, num_free;
    uint16_t next[VIRTQ_MAX_SIZE];      /* private copy of the chain links */
    uint16_t chain_len[VIRTQ_MAX_SIZE]; /* descriptors per posted head (0: not posted) */
};

/* One buffer of a request; device-readable ones must come first. */
struct virtq_buf {
    uint64_t addr;
    uint32_t len;
    bool writable;
};

/* Zeroes the rings at desc_pa/avail_pa/used_pa (identity-mapped) and links all descriptors free. */
void virtq_init(struct virtq *vq, uint16_t index, uint16_t size, uint64_t desc_pa, uint64_t avail_pa,
                uint64_t used_pa, bool event_idx);
/* Bytes of each area for `size` entries (2.7: with the EVENT_IDX trailer). */
uint64_t virtq_desc_bytes(uint16_t size);
uint64_t virtq_avail_bytes(uint16_t size);
uint64_t virtq_used_bytes(uint16_t size);

/* A chain of n descriptors; returns its head, or -1 if fewer than n are free. */
int virtq_add_chain(struct virtq *vq, const struct virtq_buf *bufs, unsigned n);
/* One descriptor with VIRTQ_DESC_F_INDIRECT pointing at a table of n written at table_pa. */
int virtq_add_indirect(struct virtq *vq, uint64_t table_pa, const struct virtq_buf *bufs, unsigned n);
/* Puts head in the available ring and publishes avail.idx (release order). */
void virtq_publish(struct virtq *vq, uint16_t head);
/* After publishing: must the device be notified? (EVENT_IDX avail_event, else NO_NOTIFY.) */
bool virtq_should_notify(struct virtq *vq);
/* Is a used entry waiting? */
bool virtq_has_used(const struct virtq *vq);
/* Takes one used entry and frees its chain; false if none or its id was never posted. */
bool virtq_pop_used(struct virtq *vq, uint32_t *id, uint32_t *len);
/* With EVENT_IDX: ask for an interrupt on the next used entry (used_event = last_used). */
void virtq_want_interrupt(struct virtq *vq);
void virtq_set_avail_flags(struct virtq *vq, uint16_t flags);

/* Raw access for hostile tests and the benchmark (no free-list bookkeeping). */
void virtq_write_desc(struct virtq *vq, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                      uint16_t next);
void virtq_publish_raw(struct virtq *vq, uint16_t head_value, uint16_t idx_advance);
uint16_t virtq_used_idx(const struct virtq *vq);
struct virtq_used_elem virtq_used_elem(const struct virtq *vq, uint16_t idx);

/* Full barrier (x86: a locked instruction orders stores before later loads). */
static inline void virtq_mb(void) { __asm__ volatile("lock; addl $0, 0(%%rsp)" : : : "memory", "cc"); }

#endif
