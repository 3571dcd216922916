/*
 * virtio-net tests: net-info, net-tx, net-rx, net-echo, net-multi.  Frames sent by net-tx:
 * broadcast destination, the device's MAC as source, ethertype 0x88b5 (IEEE 802 local
 * experimental), the sequence number as a 4-byte little-endian word, then the 32-bit
 * xorshift of state seed ^ seq as little-endian words, the last one truncated to fit.
 * CRCs are zlib's CRC-32 of the Ethernet bytes of all frames in order (no virtio headers).
 */
#include "cmdline.h"
#include "crc32.h"
#include "guest.h"
#include "virtio_net.h"

#define NET_ETHERTYPE_EXPERIMENTAL      0x88b5
#define NET_RX_LINES                    16      /* net-rx prints the first 16 frames */

static struct net_dev net;
static uint8_t frame[NET_FRAME_MAX];

static void put_le32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Fills f with net-tx frame `seq` of `size` bytes. */
static void build_frame(uint8_t *f, const uint8_t mac[NET_ETH_ALEN], uint32_t seed, uint32_t seq, uint32_t size)
{
    memset(f, 0xff, NET_ETH_ALEN);
    memcpy(f + NET_ETH_ALEN, mac, NET_ETH_ALEN);
    f[12] = NET_ETHERTYPE_EXPERIMENTAL >> 8;
    f[13] = NET_ETHERTYPE_EXPERIMENTAL & 0xff;
    put_le32(f + NET_ETH_HLEN, seq);
    uint32_t x = seed ^ seq;
    for (uint32_t off = NET_ETH_HLEN + 4; off < size; off += 4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        uint8_t w[4];
        put_le32(w, x);
        memcpy(f + off, w, min_u64(4, size - off));
    }
}

static int open_net(const struct boot_info *bi, struct net_options *o)
{
    unsigned nth;
    int rc = net_options_parse(o, &nth);
    if (rc || (rc = net_open(bi, nth, o, &net)) != 0)
        return rc;
    net_print_setup(&net);
    return 0;
}

/* `count=N` with N in 1..0xffffffff (the sequence number is 32 bits). */
static int count_arg(const char *test, uint64_t *count)
{
    if (cmdline_get_u64("count", count) != 0 || *count == 0 || *count > UINT32_MAX) {
        printf("%s: error: need count=N with N in 1..4294967295\n", test);
        return EXIT_BAD_ARGUMENT;
    }
    return 0;
}

static int finish(int rc)
{
    net_stop(&net);
    return rc;
}

static void status_text(char *out, size_t n)
{
    if (net.status_offered)
        snprintf(out, n, "0x%x", net.status);
    else
        snprintf(out, n, "none");
}

static int test_net_info(const struct boot_info *bi)
{
    struct net_options o;
    int rc = open_net(bi, &o);
    if (rc)
        return rc;
    char mac[18], status[8];
    net_format_mac(net.mac, mac);
    status_text(status, sizeof(status));
    printf("net: nic=%u mac=%s status=%s features=0x%016lx\n", net.nth, mac, status,
           net.vdev.device_features);
    return finish(EXIT_PASS);
}

static int test_net_tx(const struct boot_info *bi)
{
    uint64_t count, size, seed = 1;
    if (count_arg("net-tx", &count) != 0)
        return EXIT_BAD_ARGUMENT;
    if (cmdline_get_u64("size", &size) != 0 || size < NET_FRAME_MIN || size > NET_FRAME_MAX ||
        cmdline_get_u64("seed", &seed) == -2 || seed == 0 || seed > UINT32_MAX) {
        printf("net-tx: error: need size=S with S in %u..%u and optionally seed=X in 1..0xffffffff\n",
               NET_FRAME_MIN, NET_FRAME_MAX);
        return EXIT_BAD_ARGUMENT;
    }
    struct net_options o;
    int rc = open_net(bi, &o);
    if (rc)
        return rc;
    uint32_t crc = 0;
    for (uint64_t seq = 0; seq < count; seq++) {
        build_frame(frame, net.mac, (uint32_t)seed, (uint32_t)seq, (uint32_t)size);
        crc = crc32_update(crc, frame, size);
        if ((rc = net_send(&net, frame, (uint32_t)size)) != 0)
            return finish(rc);
    }
    if ((rc = net_tx_drain(&net)) != 0)
        return finish(rc);
    printf("net: sent %lu frames bytes=%lu crc32=%08x\n", count, count * size, crc);
    return finish(EXIT_PASS);
}

