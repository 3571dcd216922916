#!/usr/bin/env python3
"""Host end of bench/net.sh's rx rows (the test guest's `net-bench dir=rx`).

usage: net_bench_peer.py --tap IF --count N --size S [--mac MAC] -- VMM COMMAND...

Runs the VMM command, passes its output through, waits for the guest's `net: ready` line, then
sends N frames of S bytes (dst MAC, src 02:00:00:00:00:01, ethertype 0x88b5, a sequence
number, zeros) on a packet socket bound to the TAP IF as fast as it can (the TAP's txqueuelen
must hold them all: bench/net.sh sets it, so nothing is dropped and the sender never waits for
the guest). Times, on the monotonic clock, from the first send:
  peer: send_us=T    until the last frame was handed to the kernel
  peer: wall_us=T    until the guest's `bench: frames=` line (it prints it after the last frame)
Exits with the VMM's exit status (2 if the guest never said `net: ready`).
"""
import argparse
import socket
import struct
import subprocess
import sys
import threading
import time


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit("net_bench_peer.py: need -- VMM COMMAND...")
    cut = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("--tap", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--mac", default="52:54:00:12:34:56")
    args, cmd = ap.parse_args(argv[:cut]), argv[cut + 1:]

    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # send only
    sock.bind((args.tap, 0))
    sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_SNDBUFFORCE", 32), 64 << 20)
    head = bytes.fromhex(args.mac.replace(":", "")) + bytes.fromhex("020000000001") + b"\x88\xb5"
    frames = [head + struct.pack("<I", i) + bytes(args.size - 18) for i in range(256)]

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    ready, done = threading.Event(), threading.Event()
    stamp = {}

    def pump():
        for raw in proc.stdout:
            line = raw.decode(errors="replace").replace("\r", "").rstrip("\n")
            if line.startswith("bench: frames="):
                stamp["done"] = time.monotonic()
                done.set()
            print(line, flush=True)
            if line.startswith("net: ready"):
                ready.set()

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    while not ready.wait(0.05) and proc.poll() is None:
        pass
    if not ready.is_set():
        t.join(5)
        print("peer: FAIL no 'net: ready' line from the guest", flush=True)
        sys.exit(proc.wait() or 2)

    send = sock.send
    t0 = time.monotonic()
    for i in range(args.count):
        f = frames[i & 255]
        while True:
            try:
                send(f)
                break
            except OSError:  # ENOBUFS: the qdisc is full; should not happen with a long txqueuelen
                time.sleep(0.0005)
    t1 = time.monotonic()
    rc = proc.wait()
    t.join(5)
    print("peer: send_us=%d" % ((t1 - t0) * 1e6))
    if "done" in stamp:
        print("peer: wall_us=%d" % ((stamp["done"] - t0) * 1e6))
    sys.exit(rc)


if __name__ == "__main__":
    main()
