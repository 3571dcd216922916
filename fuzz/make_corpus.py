#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_virtio, fuzz_virtqueue and fuzz_vcpu_exit (see the input
formats in each target's head comment) into corpus/<name>/: well-formed sessions the fuzzer
mutates from, and the shapes of known bugs (issue 13: the 5.4 GiB NIC, the oversized frame).
libFuzzer adds the inputs it finds interesting to the same directory when run on it."""
import os
import struct
import sys

VERSION_1 = 1 << 32
INDIRECT = 1 << 28
EVENT_IDX = 1 << 29
NEXT, WRITE, INDIRECT_F = 1, 2, 4
CSUM, GUEST_CSUM, MRG_RXBUF = 1 << 0, 1 << 1, 1 << 15


def handshake(features):
    return bytes([5]) + struct.pack("<Q", features)


def mem(addr, data):
    assert len(data) < 256
    return bytes([3]) + struct.pack("<IB", addr, len(data)) + data


def desc(queue, index, addr, length, flags, nxt=0):
    return mem(0x10000 + queue * 0x4000 + index * 16, struct.pack("<QIHH", addr, length, flags, nxt))


def avail(queue, slot, head, idx):
    base = 0x10000 + queue * 0x4000 + 0x1000
    return mem(base + 4 + slot * 2, struct.pack("<H", head)) + mem(base + 2, struct.pack("<H", idx))


def kick(queue):
    return bytes([4, queue])


def blk_header(kind, sector):
    return struct.pack("<IIQ", kind, 0, sector)


seeds = {
    # virtio-console: a transmit chain of two buffers, then host input into a receive buffer.
    "console-tx-rx": bytes([0]) + handshake(EVENT_IDX) + mem(0x30000, b"hello ") + mem(0x30100, b"world\n")
    + desc(1, 0, 0x30000, 6, NEXT, 1) + desc(1, 1, 0x30100, 6, 0) + avail(1, 0, 0, 1) + kick(1)
    + desc(0, 0, 0x31000, 64, WRITE) + avail(0, 0, 0, 1) + kick(0) + bytes([7, 4]) + b"ls\n\n",
    # virtio-console: a descriptor loop.
    "console-loop": bytes([0]) + handshake(0) + desc(1, 0, 0x30000, 8, NEXT, 1) + desc(1, 1, 0x30000, 8, NEXT, 0)
    + avail(1, 0, 0, 1) + kick(1),
    # virtio-blk: write one sector, read it back, flush, get-id, an unknown type.
    "blk-rw": bytes([1]) + handshake(INDIRECT | EVENT_IDX)
    + mem(0x30000, blk_header(1, 2)) + mem(0x30100, bytes(range(200)))
    + desc(0, 0, 0x30000, 16, NEXT, 1) + desc(0, 1, 0x30100, 512, NEXT, 2) + desc(0, 2, 0x30400, 1, WRITE)
    + avail(0, 0, 0, 1) + kick(0) + bytes([6])
    + mem(0x31000, blk_header(0, 2)) + desc(0, 3, 0x31000, 16, NEXT, 4) + desc(0, 4, 0x32000, 512, NEXT | WRITE, 5)
    + desc(0, 5, 0x32400, 1, WRITE) + avail(0, 1, 3, 2) + kick(0) + bytes([6])
    + mem(0x33000, blk_header(4, 0)) + desc(0, 6, 0x33000, 16, NEXT, 7) + desc(0, 7, 0x33100, 1, WRITE)
    + avail(0, 2, 6, 3) + kick(0) + bytes([6])
    + mem(0x34000, blk_header(8, 0)) + desc(0, 8, 0x34000, 16, NEXT, 9) + desc(0, 9, 0x34100, 20, NEXT | WRITE, 10)
    + desc(0, 10, 0x34200, 1, WRITE) + avail(0, 3, 8, 4) + kick(0) + bytes([6])
    + mem(0x35000, blk_header(0x55, 0)) + desc(0, 11, 0x35000, 16, NEXT, 12) + desc(0, 12, 0x35100, 1, WRITE)
    + avail(0, 4, 11, 5) + kick(0) + bytes([6]),
    # virtio-blk: a read through an indirect table.
    "blk-indirect": bytes([1]) + handshake(INDIRECT) + mem(0x30000, blk_header(0, 0))
    + mem(0x36000, struct.pack("<QIHH", 0x30000, 16, NEXT, 1) + struct.pack("<QIHH", 0x37000, 1024, NEXT | WRITE, 2)
          + struct.pack("<QIHH", 0x38000, 1, WRITE, 0))
    + desc(0, 0, 0x36000, 48, INDIRECT_F) + avail(0, 0, 0, 1) + kick(0) + bytes([6]),
    # virtio-net: a transmit chain (header, frame), mergeable receive buffers, two frames from
    # the host (the second too big for what is posted), the host draining its side.
    "net-tx-rx": bytes([2]) + handshake(MRG_RXBUF | CSUM | GUEST_CSUM | EVENT_IDX)
    + mem(0x30000, bytes(12)) + mem(0x30100, bytes([0xff] * 6) + bytes([0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x88, 0xb5]) + bytes(50))
    + desc(1, 0, 0x30000, 12, NEXT, 1) + desc(1, 1, 0x30100, 64, 0) + avail(1, 0, 0, 1) + kick(1)
    + desc(0, 0, 0x31000, 64, WRITE) + desc(0, 1, 0x31100, 64, WRITE) + avail(0, 0, 0, 1) + avail(0, 1, 1, 2)
    + kick(0) + bytes([7, 100]) + bytes(12) + bytes(range(88)) + bytes([7, 200]) + bytes(200) + bytes([6])
    + bytes([7, 0]) + bytes([6]),
}


def fill(addr, count, d_addr, d_len, d_flags):
    return bytes([8]) + struct.pack("<IH", addr, count) + struct.pack("<QIHH", d_addr, d_len, d_flags, 0)


def offer_many(queue, head, count):
    return bytes([9, queue]) + struct.pack("<HH", head, count)


def host_frame(length, byte):
    return bytes([10]) + struct.pack("<IB", length, byte)


# The same blk session on io_uring (device 3).
seeds["blk-rw-io_uring"] = bytes([3]) + seeds["blk-rw"][1:]
# Issue 13 defect 1, scaled to the target's budget: every receive slot names one indirect table
# of 4095 empty writable entries and a 12-byte one (the report's had 65535: any table longer
# than the queue is refused the same way), and the host sends a 64 KiB frame.
seeds["net-empty-buffers-table"] = (bytes([2]) + handshake(MRG_RXBUF | INDIRECT) + fill(0x100000, 4095, 0x31000, 0, WRITE | NEXT)
                                    + mem(0x100000 + 4095 * 16, struct.pack("<QIHH", 0x31000, 12, WRITE, 0))
                                    + desc(0, 0, 0x100000, 4096 * 16, INDIRECT_F) + offer_many(0, 0, 512) + kick(0)
                                    + host_frame(65536, 0) + bytes([6]))
# Issue 13 defect 6: forty 4 KiB receive buffers, a 70000-byte frame, then a normal one.
seeds["net-oversized-frame"] = (bytes([2]) + handshake(MRG_RXBUF)
                                + b"".join(desc(0, i, 0x200000 + i * 4096, 4096, WRITE) for i in range(40))
                                + b"".join(avail(0, i, i, i + 1) for i in range(40)) + kick(0)
                                + host_frame(70000, 0) + host_frame(1500, 0) + bytes([6]))

# virtio-rng: a request of one writable buffer, one of two (the second longer than the 64 KiB
# one request gets), one with a device-readable buffer first, one with nothing writable,
# one through an indirect table. Then the host's entropy source fails (the device needs a
# reset), the driver resets it, and after a new handshake the device answers what is in the
# ring (the refused request again) and a new request.
seeds["rng-requests"] = (bytes([4]) + handshake(INDIRECT | EVENT_IDX)
                         + desc(0, 0, 0x30000, 64, WRITE) + avail(0, 0, 0, 1) + kick(0)
                         + desc(0, 1, 0x31000, 16, WRITE | NEXT, 2) + desc(0, 2, 0x40000, 0x20000, WRITE)
                         + avail(0, 1, 1, 2) + kick(0)
                         + desc(0, 3, 0x32000, 8, NEXT, 4) + desc(0, 4, 0x32100, 32, WRITE) + avail(0, 2, 3, 3) + kick(0)
                         + desc(0, 5, 0x33000, 8, 0) + avail(0, 3, 5, 4) + kick(0)
                         + mem(0x36000, struct.pack("<QIHH", 0x37000, 100, WRITE | NEXT, 1)
                               + struct.pack("<QIHH", 0x38000, 100, WRITE, 0))
                         + desc(0, 6, 0x36000, 32, INDIRECT_F) + avail(0, 4, 6, 5) + kick(0))
seeds["rng-source-fails"] = (bytes([4]) + handshake(0) + desc(0, 0, 0x30000, 64, WRITE) + avail(0, 0, 0, 1) + kick(0)
                             + bytes([7, 1, 0]) + desc(0, 1, 0x31000, 64, WRITE) + avail(0, 1, 1, 2) + kick(0)
                             + bytes([2]) + struct.pack("<H", 0x70) + bytes([1]) + struct.pack("<HI", 0x70, 0)
                             + bytes([7, 0]) + handshake(0) + desc(0, 2, 0x32000, 64, WRITE) + avail(0, 2, 2, 3)
                             + kick(0))


def vq_header(layout, size_log, features, rings):
    return bytes([layout, size_log, features]) + b"".join(struct.pack("<BH", e, o) for e, o in rings)


def vq_write(edge, off, data):
    return bytes([0]) + struct.pack("<BHB", edge, off, len(data)) + data


def vq_desc(addr, length, flags, nxt=0):
    return struct.pack("<QIHH", addr, length, flags, nxt)


GiB = 1 << 30
virtqueue_seeds = {
    # 1 MiB of RAM, 16-entry rings at its start: a two-buffer chain offered, popped, used.
    "small": vq_header(0, 4, 0, [(0, 0x2000), (0, 0x4000), (0, 0x6000)])
    + vq_write(0, 0x2000, vq_desc(0x8000, 16, NEXT, 1) + vq_desc(0x9000, 32, WRITE))
    + bytes([2]) + struct.pack("<HH", 0, 1) + bytes([3, 4, 5]),
    # RAM on both sides of the hole, 256-entry rings ending exactly at the end of the high
    # region, an indirect table ending at 3 GiB naming buffers that end at 3 GiB and start at 4 GiB.
    "hole-edges": vq_header(1, 8, 3, [(4, 0x2001), (4, 0x3001), (4, 0x5001)])
    + vq_write(4, 0x2001, vq_desc(3 * GiB - 0x30, 48, INDIRECT_F))
    + vq_write(2, 0x61, vq_desc(3 * GiB - 0x10, 16, NEXT, 1) + vq_desc(4 * GiB, 32, WRITE | NEXT, 2)
               + vq_desc(4 * GiB + 0x100, 1, WRITE))
    + bytes([2]) + struct.pack("<HH", 0, 2) + bytes([3, 4, 5]),
    # A buffer that runs from the low region into the hole, and a loop: both refused.
    "into-the-hole": vq_header(1, 3, 0, [(2, 0x2001), (2, 0x3001), (2, 0x4001)])
    + vq_write(2, 0x2001, vq_desc(3 * GiB - 8, 16, 0) + vq_desc(0x1000, 8, NEXT, 2) + vq_desc(0x1000, 8, NEXT, 1))
    + bytes([2]) + struct.pack("<HH", 0, 1) + bytes([3, 1, 6]) + bytes([2]) + struct.pack("<HH", 1, 1) + bytes([3, 1]),
    # A 256-entry indirect table built by the fill op: longer than the 8-entry queue.
    "long-indirect": vq_header(2, 3, 2, [(0, 0x2000), (0, 0x4000), (0, 0x6000)])
    + bytes([1]) + struct.pack("<BHH", 0, 0xe000, 256) + vq_desc(0x100000, 0, WRITE | NEXT)
    + vq_write(0, 0x2000, vq_desc(0x7000, 256 * 16, INDIRECT_F))
    + bytes([2]) + struct.pack("<HH", 0, 1) + bytes([3, 1]),
}


def run_union(*fields):
    return b"".join(fields)


# kvm_run from offset 32 (the exit union); see fuzz_vcpu_exit.cpp.
IO, HLT, MMIO, SHUTDOWN, FAIL_ENTRY, INTR, INTERNAL, SYSTEM_EVENT = 2, 5, 6, 8, 9, 10, 17, 24
vcpu_exit_seeds = {
    "io-out-com1": bytes([IO]) + struct.pack("<BBHIQ", 1, 1, 0x3f8, 1, 4096),
    "io-in-lsr": bytes([IO]) + struct.pack("<BBHIQ", 0, 1, 0x3fd, 1, 4096),
    "io-string-out": bytes([IO]) + struct.pack("<BBHIQ", 1, 2, 0x3f8, 64, 4096),
    "io-data-outside": bytes([IO]) + struct.pack("<BBHIQ", 1, 4, 0x80, 0xffffffff, 4096),
    "io-debug-exit": bytes([IO]) + struct.pack("<BBHIQ", 1, 1, 0xf4, 1, 48) + bytes(8) + bytes([42]),
    "mmio-write-boot-timer": bytes([MMIO]) + struct.pack("<Q", 0xc0000000) + bytes([123] + [0] * 7) + struct.pack("<IB", 1, 1),
    "mmio-read-unclaimed": bytes([MMIO]) + struct.pack("<Q", 0xd0000000) + bytes(8) + struct.pack("<IB", 8, 0),
    "mmio-long": bytes([MMIO]) + struct.pack("<Q", 0xc0000000) + bytes(8) + struct.pack("<IB", 0xffffffff, 1),
    "hlt": bytes([HLT]),
    "shutdown": bytes([SHUTDOWN]),
    "intr": bytes([INTR]),
    "fail-entry": bytes([FAIL_ENTRY]) + struct.pack("<QI", 0x80000021, 3),
    "internal-emulation": bytes([INTERNAL]) + struct.pack("<II", 1, 3) + struct.pack("<QQQ", 1, 0xfff, 2),
    "internal-many": bytes([INTERNAL]) + struct.pack("<II", 3, 0xffffffff) + bytes(128),
    "system-event-shutdown": bytes([SYSTEM_EVENT]) + struct.pack("<I", 1),
    "system-event-unknown": bytes([SYSTEM_EVENT]) + struct.pack("<I", 77),
    "unknown": bytes([39]),
}

here = os.path.dirname(os.path.abspath(__file__))
for target, target_seeds in (("virtio", seeds), ("virtqueue", virtqueue_seeds), ("vcpu_exit", vcpu_exit_seeds)):
    out = os.path.join(here, "corpus", target)
    os.makedirs(out, exist_ok=True)
    for name, data in target_seeds.items():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)
    print(f"wrote {len(target_seeds)} seeds to {out}", file=sys.stderr)