static int test_net_rx(const struct boot_info *bi)
{
    uint64_t count, bytes = 0;
    if (count_arg("net-rx", &count) != 0)
        return EXIT_BAD_ARGUMENT;
    struct net_options o;
    int rc = open_net(bi, &o);
    if (rc)
        return rc;
    net_print_ready(&net);
    uint32_t crc = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint32_t len;
        if ((rc = net_receive(&net, frame, &len, o.timeout)) != 0) {
            if (rc == EXIT_VIRTIO_TIMEOUT)
                printf("net: error: no frame within %lu s (%lu of %lu received)\n",
                       o.timeout / NET_TSC_PER_SECOND, i, count);
            return finish(rc);
        }
        if (i < NET_RX_LINES)
            printf("net: rx seq=%lu len=%u crc32=%08x\n", i, len, crc32_update(0, frame, len));
        crc = crc32_update(crc, frame, len);
        bytes += len;
    }
    printf("net: received %lu frames bytes=%lu crc32=%08x\n", count, bytes, crc);
    return finish(EXIT_PASS);
}

static int test_net_echo(const struct boot_info *bi)
{
    uint64_t count;
    if (count_arg("net-echo", &count) != 0)
        return EXIT_BAD_ARGUMENT;
    struct net_options o;
    int rc = open_net(bi, &o);
    if (rc)
        return rc;
    net_print_ready(&net);
    for (uint64_t i = 0; i < count; i++) {
        uint32_t len;
        if ((rc = net_receive(&net, frame, &len, o.timeout)) != 0) {
            if (rc == EXIT_VIRTIO_TIMEOUT)
                printf("net: error: no frame within %lu s (%lu of %lu echoed)\n",
                       o.timeout / NET_TSC_PER_SECOND, i, count);
            return finish(rc);
        }
        if (len >= 2 * NET_ETH_ALEN) {
            uint8_t dst[NET_ETH_ALEN];
            memcpy(dst, frame, NET_ETH_ALEN);
            memcpy(frame, frame + NET_ETH_ALEN, NET_ETH_ALEN);
            memcpy(frame + NET_ETH_ALEN, dst, NET_ETH_ALEN);
        }
        if ((rc = net_send(&net, frame, len)) != 0)
            return finish(rc);
    }
    if ((rc = net_tx_drain(&net)) != 0)
        return finish(rc);
    printf("net: echoed %lu frames\n", count);
    return finish(EXIT_PASS);
}

/* Every virtio-net device: set up, one 60-byte net-tx frame (seq = N, seed 1), reset. */
static int test_net_multi(const struct boot_info *bi)
{
    struct net_options o;
    unsigned ignored;
    int rc = net_options_parse(&o, &ignored);
    if (rc)
        return rc;
    unsigned count = virtio_count(bi, VIRTIO_ID_NET);
    if (!count) {
        puts("net: error: no virtio-net device");
        return EXIT_VIRTIO_NO_DEVICE;
    }
    for (unsigned nth = 0; nth < count; nth++) {
        if ((rc = net_open(bi, nth, &o, &net)) != 0)
            return rc;
        build_frame(frame, net.mac, 1, nth, NET_FRAME_MIN);
        if ((rc = net_send(&net, frame, NET_FRAME_MIN)) != 0 || (rc = net_tx_drain(&net)) != 0)
            return finish(rc);
        char mac[18], status[8];
        net_format_mac(net.mac, mac);
        status_text(status, sizeof(status));
        printf("net: nic=%u mac=%s status=%s\n", nth, mac, status);
        net_stop(&net);
    }
    printf("net: nics=%u\n", count);
    return EXIT_PASS;
}

GUEST_TEST(net_info, "net-info", test_net_info);
GUEST_TEST(net_tx, "net-tx", test_net_tx);
GUEST_TEST(net_rx, "net-rx", test_net_rx);
GUEST_TEST(net_echo, "net-echo", test_net_echo);
GUEST_TEST(net_multi, "net-multi", test_net_multi);
