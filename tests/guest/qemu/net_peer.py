#!/usr/bin/env python3
"""The host end of the test guest's virtio-net tests under QEMU.

Runs a QEMU command line (after `--`), prints its output as it comes, and talks to the
guest's NIC through either
  --unix DIR   unix datagram sockets: the peer binds DIR/peer.sock; give QEMU
               -netdev dgram,id=n0,local.type=unix,local.path=DIR/qemu.sock,
                      remote.type=unix,remote.path=DIR/peer.sock
  --tap IF     a packet socket on the TAP interface IF (QEMU: -netdev tap,ifname=IF,...)
Modes (every frame the peer sends: dst = --mac, src 02:00:00:00:00:01, ethertype 0x88b5):
  sink     net-tx: collect --count frames, compare each with the guest's generator and
           the guest's `net: sent ...` line with their count, bytes and CRC
  source   net-rx: after `net: ready`, send --count frames of varied sizes; check the
           guest's `net: rx ...` and `net: received ...` lines against them
  echo     net-echo: after `net: ready`, send --count frames, expect each back, MACs swapped
  blast    net-bench dir=rx: after `net: ready`, send --count frames of --size bytes
  count    net-bench dir=tx: count frames, check sizes and sequence numbers 0, 1, ...
Verdict lines start with `peer:`; failures contain `MISMATCH` or `FAIL`.  Exits with
QEMU's exit status.
"""
import argparse
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

ETHERTYPE = b"\x88\xb5"
PEER_MAC = bytes.fromhex("020000000001")
SOURCE_SIZES = (60, 1514, 64, 1513, 128, 1000, 61, 512)


def guest_frame(mac, seed, seq, size):
    """Frame `seq` of the guest's net-tx (README: net-tx)."""
    f = bytearray(b"\xff" * 6 + mac + ETHERTYPE + struct.pack("<I", seq))
    x = (seed ^ seq) & 0xFFFFFFFF
    while len(f) < size:
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        f += struct.pack("<I", x)
    return bytes(f[:size])


def peer_frame(mac, rng, seq, size):
    return mac + PEER_MAC + ETHERTYPE + struct.pack("<I", seq) + rng.randbytes(size - 18)


class Link:
    def __init__(self, args):
        if args.unix:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            path = os.path.join(args.unix, "peer.sock")
            if os.path.exists(path):
                os.unlink(path)
            self.sock.bind(path)
            self.dest = os.path.join(args.unix, "qemu.sock")
        else:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
            self.sock.bind((args.tap, 0))
            self.dest = None
        # A burst from a fast VMM must not overflow the socket: beyond net.core.rmem_max
        # needs SO_RCVBUFFORCE (root), which the TAP set-up needs anyway.
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 16 << 20)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        self.sock.settimeout(0.2)
        self.frames = []
        self.ignored = 0
        self.stop = False
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self):
        while not self.stop:
            try:
                if self.dest:
                    data = self.sock.recv(65536)
                else:
                    data, addr = self.sock.recvfrom(65536)
                    if addr[2] == socket.PACKET_OUTGOING:
                        continue
            except (socket.timeout, OSError):
                continue
            if self.dest is None and data[12:14] != ETHERTYPE:
                self.ignored += 1  # the host's own traffic on the TAP
                continue
            self.frames.append(data)

    def send(self, frame):
        for _ in range(1000):
            try:
                if self.dest:
                    self.sock.sendto(frame, self.dest)
                else:
                    self.sock.send(frame)
                return
            except (BlockingIOError, socket.timeout):
                time.sleep(0.01)  # QEMU's socket queue is full: wait for the guest
            except OSError as e:
                raise RuntimeError("peer: FAIL sending: %s (has QEMU exited?)" % e) from e
        raise RuntimeError("peer: FAIL could not send a frame for 10 s")


def run_qemu(cmd, ready, lines):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def pump():
        for raw in proc.stdout:
            line = raw.decode(errors="replace").replace("\r", "").rstrip("\n")
            lines.append(line)
            print(line, flush=True)
            if line.startswith("net: ready"):
                ready.set()

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    return proc, t


