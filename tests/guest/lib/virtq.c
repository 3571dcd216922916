/*
 * Split virtqueue, driver side (virtio 1.2 section 2.7).  Ordering (x86 TSO): descriptors
 * and ring entries are plain stores, avail.idx a release store after them; used.idx is an
 * acquire load before the used entry is read; the notification decision needs a full
 * barrier between publishing avail.idx and reading the device's flags/avail_event (2.7.13).
 */
#include "virtq.h"

#include "lib.h"

static uint16_t *used_event(struct virtq *vq) { return &vq->avail->ring[vq->size]; }
static volatile uint16_t *avail_event(const struct virtq *vq)
{
    return (volatile uint16_t *)&vq->used->ring[vq->size];
}

uint64_t virtq_desc_bytes(uint16_t size) { return 16ull * size; }
uint64_t virtq_avail_bytes(uint16_t size) { return 6ull + 2ull * size; }
uint64_t virtq_used_bytes(uint16_t size) { return 6ull + 8ull * size; }

void virtq_init(struct virtq *vq, uint16_t index, uint16_t size, uint64_t desc_pa, uint64_t avail_pa,
                uint64_t used_pa, bool event_idx)
{
    vq->index = index;
    vq->size = size;
    vq->event_idx = event_idx;
    vq->desc_pa = desc_pa;
    vq->avail_pa = avail_pa;
    vq->used_pa = used_pa;
    vq->desc = (struct virtq_desc *)(uintptr_t)desc_pa;
    vq->avail = (struct virtq_avail *)(uintptr_t)avail_pa;
    vq->used = (struct virtq_used *)(uintptr_t)used_pa;
    memset(vq->desc, 0, virtq_desc_bytes(size));
    memset(vq->avail, 0, virtq_avail_bytes(size));
    memset(vq->used, 0, virtq_used_bytes(size));
    vq->avail_idx = vq->kicked_idx = vq->last_used = 0;
    vq->irq_required = vq->irq_seen = false;
    for (uint16_t i = 0; i < size; i++) {
        vq->next[i] = (uint16_t)(i + 1);
        vq->chain_len[i] = 0;
    }
    vq->free_head = 0;
    vq->num_free = size;
}

void virtq_write_desc(struct virtq *vq, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                      uint16_t next)
{
    struct virtq_desc *d = &vq->desc[i];
    d->addr = addr;
    d->len = len;
    d->flags = flags;
    d->next = next;
}

/* Takes n descriptors off the free list, chained in order; returns the head. */
static int alloc_chain(struct virtq *vq, unsigned n)
{
    if (n == 0 || n > vq->num_free)
        return -1;
    uint16_t head = vq->free_head, i = head;
    for (unsigned k = 1; k < n; k++)
        i = vq->next[i];
    vq->free_head = vq->next[i];
    vq->num_free = (uint16_t)(vq->num_free - n);
    vq->chain_len[head] = (uint16_t)n;
    return head;
}

int virtq_add_chain(struct virtq *vq, const struct virtq_buf *bufs, unsigned n)
{
    int head = alloc_chain(vq, n);
    if (head < 0)
        return -1;
    uint16_t i = (uint16_t)head;
    for (unsigned k = 0; k < n; k++) {
        bool last = k + 1 == n;
        uint16_t flags = (uint16_t)((last ? 0 : VIRTQ_DESC_F_NEXT) |
                                    (bufs[k].writable ? VIRTQ_DESC_F_WRITE : 0));
        virtq_write_desc(vq, i, bufs[k].addr, bufs[k].len, flags, last ? 0 : vq->next[i]);
        i = vq->next[i];
    }
    return head;
}

int virtq_add_indirect(struct virtq *vq, uint64_t table_pa, const struct virtq_buf *bufs, unsigned n)
{
    struct virtq_desc *table = (struct virtq_desc *)(uintptr_t)table_pa;
    for (unsigned k = 0; k < n; k++) {
        bool last = k + 1 == n;
        table[k].addr = bufs[k].addr;
        table[k].len = bufs[k].len;
        table[k].flags = (uint16_t)((last ? 0 : VIRTQ_DESC_F_NEXT) |
                                    (bufs[k].writable ? VIRTQ_DESC_F_WRITE : 0));
        table[k].next = (uint16_t)(last ? 0 : k + 1);
    }
    int head = alloc_chain(vq, 1);
    if (head < 0)
        return -1;
    virtq_write_desc(vq, (uint16_t)head, table_pa, (uint32_t)(16 * n), VIRTQ_DESC_F_INDIRECT, 0);
    return head;
}

void virtq_publish_raw(struct virtq *vq, uint16_t head_value, uint16_t idx_advance)
{
    vq->avail->ring[vq->avail_idx % vq->size] = head_value;
    vq->avail_idx = (uint16_t)(vq->avail_idx + idx_advance);
    __atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

void virtq_publish(struct virtq *vq, uint16_t head) { virtq_publish_raw(vq, head, 1); }

bool virtq_should_notify(struct virtq *vq)
{
    virtq_mb();
    uint16_t old = vq->kicked_idx, now = vq->avail_idx;
    vq->kicked_idx = now;
    if (vq->event_idx) {
        /* vring_need_event(): did avail.idx move past avail_event since the last kick? */
        uint16_t event = *avail_event(vq);
        return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
    }
    return !(__atomic_load_n(&vq->used->flags, __ATOMIC_ACQUIRE) & VIRTQ_USED_F_NO_NOTIFY);
}

uint16_t virtq_used_idx(const struct virtq *vq)
{
    return __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
}

struct virtq_used_elem virtq_used_elem(const struct virtq *vq, uint16_t idx)
{
    const volatile struct virtq_used_elem *e = &vq->used->ring[idx % vq->size];
    struct virtq_used_elem out = {e->id, e->len};
    return out;
}

bool virtq_has_used(const struct virtq *vq) { return virtq_used_idx(vq) != vq->last_used; }

bool virtq_pop_used(struct virtq *vq, uint32_t *id, uint32_t *len)
{
    if (!virtq_has_used(vq))
        return false;
    struct virtq_used_elem e = virtq_used_elem(vq, vq->last_used);
    vq->last_used++;
    *id = e.id;
    *len = e.len;
    /* The id is the device's word: free only a chain we actually posted. */
    if (e.id >= vq->size || !vq->chain_len[e.id])
        return false;
    uint16_t n = vq->chain_len[e.id], tail = (uint16_t)e.id;
    for (uint16_t k = 1; k < n; k++)
        tail = vq->next[tail];
    vq->next[tail] = vq->free_head;
    vq->free_head = (uint16_t)e.id;
    vq->num_free = (uint16_t)(vq->num_free + n);
    vq->chain_len[e.id] = 0;
    return true;
}

void virtq_want_interrupt(struct virtq *vq)
{
    if (vq->event_idx)
        __atomic_store_n(used_event(vq), vq->last_used, __ATOMIC_RELEASE);
}

void virtq_set_avail_flags(struct virtq *vq, uint16_t flags)
{
    __atomic_store_n(&vq->avail->flags, flags, __ATOMIC_RELEASE);
}
