/*
 * vcon-echo: virtio-console (virtio 1.2 section 5.3), port 0 only: neither MULTIPORT nor
 * SIZE nor EMERG_WRITE is accepted, so receiveq is queue 0 and transmitq queue 1.  Sends a
 * greeting, keeps VCON_RX_BUFFERS receive buffers posted, reads until '\n' and answers
 * with the line (a trailing '\r' removed).  Progress goes to COM1 as `vcon:` lines.
 * Exit 0; 45 if the line is longer than VCON_LINE_MAX bytes; virtio codes otherwise (25 if
 * no complete line arrives within VCON_INPUT_TIMEOUT_TSC).
 */
#include "cmdline.h"
#include "guest.h"
#include "virtio_mmio.h"
#include "virtq.h"

#define EXIT_VCON_LINE_TOO_LONG 45

#define VCON_RECEIVEQ           0
#define VCON_TRANSMITQ          1
#define VCON_RX_BUFFERS         8
#define VCON_RX_BYTES           128u
#define VCON_RX_BASE            (VIRTIO_DMA_SMALL + 0x1000)
#define VCON_TX_BASE            (VIRTIO_DMA_SMALL + 0x2000)
#define VCON_TX_BYTES           512u
#define VCON_LINE_MAX           200
#define VCON_INPUT_TIMEOUT_TSC  30000000000ul   /* 10 s at 3 GHz */

static struct virtio_dev dev;
static struct virtq rxq, txq;
static uint64_t rx_buffer_of_head[VIRTQ_MAX_SIZE];
static char line[VCON_LINE_MAX + 1];

static int post_rx(uint64_t buf)
{
    struct virtq_buf b = {buf, VCON_RX_BYTES, true};
    int head = virtq_add_chain(&rxq, &b, 1);
    if (head < 0) {
        puts("vcon: error: receiveq full");
        return EXIT_VIRTIO_QUEUE;
    }
    rx_buffer_of_head[head] = buf;
    virtq_publish(&rxq, (uint16_t)head);
    return 0;
}

/* One transmit buffer, sent and waited for. */
static int send_buffer(uint64_t addr, uint32_t len)
{
    struct virtq_buf b = {addr, len, false};
    int head = virtq_add_chain(&txq, &b, 1);
    if (head < 0)
        return EXIT_VIRTIO_QUEUE;
    virtq_publish(&txq, (uint16_t)head);
    virtio_kick(&dev, &txq);
    uint32_t id, used_len;
    return virtio_wait_used(&dev, &txq, &id, &used_len, VIRTIO_TIMEOUT_TSC);
}

static int send(const char *s)
{
    size_t n = strnlen(s, VCON_TX_BYTES);
    memcpy((void *)(uintptr_t)VCON_TX_BASE, s, n);
    return send_buffer(VCON_TX_BASE, (uint32_t)n);
}

/* Reads until '\n' into line[]; returns 0 or an exit code. */
static int read_line(void)
{
    size_t n = 0;
    for (;;) {
        uint32_t id, len;
        int rc = virtio_wait_used(&dev, &rxq, &id, &len, VCON_INPUT_TIMEOUT_TSC);
        if (rc)
            return rc;
        if (len > VCON_RX_BYTES) {
            printf("vcon: error: used length %u for a %u-byte buffer\n", len, VCON_RX_BYTES);
            return EXIT_VIRTIO_PROTOCOL;
        }
        uint64_t buf = rx_buffer_of_head[id];
        const char *p = (const char *)(uintptr_t)buf;
        for (uint32_t i = 0; i < len; i++) {
            if (p[i] == '\n') {
                if (n && line[n - 1] == '\r')
                    n--;
                line[n] = 0;
                return 0;
            }
            if (n == VCON_LINE_MAX) {
                printf("vcon: error: no newline within %u bytes\n", VCON_LINE_MAX);
                return EXIT_VCON_LINE_TOO_LONG;
            }
            line[n++] = p[i];
        }
        if ((rc = post_rx(buf)) != 0)
            return rc;
        virtio_kick(&dev, &rxq);
    }
}

