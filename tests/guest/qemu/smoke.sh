#!/bin/bash
# Boots the test guest under QEMU TCG (no /dev/kvm needed) through all three entry paths:
#   PVH (the .elf), the 32-bit boot protocol (the .bzImage via QEMU's real-mode loader) and
#   the 64-bit boot protocol minivmm uses (the .bzImage via fake-firmware.S + fake_loader.py).
# usage: tests/guest/qemu/smoke.sh BUILD_DIR    (BUILD_DIR holds minivmm-test-guest.{elf,bzImage})
# QEMU's isa-debug-exit exits with (byte << 1) | 1; a reset or triple fault with -no-reboot exits 0.
set -u
dir=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: $0 BUILD_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 out=

gcc -c "$dir/fake-firmware.S" -o "$tmp/fw.o" &&
  ld -Ttext=0xf0000 -e _start --oformat binary -o "$tmp/fw.bin" "$tmp/fw.o" || exit 1
head -c 5000 /dev/urandom >"$tmp/initrd"
crc() { python3 -c 'import sys, zlib; print("%08x" % zlib.crc32(sys.stdin.buffer.read()))'; }
initrd_crc=$(crc <"$tmp/initrd")
cmdline='test=checksum k="v w"'
cmdline_crc=$(printf '%s' "$cmdline" | crc)

report() { # NAME OK DETAIL
  if [ "$2" = 1 ]; then
    pass=$((pass + 1)); echo "PASS $1"
  else
    fail=$((fail + 1)); echo "FAIL $1: $3"; tail -8 <<<"$out"
  fi
}

# t NAME WANT PATTERN COMMAND...: WANT is the guest's exit byte, or "reset".
t() {
  local name=$1 want=$2 pattern=$3 rc got ok=0
  shift 3
  out=$("$@")
  rc=$?
  if [ $rc -eq 0 ]; then got=reset; elif [ $((rc & 1)) -eq 1 ]; then got=$((rc >> 1)); else got="qemu-rc-$rc"; fi
  [ "$got" = "$want" ] && grep -q -- "$pattern" <<<"$out" && ok=1
  report "$name" $ok "exit $got (want $want), looking for '$pattern'"
}
# also PATTERN: one more line expected in the output of the previous t.
also() { local ok=0; grep -q -- "$2" <<<"$out" && ok=1; report "$1" $ok "looking for '$2'"; }

qemu() { # MACHINE CPUS MEM ARGS...
  local machine=$1 cpus=$2 mem=$3
  shift 3
  timeout 60 qemu-system-x86_64 -M "$machine" -accel tcg -cpu "${CPU:-max}" -m "$mem" \
    -smp "$cpus" -nographic -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=1 "$@" 2>&1 |
    tr -d '\r'
  return "${PIPESTATUS[0]}"
}

# The 64-bit entry on microvm, which has minivmm's memory layout (RAM to 3 GiB, then 4 GiB up).
run64() { # CPUS MEM_MIB CMDLINE [fake_loader.py options]
  local cpus=$1 mem=$2 line=$3 loads
  shift 3
  loads=$(python3 "$dir/fake_loader.py" "$build/minivmm-test-guest.bzImage" "$tmp" "$mem" \
    "$cpus" "$line" "$@") || return 255
  # shellcheck disable=SC2086 # one word per loader argument; RUN64_QEMU: more QEMU arguments
  qemu microvm,acpi=off "$cpus" "${mem}M" -bios "$tmp/fw.bin" $loads ${RUN64_QEMU:-}
}

