#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_virtio (see the opcode table in fuzz_virtio.cpp) into
corpus/virtio/: well-formed driver sessions the fuzzer mutates from. libFuzzer adds the
inputs it finds interesting to the same directory when run on it."""
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

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "virtio")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, "seed-" + name), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {out}", file=sys.stderr)