/* Finds the virtio-console, sets up receiveq and transmitq, DRIVER_OK; 0 or an exit code. */
static int vcon_setup(const struct boot_info *bi)
{
    int rc = virtio_dma_check(bi);
    if (rc || (rc = virtio_find(bi, VIRTIO_ID_CONSOLE, 0, &dev)) != 0 ||
        (rc = virtio_init(&dev, virtio_optional_features())) != 0)
        return rc;
    if ((rc = virtio_queue_setup(&dev, &rxq, VCON_RECEIVEQ, VCON_RX_BUFFERS, 0)) != 0 ||
        (rc = virtio_queue_setup(&dev, &txq, VCON_TRANSMITQ, 16, 1)) != 0) {
        virtio_set_failed(&dev);
        return rc;
    }
    virtio_driver_ok(&dev);
    return 0;
}

static int test_vcon_echo(const struct boot_info *bi)
{
    int rc = vcon_setup(bi);
    if (rc)
        return rc;
    printf("vcon: device at 0x%lx irq %u, features 0x%016lx, queues %u+%u\n", dev.base, dev.irq,
           dev.driver_features, rxq.size, txq.size);
    for (unsigned i = 0; i < rxq.size; i++)
        if ((rc = post_rx(VCON_RX_BASE + i * VCON_RX_BYTES)) != 0)
            return rc;
    virtio_kick(&dev, &rxq);

    if ((rc = send("virtio-console: hello from the guest\n")) != 0)
        return rc;
    puts("vcon: sent hello, waiting for a line");
    if ((rc = read_line()) != 0)
        return rc;
    printf("vcon: got '%s'\n", line);
    char reply[VCON_TX_BYTES];
    snprintf(reply, sizeof(reply), "virtio-console: got '%s'\n", line);
    if ((rc = send(reply)) != 0)
        return rc;
    puts("vcon: replied");
    virtio_reset(&dev);
    return EXIT_PASS;
}

GUEST_TEST(vcon_echo, "vcon-echo", test_vcon_echo);

/*
 * vcon-flood: `bytes=N` (0: forever) of numbered 64-byte lines through the transmitq, 64 KiB
 * per request, then `vcon-flood: sent N bytes` on COM1 and exit `code=C` (default 0).  What a
 * guest that prints a lot does to a host reader that stops reading or goes away.
 */
#define VCON_FLOOD_BASE         VIRTIO_DMA_DATA
#define VCON_FLOOD_CHUNK        0x10000u
#define VCON_FLOOD_LINE         64u

static int test_vcon_flood(const struct boot_info *bi)
{
    uint64_t total, code = 0;
    if (cmdline_get_u64("bytes", &total) != 0 ||
        (cmdline_get("code") && (cmdline_get_u64("code", &code) != 0 || code > 255))) {
        puts("vcon-flood: error: need bytes=N (0: forever) and code=C in 0..255");
        return EXIT_BAD_ARGUMENT;
    }
    int rc = vcon_setup(bi);
    if (rc)
        return rc;
    char *text = (char *)(uintptr_t)VCON_FLOOD_BASE;
    for (uint32_t i = 0; i < VCON_FLOOD_CHUNK / VCON_FLOOD_LINE; i++) {
        char *line_at = text + i * VCON_FLOOD_LINE;
        int n = snprintf(line_at, VCON_FLOOD_LINE, "vcon-flood line %08x ", i);
        memset(line_at + n, '.', VCON_FLOOD_LINE - 1 - (uint32_t)n);
        line_at[VCON_FLOOD_LINE - 1] = '\n';
    }
    puts("vcon-flood: flooding");
    uint64_t sent = 0;
    while (total == 0 || sent < total) {
        uint32_t len = VCON_FLOOD_CHUNK;
        if (total != 0 && total - sent < len)
            len = (uint32_t)(total - sent);
        if ((rc = send_buffer(VCON_FLOOD_BASE, len)) != 0)
            return rc;
        sent += len;
    }
    printf("vcon-flood: sent %lu bytes\n", sent);
    virtio_reset(&dev);
    return (int)code;
}

GUEST_TEST(vcon_flood, "vcon-flood", test_vcon_flood);
