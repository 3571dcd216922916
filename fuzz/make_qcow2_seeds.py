#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_qcow2 (input format in the head comment of fuzz_qcow2.cpp)
into corpus/qcow2/: small images made by qemu-img and qemu-io (versions 2 and 3, 512-byte to
64 KiB clusters, zero and compressed clusters, a backing file, an internal snapshot, a chain
of two qcow2 images, lock=off, backing loops), each followed by a few reads, writes, zeroes,
discards and flushes. usage: make_qcow2_seeds.py
(needs qemu-img and qemu-io: apt-get install qemu-utils)."""
import os
import struct
import subprocess
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
READ, WRITE, ZERO, ZERO_UNMAP, DISCARD, FLUSH = range(6)


def op(kind, sector, sectors, fill=0):
    return struct.pack("<BIHB", kind, sector, sectors - 1, fill)


def ops():
    return (op(READ, 0, 64) + op(WRITE, 3, 9, 0xa5) + op(READ, 0, 16) + op(ZERO, 64, 128) +
            op(WRITE, 1000, 200, 0x3c) + op(FLUSH, 0, 1) + op(ZERO_UNMAP, 1024, 256) + op(DISCARD, 0, 128) +
            op(WRITE, 7, 1, 0x11) + op(READ, 0, 256) + op(FLUSH, 0, 1))


def run(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def main():
    out = os.path.join(here, "corpus", "qcow2")
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "backing.raw"), "wb") as f:
            f.write(bytes((i * 13 + (i >> 9)) & 0xff for i in range(1 << 20)))
        cases = {
            "v3-512": (["-o", "cluster_size=512"], ["write -P 0x61 0 4k", "write -z 8k 4k"]),
            "v3-4k": (["-o", "cluster_size=4096"], ["write -P 0x62 4k 12k", "write -z -u 64k 8k"]),
            "v2-4k": (["-o", "compat=0.10,cluster_size=4096"], ["write -P 0x63 0 8k"]),
            "v3-64k": (["-o", "cluster_size=65536"], ["write -P 0x64 0 64k"]),
            "refcount1-4k": (["-o", "cluster_size=4096,refcount_bits=1"], ["write -P 0x65 0 8k"]),
            "refcount64-512": (["-o", "cluster_size=512,refcount_bits=64"], ["write -P 0x66 0 2k"]),
            "backing-4k": (["-o", "cluster_size=4096", "-b", "backing.raw", "-F", "raw"], ["write -P 0x67 4k 4k"]),
        }
        for name, (create, writes) in cases.items():
            image = os.path.join(d, name + ".qcow2")
            run("qemu-img", "create", "-f", "qcow2", *create, image, "1M", cwd=d)
            run("qemu-io", "-f", "qcow2", *sum((["-c", w] for w in writes), []), image, cwd=d)
            seed(out, name, image)
        # Compressed clusters (deflate, zstd) and an internal snapshot.
        src = os.path.join(d, "src.raw")
        with open(src, "wb") as f:
            f.write(bytes((i * 7) & 0xff for i in range(256 << 10)) + bytes(256 << 10))
        for kind in ("zlib", "zstd"):
            image = os.path.join(d, "compressed-" + kind + ".qcow2")
            run("qemu-img", "convert", "-c", "-O", "qcow2", "-o", "cluster_size=4096,compression_type=" + kind, src,
                image, cwd=d)
            seed(out, "compressed-" + kind, image)
        image = os.path.join(d, "snapshot.qcow2")
        run("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=4096", image, "1M", cwd=d)
        run("qemu-io", "-f", "qcow2", "-c", "write -P 0x68 0 16k", image, cwd=d)
        run("qemu-img", "snapshot", "-c", "s1", image, cwd=d)
        seed(out, "snapshot", image)
        # lock=off (flag 4) over a backing file; a chain of two qcow2 images (the second from
        # the input, flag 8) over the raw file; and loops, which lock=off leaves to the
        # chain's own check: an image naming itself, and one naming base.qcow2 naming it.
        image = os.path.join(d, "backing-4k.qcow2")
        seed(out, "backing-4k-lock-off", image, variants=((1 | 4, ""), (0 | 4, "-ro")))
        base = os.path.join(d, "base.qcow2")
        run("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "backing.raw", "-F", "raw", base,
            "1M", cwd=d)
        run("qemu-io", "-f", "qcow2", "-c", "write -P 0x69 8k 8k", base, cwd=d)
        top = os.path.join(d, "image.qcow2")
        run("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=512", "-b", "base.qcow2", "-F", "qcow2", top,
            "1M", cwd=d)
        run("qemu-io", "-f", "qcow2", "-c", "write -P 0x6a 12k 1k", top, cwd=d)
        seed(out, "chain-qcow2-raw", top, base=base, variants=((1 | 8, ""), (0 | 8, "-ro"), (3 | 8, "-snapshot"),
                                                               (1 | 4 | 8, "-lock-off")))
        self_loop = os.path.join(d, "self.qcow2")
        run("qemu-img", "create", "-f", "qcow2", "-u", "-o", "cluster_size=4096", "-b", "image.qcow2", "-F", "qcow2",
            self_loop, "1M", cwd=d)
        seed(out, "loop-self-lock-off", self_loop, variants=((1 | 4, ""),))
        loop_base = os.path.join(d, "loop-base.qcow2")
        run("qemu-img", "create", "-f", "qcow2", "-u", "-o", "cluster_size=4096", "-b", "image.qcow2", "-F", "qcow2",
            loop_base, "1M", cwd=d)
        loop_top = os.path.join(d, "loop-top.qcow2")
        run("qemu-img", "create", "-f", "qcow2", "-u", "-o", "cluster_size=4096", "-b", "base.qcow2", "-F", "qcow2",
            loop_top, "1M", cwd=d)
        seed(out, "loop-base-lock-off", loop_top, base=loop_base, variants=((1 | 4 | 8, ""), (0 | 8, "-locked-ro")))


def seed(out, name, image, base=None, variants=None):
    with open(image, "rb") as f:
        data = f.read()
    second = b""
    if base is not None:
        with open(base, "rb") as f:
            second = f.read()
        second = struct.pack("<I", len(second)) + second
    if variants is None:
        variants = ((1, ""), (0, "-ro"), (3, "-snapshot")) if len(data) < 100 << 10 else ((1, ""),)
    for flags, suffix in variants:
        with open(os.path.join(out, name + suffix), "wb") as f:
            f.write(bytes([flags]) + struct.pack("<I", len(data)) + data + (second if flags & 8 else b"") + ops())


if __name__ == "__main__":
    main()
