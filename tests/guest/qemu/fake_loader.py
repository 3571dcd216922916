#!/usr/bin/env python3
"""Does what minivmm's bzImage loader does, for QEMU's generic loader device.

usage: fake_loader.py BZIMAGE OUTDIR MEM_MIB CPUS CMDLINE [--initrd FILE]
                      [--acpi none|scan|bootparams|bad-dsdt]
Writes payload.bin (-> 0x100000), boot_params.bin (0x7000), cmdline.bin (0x20000),
mptable.bin (0x9fc00), acpi.bin (0xe0000: RSDP, XSDT, FADT, DSDT, MADT) to OUTDIR and prints
the matching QEMU '-device loader,...' arguments.  The FADT is hardware-reduced; its
SLEEP_CONTROL_REG and RESET_REG are SystemIO port 0xf4 (QEMU's isa-debug-exit), so the
guest's poweroff exits with (5 << 2) | 0x20 = 52 (SLP_TYP 5 from the DSDT's _S5_) and its
reset with RESET_VALUE 0x42 = 66.  bad-dsdt: as scan, with a wrong DSDT checksum.  The memory map follows docs/architecture.md:
RAM up to 3 GiB below the hole, the rest from 4 GiB (QEMU's microvm has the same layout).
"""
import argparse
import os
import struct

p = argparse.ArgumentParser()
p.add_argument('bzimage')
p.add_argument('outdir')
p.add_argument('mem_mib', type=int)
p.add_argument('cpus', type=int)
p.add_argument('cmdline')
p.add_argument('--initrd')
p.add_argument('--acpi', choices=['none', 'scan', 'bootparams', 'bad-dsdt'], default='scan')
a = p.parse_args()


def out(name, data):
    path = os.path.join(a.outdir, name)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def checksum(b):
    return (-sum(b)) & 0xff


image = open(a.bzimage, 'rb').read()
setup_sects = image[0x1f1] or 4
loads = [(out('payload.bin', image[(setup_sects + 1) * 512:]), 0x100000)]

bp = bytearray(4096)
hdr_end = 0x202 + image[0x201]
bp[0x1f1:hdr_end] = image[0x1f1:hdr_end]
bp[0x210] = 0xff                                # type_of_loader: undefined
struct.pack_into('<I', bp, 0x228, 0x20000)      # cmd_line_ptr
mem = a.mem_mib << 20
low = min(mem, 3 << 30)
e820 = [(0, 0x9fc00, 1), (0x9fc00, 0x100000 - 0x9fc00, 2), (0x100000, low - 0x100000, 1)]
if mem > low:
    e820.append((1 << 32, mem - low, 1))
bp[0x1e8] = len(e820)
for i, (addr, size, kind) in enumerate(e820):
    struct.pack_into('<QQI', bp, 0x2d0 + 20 * i, addr, size, kind)
if a.initrd:
    initrd = open(a.initrd, 'rb').read()
    initrd_addr = (min(low, 0x80000000) - len(initrd)) & ~0xfff
    struct.pack_into('<II', bp, 0x218, initrd_addr, len(initrd))
    loads.append((os.path.abspath(a.initrd), initrd_addr))
if a.acpi == 'bootparams':
    struct.pack_into('<Q', bp, 0x070, 0xe0000)  # acpi_rsdp_addr
loads.append((out('boot_params.bin', bytes(bp)), 0x7000))
loads.append((out('cmdline.bin', a.cmdline.encode() + b'\0'), 0x20000))

# MP spec 1.4: floating pointer at 0x9fc00, configuration table right after it.
cpus = b''.join(struct.pack('<BBBBII8x', 0, i, 0x14, 1 | (2 if i == 0 else 0), 0x600, 0x201)
                for i in range(a.cpus))
mpc = bytearray(struct.pack('<4sHBB8s12sIHHIHBB', b'PCMP', 44 + len(cpus), 4, 0, b'MINIVMM ',
                            b'SMOKETEST   ', 0, 0, a.cpus, 0xfee00000, 0, 0, 0) + cpus)
mpc[7] = checksum(mpc)
mpf = bytearray(struct.pack('<4sIBBB5B', b'_MP_', 0x9fc10, 1, 4, 0, 0, 0, 0, 0, 0))
mpf[10] = checksum(mpf)
loads.append((out('mptable.bin', bytes(mpf + mpc)), 0x9fc00))


# ACPI: RSDP (revision 2) at 0xe0000, XSDT 0xe0040, FADT 0xe0080, DSDT 0xe01c0, MADT 0xe0200.
def table(sig, body, rev):
    t = bytearray(struct.pack('<4sIBB6s8sI4sI', sig, 36 + len(body), rev, 0, b'MINIVM',
                              b'SMOKTEST', 1, b'MVMM', 1) + body)
    t[9] = checksum(t)
    return t


def gas_io(port):  # Generic Address Structure: SystemIO, 8 bits, byte access
    return struct.pack('<BBBBQ', 1, 8, 0, 1, port)


if a.acpi != 'none':
    madt = table(b'APIC', struct.pack('<II', 0xfee00000, 0) +
                 b''.join(struct.pack('<BBBBI', 0, 8, i, i, 1) for i in range(a.cpus)), 4)
    # Name (\_S5_, Package (4) { 5, Zero, Zero, Zero })
    dsdt = table(b'DSDT', bytes([0x08, 0x5c]) + b'_S5_' + bytes([0x12, 7, 4, 0x0a, 5, 0, 0, 0]), 2)
    if a.acpi == 'bad-dsdt':
        dsdt[9] = (dsdt[9] + 1) & 0xff
    fadt_body = bytearray(276 - 36)
    struct.pack_into('<I', fadt_body, 112 - 36, (1 << 20) | (1 << 10))  # HW_REDUCED, RESET_REG_SUP
    fadt_body[116 - 36:128 - 36] = gas_io(0xf4)                       # RESET_REG
    fadt_body[128 - 36] = 0x42                                         # RESET_VALUE
    fadt_body[131 - 36] = 5                                            # minor version
    struct.pack_into('<Q', fadt_body, 140 - 36, 0xe01c0)               # X_DSDT
    fadt_body[244 - 36:256 - 36] = gas_io(0xf4)                       # SLEEP_CONTROL_REG
    fadt_body[256 - 36:268 - 36] = gas_io(0xf5)                       # SLEEP_STATUS_REG
    fadt = table(b'FACP', bytes(fadt_body), 6)
    xsdt = table(b'XSDT', struct.pack('<QQ', 0xe0080, 0xe0200), 1)
    rsdp = bytearray(struct.pack('<8sB6sBIIQB3x', b'RSD PTR ', 0, b'MINIVM', 2, 0, 36, 0xe0040, 0))
    rsdp[8] = checksum(rsdp[:20])
    rsdp[32] = checksum(rsdp)
    acpi = bytearray(0x200 + len(madt))
    for off, t in ((0, rsdp), (0x40, xsdt), (0x80, fadt), (0x1c0, dsdt), (0x200, madt)):
        acpi[off:off + len(t)] = t
    loads.append((out('acpi.bin', bytes(acpi)), 0xe0000))

print(' '.join('-device loader,file=%s,addr=0x%x,force-raw=on' % (f, addr) for f, addr in loads))