for fmt in elf bzImage; do
  k=$build/minivmm-test-guest.$fmt
  for m in q35 microvm; do
    n="$m/$fmt"
    t "$n hello" 0 "Hello from the minivmm test guest" qemu $m 1 512M -kernel "$k" -append test=hello
    t "$n boot" 0 "test=boot" qemu $m 1 512M -kernel "$k" -append test=boot
    t "$n exit" 42 "exit: code=42" qemu $m 1 512M -kernel "$k" -append 'test=exit code=42'
    t "$n unknown" 99 "unknown test" qemu $m 1 512M -kernel "$k" -append test=nonesuch
    t "$n checksum" 0 "initrd crc32=$initrd_crc len=5000" \
      qemu $m 1 512M -kernel "$k" -append "$cmdline" -initrd "$tmp/initrd"
    also "$n checksum cmdline" "cmdline crc32=$cmdline_crc len=${#cmdline}"
    t "$n smp" 0 "smp: 4 of 4 cpus reported" qemu $m 4 512M -kernel "$k" -append test=smp
    t "$n triple-fault" reset "executing ud2" qemu $m 1 512M -kernel "$k" -append test=triple-fault
    t "$n demo" 0 "demo: done" qemu $m 2 512M -kernel "$k" -append test=demo
    also "$n demo cpus" "2 reported in, apic ids: 0 (boot cpu) 1"
    also "$n demo rtc" "rtc:    20[0-9][0-9]-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9] UTC$"
    also "$n demo virtio" "virtio: none"
  done
  # ACPI: q35's FADT is not hardware-reduced (exit 10 after all checks); microvm's is, with
  # SystemMemory sleep/reset registers (QEMU's GED), so poweroff and reset end QEMU (exit 0).
  t "q35/$fmt acpi" 10 "not hardware-reduced" qemu q35 2 512M -kernel "$k" -append 'test=acpi cpus=2'
  also "q35/$fmt acpi rsdp" "acpi: rsdp at 0xf[0-9a-f]* (scan)"
  also "q35/$fmt acpi dsdt" "acpi: DSDT len=[0-9]* ok"
  also "q35/$fmt acpi madt" "acpi: madt cpus=2"
  also "q35/$fmt acpi s5" "acpi: s5 slp_typ=0"
  t "q35/$fmt acpi-reset" reset "acpi: reset_reg io 0xcf9 <- 0x0f" \
    qemu q35 1 512M -kernel "$k" -append test=acpi-reset
  t "microvm/$fmt acpi" reset "acpi: poweroff requested" \
    qemu microvm 2 512M -kernel "$k" -append 'test=acpi cpus=2'
  also "microvm/$fmt acpi s5" "acpi: s5 slp_typ=5"
  also "microvm/$fmt acpi xsdt" "acpi: XSDT len=[0-9]* ok"
  t "microvm/$fmt acpi cpus mismatch" 8 "acpi: madt cpus=2" \
    qemu microvm 2 512M -kernel "$k" -append 'test=acpi cpus=3'
  t "microvm/$fmt acpi-reset" reset "acpi: reset requested" \
    qemu microvm 1 512M -kernel "$k" -append test=acpi-reset
  t "microvm,acpi=off/$fmt acpi no rsdp" 6 "no RSDP" \
    qemu microvm,acpi=off 1 512M -kernel "$k" -append test=acpi
  # QEMU appends virtio_mmio.device=512@0xfeb00e00:12 ... for attached devices (acpi=off).
  t "microvm,acpi=off/$fmt demo virtio" 0 "virtio: 0xfeb00e00 irq 12: entropy (device id 4)" \
    qemu microvm,acpi=off 2 512M -kernel "$k" -append test=demo -device virtio-rng-device \
    -netdev user,id=n0 -device virtio-net-device,netdev=n0
  also "microvm,acpi=off/$fmt demo virtio net" "virtio: 0xfeb00c00 irq 11: net (device id 1)"
  also "microvm,acpi=off/$fmt demo virtio magic" 'magic 0x74726976 ("virt"), version 1'
  # Not on microvm: qboot's int 0x15 does not answer E820 for the bzImage's real-mode setup.
  t "q35/$fmt mem 5G" 0 "words ok, highest address 0x1" \
    qemu q35 1 5G -kernel "$k" -append test=mem -initrd "$tmp/initrd"
  CPU=qemu64 t "q35/$fmt mem 5G no pdpe1gb" 0 "words ok, highest address 0x1" \
    qemu q35 1 5G -kernel "$k" -append test=mem
  t "q35/$fmt reset" reset "reset: writing" qemu q35 1 512M -kernel "$k" -append test=reset
  t "microvm/$fmt reset without i8042" 3 "still running" \
    qemu microvm 1 512M -kernel "$k" -append test=reset
  t "q35/$fmt smp mptable" 0 "source=mptable cpus=4" \
    qemu q35 4,sockets=4 512M -kernel "$k" -append 'test=smp source=mptable'
  t "microvm,acpi=off/$fmt smp" 0 "source=mptable cpus=8" \
    qemu microvm,acpi=off 8 512M -kernel "$k" -append test=smp
done

t "linux64 hello" 0 "protocol=linux64" run64 1 512 test=hello
t "linux64 exit" 7 "exit: code=7" run64 1 512 'test=exit code=7'
t "linux64 checksum" 0 "initrd crc32=$initrd_crc len=5000" run64 1 512 "$cmdline" --initrd "$tmp/initrd"
also "linux64 checksum cmdline" "cmdline crc32=$cmdline_crc len=${#cmdline}"
t "linux64 mem" 0 "7 words ok, highest address 0x17ffffff8" \
  run64 2 5120 'test=mem addr=0x123456788' --initrd "$tmp/initrd"
