#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_loader, fuzz_platform, fuzz_cli, fuzz_agent and fuzz_console_ports (input formats in the
head comment of each target) into corpus/<target>/. usage: make_seeds.py BUILD_DIR (the
loader seeds wrap the test guest's PVH ELF and bzImage from BUILD_DIR/tests/guest)."""
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def loader_seed(ram, cmdline, initrd, kernel):
    return bytes([ram]) + struct.pack("<H", len(cmdline)) + cmdline + struct.pack("<I", len(initrd)) + initrd + kernel


def out(port, size, value):
    return bytes([0]) + struct.pack("<HBI", port, {1: 0, 2: 1, 4: 2}[size], value)


def inp(port, size):
    return bytes([1]) + struct.pack("<HB", port, {1: 0, 2: 1, 4: 2}[size])


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "build")
    guest = os.path.join(build, "tests", "guest")
    for name in ("elf", "bzImage"):
        with open(os.path.join(guest, "minivmm-test-guest." + name), "rb") as f:
            kernel = f.read()
        write("loader", name, loader_seed(2, b"console=ttyS0 test=boot", b"", kernel))
        write("loader", name + "-initrd-high", loader_seed(3, b"test=initrd", bytes(range(256)) * 16, kernel))
    # The UART: 8N1 at 115200 (DLAB, divisor, LCR), FIFO on, an interrupt enabled, a byte out,
    # the status read back, and host input read from RBR.
    write("platform", "uart", out(0x3FB, 1, 0x80) + out(0x3F8, 1, 1) + out(0x3F9, 1, 0) + out(0x3FB, 1, 3)
          + out(0x3FA, 1, 0xC7) + out(0x3F9, 1, 0x03) + out(0x3F8, 1, 0x41) + inp(0x3FD, 1) + inp(0x3FA, 1)
          + bytes([2, 4]) + b"abcd" + inp(0x3F8, 1) + inp(0x3FD, 1))
    # The RTC: time registers read, register B set to binary/24h with SET, a time written, an
    # alarm and the periodic interrupt enabled, the clock advanced, register C read.
    rtc = b""
    for reg in (0, 2, 4, 6, 7, 8, 9, 0x0A, 0x0B, 0x0D, 0x32):
        rtc += out(0x70, 1, reg) + inp(0x71, 1)
    rtc += out(0x70, 1, 0x0B) + out(0x71, 1, 0x86) + out(0x70, 1, 0) + out(0x71, 1, 30)
    rtc += out(0x70, 1, 0x0B) + out(0x71, 1, 0x76) + bytes([3]) + struct.pack("<I", 1500) + out(0x70, 1, 0x0C) + inp(0x71, 1)
    write("platform", "rtc", rtc)
    write("platform", "pm-and-friends", out(0x601, 1, 0) + inp(0x601, 1) + out(0x600, 1, (5 << 2) | (1 << 5))
          + out(0x602, 1, 0x42) + out(0x505, 1, 1) + inp(0x505, 1) + out(0xF4, 1, 7) + out(0x64, 1, 0xFE)
          + inp(0x64, 1) + inp(0x80, 1) + out(0x80, 1, 0x55) + inp(0x92, 1))
    argvs = {
        "boot": ["--kernel", "k", "--mem", "512M", "--cpus", "2"],
        "ci": ["--kernel", "k", "--initrd", "i", "--cmdline", "console=ttyS0", "--timeout", "30s", "--exit-on",
               "DONE", "--fail-on", "Kernel panic", "--console", "virtio,file:/tmp/c.log", "--console-log", "/tmp/l"],
        "disks": ["--kernel", "k", "--disk", "a.img,readonly=on,serial=S", "--disk",
                  "path=b.img,cache=none,aio=sync", "--net", "tap=tap0,mac=52:54:00:12:34:56,create=on"],
        "help": ["--help"],
        "bad": ["--kernel", "k", "--mem", "99999T", "--cpus", "0", "--timeout", "x"],
    }
    for name, argv in argvs.items():
        write("cli", name, b"\0".join(a.encode() for a in argv))
    write_console_ports_seeds()
    write_agent_seeds()


def post(queue, length, writable, data=b""):
    """fuzz_console_ports op 10: a one-buffer chain on `queue`, notified."""
    return bytes([10, queue]) + struct.pack("<HBB", length, 1 if writable else 0, len(data)) + data


def control(port, event, value):
    return post(3, 8, False, struct.pack("<IHH", port, event, value))


def write_console_ports_seeds():
    # The Linux driver's multiport handshake, then bytes both ways on port 1 and a hang-up.
    seed = bytes([5]) + struct.pack("<Q", 2)  # VIRTIO_CONSOLE_F_MULTIPORT
    seed += post(2, 4096, True) * 4
    seed += control(0xFFFFFFFF, 0, 1) + control(1, 3, 1) + control(1, 6, 1)
    seed += post(4, 4096, True) + bytes([7, 1, 5]) + b"hello" + bytes([6])
    seed += post(5, 5, False, b"world") + bytes([8, 1]) + bytes([9, 2, 6])
    write("console_ports", "seed-session", seed)


def agent_frame(kind, payload):
    return struct.pack("<II", kind, len(payload)) + payload


def write_agent_seeds():
    ready = agent_frame(1, struct.pack("<I", 1))
    exited = agent_frame(2, struct.pack("<IIQQ", 0, 3, 10, 20))
    killed = agent_frame(2, struct.pack("<IIQQ", 1, 9, 0, 0))
    failed = agent_frame(3, b"cannot change to directory /x: No such file or directory")
    write("agent", "seed-session", b"\x07" + ready + exited + ready + killed + ready + failed)
    write("agent", "seed-bad-length", b"\x01" + struct.pack("<II", 3, 0xFFFFFFFF))
    write("agent", "seed-unknown", b"\x05" + agent_frame(42, b"xyz") + ready)


if __name__ == "__main__":
    main()