def line_value(lines, prefix):
    return next((ln for ln in lines if ln.startswith(prefix)), None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--unix")
    where.add_argument("--tap")
    ap.add_argument("mode", choices=("sink", "source", "echo", "blast", "count"))
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--size", type=int, default=60)
    ap.add_argument("--seed", type=lambda s: int(s, 0), default=1)
    ap.add_argument("--mac", default="52:54:00:12:34:56")
    argv = sys.argv[1:]
    if "--" not in argv:
        ap.error("need -- QEMU COMMAND...")
    cut = argv.index("--")
    args, cmd = ap.parse_args(argv[:cut]), argv[cut + 1:]
    mac = bytes.fromhex(args.mac.replace(":", ""))

    link = Link(args)
    ready, lines = threading.Event(), []
    proc, pump = run_qemu(cmd, ready, lines)
    sent = []
    verdict = []
    try:
        if args.mode in ("source", "echo", "blast"):
            deadline = time.monotonic() + 50
            while not ready.wait(0.1) and proc.poll() is None and time.monotonic() < deadline:
                pass
            if not ready.is_set():
                verdict.append("peer: FAIL no 'net: ready' line from the guest")
            else:
                rng = random.Random(args.seed)
                for seq in range(args.count):
                    size = args.size if args.mode == "blast" else SOURCE_SIZES[seq % len(SOURCE_SIZES)]
                    f = peer_frame(mac, rng, seq, size)
                    link.send(f)
                    if args.mode != "blast":
                        sent.append(f)
                if args.mode == "blast":
                    print("peer: sent %d frames bytes=%d" % (args.count, args.count * args.size), flush=True)
                else:
                    print("peer: sent %d frames bytes=%d crc32=%08x" % (
                        args.count, sum(map(len, sent)), zlib.crc32(b"".join(sent))), flush=True)
    except RuntimeError as e:
        verdict.append(str(e))
    rc = proc.wait()
    pump.join(5)
    time.sleep(0.3)  # frames QEMU sent just before it exited
    link.stop = True
    link.thread.join()
    frames = link.frames
    if link.ignored:
        print("peer: ignored %d frames of other types" % link.ignored)

    if args.mode == "sink":
        want = [guest_frame(mac, args.seed, i, args.size) for i in range(args.count)]
        print("peer: received %d frames bytes=%d crc32=%08x" % (
            len(frames), sum(map(len, frames)), zlib.crc32(b"".join(frames))))
        bad = next((i for i, (a, b) in enumerate(zip(frames, want)) if a != b), None)
        line = "net: sent %d frames bytes=%d crc32=%08x" % (
            len(want), sum(map(len, want)), zlib.crc32(b"".join(want)))
        if len(frames) != len(want) or bad is not None:
            verdict.append("peer: MISMATCH %d frames, want %d; first differing frame %s" % (
                len(frames), len(want), bad))
        elif line not in lines:
            verdict.append("peer: MISMATCH the guest did not print '%s'" % line)
        else:
            verdict.append("peer: frames as expected")
    elif args.mode == "source" and sent:
        want = "net: received %d frames bytes=%d crc32=%08x" % (
            len(sent), sum(map(len, sent)), zlib.crc32(b"".join(sent)))
        got = line_value(lines, "net: received ")
        per_frame = all(line_value(lines, "net: rx seq=%d len=%d crc32=%08x" % (i, len(f), zlib.crc32(f)))
                        for i, f in enumerate(sent[:16]))
        if got == want and per_frame:
            verdict.append("peer: guest received what was sent")
        else:
            verdict.append("peer: MISMATCH guest said '%s', want '%s'%s" % (
                got, want, "" if per_frame else " (and a per-frame line differs)"))
    elif args.mode == "echo" and sent:
        want = [f[6:12] + f[0:6] + f[12:] for f in sent]
        bad = next((i for i, (a, b) in enumerate(zip(frames, want)) if a != b), None)
        if len(frames) != len(want) or bad is not None:
            verdict.append("peer: MISMATCH %d echoes, want %d; first differing echo %s" % (
                len(frames), len(want), bad))
        else:
            verdict.append("peer: %d echoes as expected" % len(frames))
    elif args.mode == "count":
        seqs = [struct.unpack_from("<I", f, 14)[0] for f in frames]
        sizes_ok = all(len(f) == args.size for f in frames)
        if seqs == list(range(args.count)) and sizes_ok:
            verdict.append("peer: counted %d frames of %d bytes in order" % (len(frames), args.size))
        else:
            verdict.append("peer: MISMATCH %d frames (want %d), in order %s, sizes %s" % (
                len(frames), args.count, seqs == sorted(seqs), sizes_ok))
    for v in verdict:
        print(v)
    sys.exit(rc)


if __name__ == "__main__":
    main()