CPU=qemu64 t "linux64 mem no pdpe1gb" 0 "highest address 0x17ffffff8" run64 2 5120 test=mem
t "linux64 smp madt (acpi_rsdp_addr)" 0 "smp: 4 of 4 cpus reported" run64 4 512 test=smp --acpi bootparams
t "linux64 smp madt (scan)" 0 "(bios scan)" run64 4 512 test=smp
t "linux64 smp mptable" 0 "smp: source=mptable cpus=3" run64 3 512 test=smp --acpi none
t "linux64 smp forced mptable" 0 "smp: 4 of 4 cpus reported" run64 4 512 'test=smp source=mptable'
t "linux64 triple-fault" reset "executing ud2" run64 1 512 test=triple-fault
# fake_loader.py's FADT points SLEEP_CONTROL_REG and RESET_REG at port 0xf4 (isa-debug-exit):
# poweroff exits with (SLP_TYP 5 << 2) | SLP_EN 0x20 = 52, reset with RESET_VALUE 0x42 = 66.
t "linux64 acpi poweroff" 52 "acpi: rsdp at 0xe0000 (scan)" run64 2 512 'test=acpi cpus=2' \
  --acpi bootparams
also "linux64 acpi dsdt via x_dsdt" "acpi: DSDT len=50 ok"
also "linux64 acpi s5" "acpi: s5 slp_typ=5"
also "linux64 acpi sleep reg" "acpi: sleep_control_reg io 0xf4 <- 0x34"
t "linux64 acpi-reset" 66 "acpi: reset_reg io 0xf4 <- 0x42" run64 1 512 test=acpi-reset
t "linux64 acpi bad dsdt checksum" 9 "DSDT at 0xe01c0 len=50: bad checksum" \
  run64 1 512 test=acpi --acpi bad-dsdt
t "linux64 acpi no rsdp" 6 "no RSDP" run64 1 512 test=acpi --acpi none
t "linux64 demo" 0 "demo: done" run64 2 512 \
  'test=demo virtio_mmio.device=4K@0xfeb00000:5 virtio_mmio.device=0x200@0xfeb00200:6:3 virtio_mmio.device=bad'
also "linux64 demo protocol" "boot         Linux boot protocol, 64-bit entry"
also "linux64 demo acpi" "FACP    276 bytes  OEM MINIVM, hardware-reduced"
also "linux64 demo virtio" "virtio: 0xfeb00200 irq 6: no device (device id 0)"
also "linux64 demo virtio bad" 'virtio: "bad" is not <size>@<addr>:<irq>'

