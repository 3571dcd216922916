#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_user_net (see its input format) into corpus/user_net/: frames
a guest sends on a user-mode network, with the virtio-net header it sends them with."""
import os
import struct
import sys

GUEST_MAC = bytes.fromhex("525400123456")
GATEWAY_MAC = bytes.fromhex("52550a000202")
GUEST, HOST, OUTSIDE = bytes([10, 0, 2, 15]), bytes([10, 0, 2, 2]), bytes([192, 0, 2, 1])
GUEST6 = bytes.fromhex("fec0000000000000000000000000" + "0015")
HOST6 = bytes.fromhex("fec0000000000000000000000000" + "0002")
NEEDS_CSUM = 1
GSO_TCPV4, GSO_TCPV6 = 1, 4


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def vnet(flags=0, gso=0, hdr_len=0, gso_size=0, start=0, offset=0):
    return struct.pack("<BBHHHHH", flags, gso, hdr_len, gso_size, start, offset, 0)


def ipv4(src, dst, proto, l4, frag=0x4000):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, frag, 64, proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return GUEST_MAC[:0] + GATEWAY_MAC + GUEST_MAC + b"\x08\x00" + h + l4


def ipv6(src, dst, proto, l4):
    return GATEWAY_MAC + GUEST_MAC + b"\x86\xdd" + struct.pack("!IHBB", 0x60000000, len(l4), proto, 64) + src + dst + l4


def tcp(sport, dport, seq, flags, payload, pseudo):
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload
    return t[:16] + struct.pack("!H", (~csum(pseudo + struct.pack("!H", 0)) & 0xffff)) + t[18:]


def pseudo4(src, dst, proto):
    return src + dst + struct.pack("!BB", 0, proto)


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


data = bytes((i * 131 + 7) & 0xff for i in range(6000))
seeds = {
    "tso4": b"\x01" + vnet(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16)
    + ipv4(GUEST, HOST, 6, tcp(40000, 80, 1, 0x18, data, pseudo4(GUEST, HOST, 6))),
    "tso4-segmented": b"\x00" + vnet(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16)
    + ipv4(GUEST, HOST, 6, tcp(40000, 80, 1, 0x19, data, pseudo4(GUEST, HOST, 6))),
    "tso6": b"\x01" + vnet(NEEDS_CSUM, GSO_TCPV6, 74, 1428, 54, 16)
    + ipv6(GUEST6, HOST6, 6, tcp(40000, 80, 1, 0x18, data[:4000], GUEST6 + HOST6 + b"\0\0\0\x06")),
    "csum-udp": b"\x01" + vnet(NEEDS_CSUM, 0, 0, 0, 34, 6) + ipv4(GUEST, HOST, 17, udp(1000, 53, data[:100])),
    "syn-outside": b"\x01" + vnet() + ipv4(GUEST, OUTSIDE, 6, tcp(40000, 443, 5, 0x02, b"", pseudo4(GUEST, OUTSIDE, 6))),
    "fragment": b"\x01" + vnet() + ipv4(GUEST, OUTSIDE, 6, tcp(40000, 443, 5, 0x02, b"", b""), frag=0x2000),
    "arp": b"\x01" + vnet() + b"\xff" * 6 + GUEST_MAC + b"\x08\x06"
    + bytes([0, 1, 8, 0, 6, 4, 0, 1]) + GUEST_MAC + GUEST + b"\0" * 6 + HOST,
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "user_net")
os.makedirs(out, exist_ok=True)
for name, seed in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(seed)
print(f"make_user_net_seeds: {len(seeds)} seeds in {out}", file=sys.stderr)
