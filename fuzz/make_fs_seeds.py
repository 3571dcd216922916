#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_fs (input format in the head comment of fuzz/fuzz_fs.cpp) into
corpus/fs/: FUSE sessions a driver would send, on the scratch tree the target builds (file,
d/inner, link -> ../outside/secret, dirlink -> outside), so that mutation starts from requests
that get past the checks. usage: make_fs_seeds.py"""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))

OPS = ["LOOKUP", "FORGET", "GETATTR", "SETATTR", "READLINK", "SYMLINK", "MKNOD", "MKDIR", "UNLINK", "RMDIR",
       "RENAME", "LINK", "OPEN", "READ", "WRITE", "STATFS", "RELEASE", "FSYNC", "SETXATTR", "GETXATTR",
       "LISTXATTR", "REMOVEXATTR", "FLUSH", "INIT", "OPENDIR", "READDIR", "RELEASEDIR", "FSYNCDIR", "GETLK",
       "SETLK", "SETLKW", "ACCESS", "CREATE", "INTERRUPT", "BMAP", "DESTROY", "IOCTL", "POLL", "BATCH_FORGET",
       "FALLOCATE", "READDIRPLUS", "RENAME2", "LSEEK", "COPY_FILE_RANGE", "SETUPMAPPING", "SYNCFS", "TMPFILE"]
RAW = 0x80  # a node or handle byte >= 0x80 is used as is
O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND = 0, 1, 2, 0o100, 0o1000, 0o2000


def req(op, args=b"", node=0, fh=RAW, out=256, shape=0):
    if len(args) % 2:
        args += b"\0"
    return bytes([0, OPS.index(op), node, fh, len(args) // 2]) + args + struct.pack("<HB", out, shape)


def name(text):
    return text.encode() + b"\0"


def read_in(offset, size):
    return struct.pack("<QQIIQII", 0, offset, size, 0, 0, 0, 0)


def lock(start, end, typ, pid=1):
    return struct.pack("<QQQQII", 0, 7, start, end, typ, pid) + struct.pack("<II", 0, 0)


def write(name_, data):
    d = os.path.join(here, "corpus", "fs")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name_), "wb") as f:
        f.write(data)


def main():
    # node 1 = "file", fh 0 = its handle
    write("file-io", req("LOOKUP", name("file")) + req("OPEN", struct.pack("<II", O_RDWR, 0), node=1)
          + req("READ", read_in(0, 64), fh=0, out=64) + req("WRITE", struct.pack("<QQIIQII", 0, 3, 4, 0, 0, 0, 0)
          + b"ABCD", fh=0, out=8) + req("GETATTR", bytes(16), node=1) + req("LSEEK", struct.pack("<QQII", 0, 0, 3, 0), fh=0)
          + req("FALLOCATE", bytes(32), fh=0) + req("FSYNC", bytes(16), fh=0) + req("FLUSH", bytes(24), fh=0)
          + req("RELEASE", bytes(24), fh=0) + req("FORGET", struct.pack("<Q", 1), node=1, out=0, shape=0x20))
    write("dirs", req("LOOKUP", name("d")) + req("OPENDIR", bytes(8), node=1)
          + req("READDIRPLUS", read_in(0, 4096), fh=0, out=4096) + req("READDIR", read_in(0, 96), fh=0, out=96)
          + req("LOOKUP", name("inner"), node=1) + req("FSYNCDIR", bytes(16), fh=0) + req("RELEASEDIR", bytes(24), fh=0)
          + req("MKDIR", struct.pack("<II", 0o755, 0) + name("sub")) + req("RMDIR", name("sub")))
    write("create-attrs", req("CREATE", struct.pack("<IIII", O_RDWR | O_CREAT, 0o644, 0, 0) + name("new"), out=160)
          + req("SETATTR", struct.pack("<IIQQQQQQIIIIIIII", 1 | 8 | 32, 0, 0, 100, 0, 0, 5, 0, 0, 7, 0, 0o600, 0, 0, 0, 0),
                node=1)
          + req("SETXATTR", struct.pack("<IIII", 3, 0, 0, 0) + name("user.k") + b"val")
          + req("GETXATTR", struct.pack("<II", 64, 0) + name("user.k"), node=1)
          + req("LISTXATTR", struct.pack("<II", 0, 0), node=1) + req("REMOVEXATTR", name("user.k"), node=1)
          + req("COPY_FILE_RANGE", struct.pack("<QQQQQQQ", 0, 0, 1, 0, 4, 8, 0), fh=0, out=8))
    write("names", req("LOOKUP", name("link")) + req("READLINK", b"", node=1, out=4096)
          + req("OPEN", struct.pack("<II", O_RDONLY, 0), node=1) + req("SYMLINK", name("s") + name("../outside/secret"))
          + req("LOOKUP", name("file")) + req("LINK", struct.pack("<Q", 0) + name("hard"), node=0)
          + req("RENAME2", struct.pack("<QII", 1, 2, 0) + name("file") + name("s"))
          + req("RENAME", struct.pack("<Q", 1) + name("s") + name("t")) + req("UNLINK", name("t"))
          + req("MKNOD", struct.pack("<IIII", 0o10644, 0, 0, 0) + name("fifo")) + req("LOOKUP", name("..")))
    write("locks", req("LOOKUP", name("file")) + req("OPEN", struct.pack("<II", O_RDWR, 0), node=1)
          + req("OPEN", struct.pack("<II", O_RDWR, 0), node=1) + req("SETLK", lock(0, 9, 1), node=1, fh=0)
          + req("GETLK", lock(0, 100, 1, 2), node=1, fh=1, out=24)
          + req("SETLKW", lock(0, 9, 1, 2)[:8] + struct.pack("<Q", 9) + lock(0, 9, 1, 2)[16:], node=1, fh=1, shape=0x40)
          + req("INTERRUPT", struct.pack("<Q", 0), out=0, shape=0x20) + req("SETLK", lock(0, 2**63 - 1, 2), node=1, fh=0)
          + bytes([2]))
    write("swap", req("LOOKUP", name("d")) + bytes([5, 1]) + req("LOOKUP", name("inner"), node=1)
          + req("CREATE", struct.pack("<IIII", O_RDWR | O_CREAT, 0o644, 0, 0) + name("x"), node=1, out=160)
          + req("LOOKUP", name("d")) + bytes([5, 0]))
    write("session", req("STATFS", b"", out=80) + req("ACCESS", struct.pack("<II", 4, 0)) + req("SYNCFS", bytes(8))
          + req("BATCH_FORGET", struct.pack("<IIQQ", 1, 0, 1, 1), out=0, shape=0x20) + req("DESTROY", b"", out=16)
          + req("INIT", struct.pack("<IIII", 7, 38, 65536, 0x1fffffff) + bytes(48), out=64)
          + req("GETATTR", bytes(16)) + req("BMAP", bytes(16)))
    header = struct.pack("<IIQQIIIHH", 60, 3, 99, 1, 0, 0, 0, 0, 0)
    write("malformed", bytes([1, len(header)]) + header + struct.pack("<H", 200) + bytes([1, 20]) + header[:20]
          + struct.pack("<H", 200) + bytes([3]) + struct.pack("<HI", 0x70, 0) + req("GETATTR", bytes(16)))


if __name__ == "__main__":
    main()