# virtio-mmio on microvm,acpi=off: QEMU appends one virtio_mmio.device= word per device, in
# -device order.  QEMU 7.2 defaults to the legacy (version 1) transport; the guest drives only
# version 2, hence virtio-mmio.force-legacy=false.
vm() { # ARGS...: the .elf on microvm, COM1 on stdout, stdin from VM_INPUT
  timeout 60 qemu-system-x86_64 -M microvm,acpi=off -accel tcg -cpu max -m "${VM_MEM:-512M}" \
    -nodefaults -no-user-config -display none -no-reboot -serial stdio \
    -device isa-debug-exit,iobase=0xf4,iosize=1 -global virtio-mmio.force-legacy=false \
    -kernel "$build/minivmm-test-guest.elf" "$@" <"${VM_INPUT:-/dev/null}" 2>&1 |
    tr -d '\r'
  return "${PIPESTATUS[0]}"
}
disk() { # FILE [DRIVE OPTIONS] [DEVICE OPTIONS]: a raw virtio-blk disk, id from the file name
  local id=${1##*/}; id=${id%.img}
  echo "-drive id=$id,file=$1,format=raw,if=none${2:+,$2} -device virtio-blk-device,drive=$id${3:+,$3}"
}
# CRC-32 of the guest's xorshift32 pattern: SEED SECTORS
pattern_crc() {
  python3 - "$@" <<'PY'
import struct, sys, zlib
x, n = int(sys.argv[1]), int(sys.argv[2]) * 128
out = bytearray()
for _ in range(n):
    x ^= (x << 13) & 0xffffffff; x ^= x >> 17; x ^= (x << 5) & 0xffffffff
    out += struct.pack('<I', x)
print('%08x' % zlib.crc32(out))
PY
}
sectors_crc() { # FILE START COUNT
  python3 -c 'import sys, zlib; f = open(sys.argv[1], "rb"); f.seek(int(sys.argv[2]) * 512)
print("%08x" % zlib.crc32(f.read(int(sys.argv[3]) * 512)))' "$@"
}
check() { # NAME COMMAND...: a host-side check
  local name=$1; shift
  if "$@"; then report "$name" 1 ""; else out="(host check)"; report "$name" 0 "$*"; fi
}
same() { [ "$1" = "$2" ]; }

head -c 1M /dev/urandom >"$tmp/d0.img"
head -c 2M /dev/urandom >"$tmp/d1.img"
cp "$tmp/d0.img" "$tmp/ro.img"
d0=$(disk "$tmp/d0.img" discard=unmap serial=smoke-disk-0)
d1=$(disk "$tmp/d1.img")
ro=$(disk "$tmp/ro.img" readonly=on)
# shellcheck disable=SC2086 # $d0, $d1, $ro are lists of QEMU arguments
{
t "virtio blk-info" 0 "blk: disk=0 capacity=2048 features=0x[0-9a-f]\{16\} blk_size=512 seg_max=[0-9]* ro=0 serial='smoke-disk-0'" \
  vm $d0 $d1 -append test=blk-info
t "virtio blk-info disk=1 indirect event_idx" 0 "blk: disk=1 capacity=4096 .* ro=0 serial=''" \
  vm $d0 $d1 -append 'test=blk-info disk=1 indirect=1 event_idx=1'
also "virtio blk-info negotiated" "blk: driver_features=0x00000001300"
t "virtio blk-multi" 0 "blk: disk=1 capacity=4096 crc32=$(sectors_crc "$tmp/d1.img" 0 8)" \
  vm $d0 $d1 -append test=blk-multi
also "virtio blk-multi disk0" "blk: disk=0 capacity=2048 crc32=$(sectors_crc "$tmp/d0.img" 0 8)"
also "virtio blk-multi count" "blk: disks=2"
crc=$(pattern_crc 12345 300)
t "virtio blk-write" 0 "blk: wrote 300 sectors crc32=$crc" \
  vm $d0 $d1 -append 'test=blk-write seed=12345 sectors=300 start=7'
also "virtio blk-write flush" "blk: flush status=0"
check "virtio blk-write on disk" same "$(sectors_crc "$tmp/d0.img" 7 300)" "$crc"
t "virtio blk-read" 0 "blk: read 300 sectors crc32=$crc" vm $d0 -append 'test=blk-read sectors=300 start=7'
t "virtio blk-read whole disk=1 indirect event_idx" 0 \
  "blk: read 4096 sectors crc32=$(sectors_crc "$tmp/d1.img" 0 4096)" \
  vm $d0 $d1 -append 'test=blk-read disk=1 sectors=4096 indirect=1 event_idx=1'
crc=$(pattern_crc 99 129)
t "virtio blk-indirect" 0 "blk: wrote 129 sectors crc32=$crc" \
  vm $d0 $d1 -append 'test=blk-indirect disk=1 seed=99 sectors=129 start=1000'
check "virtio blk-indirect on disk" same "$(sectors_crc "$tmp/d1.img" 1000 129)" "$crc"
t "virtio blk-read beyond capacity" 98 "beyond the capacity of 2048 sectors" \
  vm $d0 -append 'test=blk-read sectors=2 start=2047'
t "virtio blk-write seed=0" 98 "need seed=S" vm $d0 -append 'test=blk-write seed=0 sectors=1'
t "virtio blk-ro" 0 "blk: write status=1" vm $ro -append test=blk-ro
t "virtio blk-ro on a writable disk" 31 "blk: write status=0" vm $d0 -append test=blk-ro
t "virtio blk-ops" 0 "blk: op=read-past-end status=1 ok" vm $d0 -append test=blk-ops
also "virtio blk-ops unknown" "blk: op=unknown status=2 ok"
also "virtio blk-ops discard" "blk: op=discard status=0 ok"
also "virtio blk-ops write-zeroes" "blk: op=write-zeroes status=0 ok"
# Without discard=unmap QEMU ignores DISCARD: the range keeps its data.
t "virtio blk-ops discard ignored" 32 "blk: op=discard status=0 FAIL" vm $d1 -append test=blk-ops
t "virtio blk-bench seq" 0 "bench: requests=256 bytes=1048576" \
  vm $d0 -append 'test=blk-bench mode=seq bs=4096 depth=16 total=1M'
t "virtio blk-bench rand write indirect event_idx" 0 "bench: requests=128 bytes=8388608" \
  vm $d1 -append 'test=blk-bench mode=rand bs=64K depth=200 total=8M write=1 indirect=1 event_idx=1'
t "virtio blk-bench depth too deep" 98 "depth <= 85" \
  vm $d0 -append 'test=blk-bench mode=seq bs=4K depth=86 total=1M'
# hostile: QEMU sets NEEDS_RESET for eight cases (nested-indirect because it reads the
# inner table as a header without status descriptor: "virtio-blk missing headers"); it does
# not check that INDIRECT_DESC was negotiated and completes that request (exit 40).
t "virtio hostile all" 40 "hostile: 8 of 9 cases passed" vm $d0 -append 'test=hostile case=all'
for c in loop next-range head-range avail-jump outside-ram read-after-write nested-indirect \
  bad-indirect-len; do
  also "virtio hostile $c" "hostile: case=$c needs_reset=1"
  also "virtio hostile $c config interrupt" "hostile: case=$c interrupt_status=0x3"
  also "virtio hostile $c recovered" "hostile: case=$c recovered"
done
also "virtio hostile indirect-unnegotiated (QEMU completes it)" \
  "hostile: case=indirect-unnegotiated the device completed the request (request status=0"
also "virtio hostile indirect-unnegotiated recovered" "hostile: case=indirect-unnegotiated recovered"
t "virtio hostile avail-jump event_idx" 0 "hostile: 1 of 1 cases passed" \
  vm $d0 -append 'test=hostile case=avail-jump event_idx=1'
t "virtio hostile bad case" 98 "need case=NAME" vm $d0 -append 'test=hostile case=nope'
# The bzImage through minivmm's 64-bit entry (QEMU appends no words without -kernel). Not
# through QEMU's own bzImage loader on microvm: qboot answers no E820 call, so no usable RAM.
RUN64_QEMU="-global virtio-mmio.force-legacy=false $d1" t "linux64 virtio blk-read" 0 \
  "blk: read 8 sectors crc32=$(sectors_crc "$tmp/d1.img" 0 8)" \
  run64 1 512 'test=blk-read sectors=8 virtio_mmio.device=512@0xfeb00e00:12'
VM_MEM=24M t "virtio dma region beyond RAM" 24 "DMA region 0x1000000-0x1ffffff is not in one usable" \
  vm $d0 -append test=blk-info
t "virtio no device" 20 "no device 0 with device id 2 among 0" vm -append test=blk-info
t "virtio disk=1 missing" 20 "no device 1 with device id 2 among 1" vm $d0 -append 'test=blk-info disk=1'
t "virtio legacy rejected" 21 "rejecting 0xfeb00e00: version 1, only version 2" \
  vm -global virtio-mmio.force-legacy=true $d0 -append test=blk-info
}

# vcon-echo: the virtconsole on stdin/stdout, COM1 to a file (printed after the console).
vcon() { # INPUT (printf format)
  # shellcheck disable=SC2059 # INPUT is a format on purpose (\r\n)
  printf "$1" | timeout 60 qemu-system-x86_64 -M microvm,acpi=off -accel tcg -cpu max -m 512M \
    -nodefaults -no-user-config -display none -no-reboot -serial "file:$tmp/com1" \
    -device isa-debug-exit,iobase=0xf4,iosize=1 -global virtio-mmio.force-legacy=false \
    -device virtio-serial-device -chardev stdio,id=vc -device virtconsole,chardev=vc \
    -kernel "$build/minivmm-test-guest.elf" -append "test=vcon-echo${2:+ $2}" 2>&1 | tr -d '\r'
  local rc=${PIPESTATUS[1]}
  tr -d '\r' <"$tmp/com1"
  return "$rc"
}
t "virtio vcon-echo" 0 "^virtio-console: got 'ping pong'$" vcon 'ping pong\r\n'
also "virtio vcon-echo hello" "^virtio-console: hello from the guest$"
also "virtio vcon-echo com1" "^vcon: got 'ping pong'$"
t "virtio vcon-echo long line event_idx" 0 "virtio-console: got 'x\{150\}'" \
  vcon "$(printf 'x%.0s' $(seq 150))\n" event_idx=1
t "virtio vcon-echo line too long" 45 "no newline within 200 bytes" vcon "$(printf 'y%.0s' $(seq 250))\n"

# shell: typed over COM1 (stdin), with a backspace and CR LF endings.
printf 'echo hello world\necx\bho two\r\ncrc abc\r\n\nfrobnicate now\nexit 300\nexit 7\n' >"$tmp/shell.in"
VM_INPUT=$tmp/shell.in t "shell" 7 "^hello world$" vm -append test=shell
also "shell backspace" "^two$"
also "shell crc" "^crc32=352441c2$"
also "shell unknown" "^unknown command: frobnicate now$"
also "shell bad exit" "^exit: need N in 0..255$"
also "shell prompt" "^guest> exit 7$"

echo "smoke: $pass passed, $fail failed"
[ $fail -eq 0 ]
