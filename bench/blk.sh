#!/usr/bin/env bash
# bench/blk.sh [N]: virtio-blk throughput and IOPS, minivmm vs QEMU microvm vs the host itself.
#
# What is measured: five workloads on one disk (a 256 MiB image, every block written before the
# first run so no sparse hole flatters a read):
#   seq read 1M qd1, seq read 1M qd32, seq write 1M qd32   MB/s (10^6 bytes per second)
#   rand read 4K qd1, rand read 4K qd32                    IOPS
# done three ways:
#   host     the same I/O straight on the disk: fio --ioengine=io_uring --direct=1 (time-based,
#            MINIVMM_BENCH_BLK_HOST_S seconds, default 2; fio's own bandwidth/IOPS figures); where
#            fio is missing, a python3 loop of preadv/pwritev on an O_DIRECT fd with one thread per
#            unit of depth (weaker: interpreter overhead, said in the table's title)
#   minivmm  the project's test guest (build/tests/guest/minivmm-test-guest.elf, PVH, 128 MiB, 1 vCPU)
#            as the load generator: `test=blk-bench mode=seq|rand bs=B depth=D total=T [write=1]
#            indirect=1`; it keeps D requests in flight, polls the used ring with interrupts
#            suppressed and does almost no CPU work per request, so the VMM's device path dominates.
#            minivmm --disk path=DISK,cache=none (O_DIRECT, io_uring backend)
#   qemu     the same guest and arguments under qemu-system-x86_64 -M microvm,acpi=off -enable-kvm
#            -cpu host -m 128 -smp 1 -global virtio-mmio.force-legacy=false
#            -drive file=DISK,if=none,format=raw,aio=io_uring,cache=none -device virtio-blk-device
#            (QEMU appends the virtio_mmio.device= word to the command line; exit (0<<1)|1 = 1 through
#            isa-debug-exit). QEMU's defaults otherwise: no iothread, queue size 256.
# fio keeps depth x bs of buffers (32 MiB at 1M qd32), the guest one shared data buffer for all
# its requests: where memory is slow to map (TCG's software TLB, nested) that alone can put a VMM
# above "host" on the qd32 sequential rows.
# indirect=1 on every row: each request is one ring descriptor pointing to a 3-entry table, as a
# Linux guest sends them (and depth 32 fits whatever the queue size).
# How a VMM figure is computed: from the guest's own `bench: requests=N bytes=B` and
# `bench: tsc_ticks=T` (TSC read just before the first request and after the last completion)
# with the TSC rate measured on this machine (a small C program: rdtsc around a 200 ms nanosleep
# against CLOCK_MONOTONIC_RAW, median of 5). KVM guests here run at the host's TSC rate (neither
# VMM asks KVM for TSC scaling). That beats "wall time minus a test=boot run": start-up and
# teardown cost seconds under nested KVM and vary by hundreds of ms, which would swamp the I/O
# time of short runs. The wall-time figure is still taken as a check: N runs of each VMM with
# test=boot and the same disk give a start-up median, and per VMM the median of "wall - start-up -
# TSC time" is printed: the time a run spends outside the I/O loop (guest device set-up, ~250 bytes
# of serial output at one VM exit per byte, the final fdatasync, start-up noise). It stays roughly
# constant across workloads whose I/O time differs tenfold; a TSC rate off by k % would add k % of
# the I/O time instead. (Measured nested: on 20-45 s runs the two clocks agreed within 4 %.)
# How: one untimed warm-up of each VMM, N start-up runs each, then N rounds (default 3; arg 1 or
# MINIVMM_BENCH_N), each running every workload as host, minivmm, qemu in turn (interleaved, so
# drifting load hits all alike). Medians (min..max in the second table). Every guest run must
# exit as expected with failed=0, or the benchmark stops. Requests per run are sized so a nested
# run takes seconds; MINIVMM_BENCH_BLK_SCALE multiplies them (default 1 nested, 16 on hardware KVM).
# The disk: on hardware KVM a file in MINIVMM_BENCH_BLK_DIR (default the build directory, which
# should be on a real disk: O_DIRECT does not work on tmpfs). Where /dev/kvm is not hardware KVM
# (kvm-mode.sh says nested), the whole script re-runs itself inside tests/linux/nested-vm.sh;
# there the host root is 9p with a tmpfs overlay (no O_DIRECT), so the disk is a brd RAM block
# device (/dev/ram0, brd.ko of the outer kernel from the kernel cache of scripts/lib-kernel-pkgs.sh)
# on which O_DIRECT works: the "host" column is then the outer VM reading RAM, and the figures
# are nested KVM on TCG, where every VM exit and wake-up costs far more than on hardware (compare
# ratios, and mind that per-request costs dominate: at qd1 every request waits for a thread
# wake-up in the outer VM, and on a loaded host single runs spread several-fold, so use N >= 5
# before reading much into a qd1 ratio). MINIVMM_BENCH_BLK_DIR set there uses a file
# instead. Where O_DIRECT fails on the chosen disk, everything (both VMMs and the host) falls back
# to cache=writeback / buffered I/O, and the title says so.
# qcow2 (issue 17): a second table of workloads on qcow2 images beside raw, images of MB - 32
# MiB (room for a qcow2 image's metadata on a RAM disk of MB MiB):
#   alloc    a fully allocated qcow2 image (64 KiB clusters, qemu-img convert of random data):
#            seq read/write 1M qd32, rand read/write 4K qd32; the same four on a raw disk of the
#            same data (minivmm only: the "raw" column, for "sequential >= 90 % of raw")
#   overlay  a fresh qcow2 overlay over that image (made again before every run): rand read 4K
#            qd32 (everything comes from the base), seq write 1M qd32 (one pass: every request
#            allocates), rand write 4K qd32 (a first write to a cluster copies the rest of it
#            from the base)
# Where: nested, qcow2 straight on brd RAM disks (the outer VM has no module for a filesystem
# that takes O_DIRECT): /dev/ram1 the allocated image, /dev/ram2 the overlay (its backing file
# /dev/ram1), /dev/ram3 the raw disk; on hardware KVM, files in MINIVMM_BENCH_BLK_DIR (default the
# build directory). minivmm --disk path=IMAGE,cache=C (the format probed) vs QEMU -drive
# format=qcow2,aio=io_uring,cache=C on the same images; the target is >= 1.0 x QEMU on every
# row, and sequential on the allocated image >= 0.90 x minivmm on raw.
# MINIVMM_BENCH_BLK_SECTIONS="raw qcow2" (default) chooses the tables to run.
# Env: MINIVMM_BENCH_N, MINIVMM_BENCH_BLK_DIR, MINIVMM_BENCH_BLK_MB (image size, default 256),
#      MINIVMM_BENCH_BLK_SCALE, MINIVMM_BENCH_BLK_HOST_S, MINIVMM_BENCH_BLK_GUEST_ARGS (extra
#      blk-bench words for both VMMs, e.g. event_idx=1).
# Needs: a built tree (cmake --build build), qemu-system-x86_64 (apt: qemu-system-x86), cc (to
#        build the TSC calibrator), fio (apt: fio) or else python3.
set -euo pipefail

BENCH_PROG=blk
# shellcheck source=bench/lib-bench.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-bench.sh"
KPKG_PROG=blk
# shellcheck source=scripts/lib-kernel-pkgs.sh
. "$BENCH_ROOT/scripts/lib-kernel-pkgs.sh"

n=${1:-${MINIVMM_BENCH_N:-3}}
[[ $n =~ ^[1-9][0-9]*$ ]] || bench_die "N must be a positive number (got '$n')"
# Inside the nested VM HOME is elsewhere: hand the kernel cache (for brd.ko) over explicitly.
export MINIVMM_KERNEL_CACHE=${MINIVMM_KERNEL_CACHE:-$KPKG_CACHE}
bench_setup $((300 + n * 150)) 3072 "${BASH_SOURCE[0]}" "$@"

minivmm=$BENCH_BUILD/minivmm
guest=$BENCH_BUILD/tests/guest/minivmm-test-guest.elf
[[ -x $minivmm ]] || bench_die "$minivmm not built (cmake --build build)"
[[ -f $guest ]] || bench_die "$guest not built (cmake --build build --target test-guest)"
bench_need qemu-system-x86_64 cc timeout
nested=${MINIVMM_BENCH_IN_NESTED:-0}
mb=${MINIVMM_BENCH_BLK_MB:-256}
[[ $mb =~ ^[1-9][0-9]*$ && $mb -ge 8 ]] || bench_die "MINIVMM_BENCH_BLK_MB must be a number >= 8 (got '$mb')"
scale=${MINIVMM_BENCH_BLK_SCALE:-$([[ $nested == 1 ]] && echo 1 || echo 16)}
[[ $scale =~ ^[1-9][0-9]*$ ]] || bench_die "MINIVMM_BENCH_BLK_SCALE must be a positive number (got '$scale')"
host_s=${MINIVMM_BENCH_BLK_HOST_S:-2}
[[ $host_s =~ ^[1-9][0-9]*$ ]] || bench_die "MINIVMM_BENCH_BLK_HOST_S must be a positive number (got '$host_s')"
read -r -a guest_extra <<<"${MINIVMM_BENCH_BLK_GUEST_ARGS:-}"
sections=" ${MINIVMM_BENCH_BLK_SECTIONS:-raw qcow2} "
[[ $sections == *" qcow2 "* ]] && bench_need qemu-img

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-blk.XXXXXX")
image=""
qdir=""
trap 'rm -rf "$tmp"; [[ -z $image ]] || rm -f "$image"; [[ -z $qdir ]] || rm -rf "$qdir"' EXIT

# --- the disk --------------------------------------------------------------------------------
# load_brd: /dev/ram0..3 of MB MiB each (1..3 for the qcow2 table), from the running (outer)
# kernel's brd.ko.
load_brd() {
  local kver ko
  kver=$(uname -r)
  if [[ -b /dev/ram0 ]]; then
    (($(blockdev --getsize64 /dev/ram0) >= mb * 1024 * 1024)) && [[ -b /dev/ram3 ]] && return 0
    # nested-vm.sh loads brd at boot with its default small disks: load it again with ours.
    rmmod brd 2>/dev/null || return 1
  fi
  modprobe brd rd_nr=4 rd_size=$((mb * 1024)) 2>/dev/null && return 0
  for ko in "$MINIVMM_KERNEL_CACHE/linux-image-${kver}_"*/lib/modules/"$kver"/kernel/drivers/block/brd.ko; do
    [[ -f $ko ]] && insmod "$ko" rd_nr=4 rd_size=$((mb * 1024)) && break
  done
  [[ -b /dev/ram0 ]]
}

disk_note=""
if [[ $nested == 1 && -z ${MINIVMM_BENCH_BLK_DIR:-} ]] && load_brd; then
  disk=/dev/ram0
  disk_note="brd RAM disk /dev/ram0 in the outer VM"
else
  dir=${MINIVMM_BENCH_BLK_DIR:-$BENCH_BUILD}
  [[ $nested == 1 && -z ${MINIVMM_BENCH_BLK_DIR:-} ]] &&
    echo "blk: warning: cannot load brd in the nested VM; using a file on its tmpfs overlay" >&2
  [[ -d $dir && -w $dir ]] || bench_die "MINIVMM_BENCH_BLK_DIR $dir: not a writable directory"
  image=$(mktemp "$dir/bench-blk.XXXXXX.img")
  disk=$image
  disk_note="file $image"
fi
[[ $disk != *,* ]] || bench_die "disk path $disk contains a comma (QEMU and minivmm options split on it)"
disk_bytes=$((mb * 1024 * 1024))
if [[ -b $disk ]]; then
  disk_bytes=$(blockdev --getsize64 "$disk")
  ((disk_bytes >= mb * 1024 * 1024)) || bench_die "$disk is smaller than $mb MiB"
  disk_bytes=$((mb * 1024 * 1024)) # fio and the guest stay within the first MB MiB (guest: whole device)
fi
cache=none
if ! dd if=/dev/zero of="$disk" bs=1M count="$mb" oflag=direct conv=fsync,notrunc status=none 2>"$tmp/dd.err"; then
  cache=writeback
  echo "blk: warning: O_DIRECT does not work on $disk ($(head -n 1 "$tmp/dd.err")); cache=writeback for all" >&2
  dd if=/dev/zero of="$disk" bs=1M count="$mb" conv=fsync,notrunc status=none ||
    bench_die "cannot write $mb MiB to $disk"
fi
direct=$([[ $cache == none ]] && echo 1 || echo 0)

# --- TSC rate ----------------------------------------------------------------------------------
cat >"$tmp/tsc.c" <<'C'
/* Prints the TSC rate in Hz, 5 times: rdtsc around a 200 ms sleep against CLOCK_MONOTONIC_RAW. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_RAW, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
int main(void)
{
    for (int i = 0; i < 5; i++) {
        const struct timespec d = {0, 200000000};
        double t0 = now();
        uint64_t c0 = __rdtsc();
        nanosleep(&d, NULL);
        uint64_t c1 = __rdtsc();
        double t1 = now();
        printf("%.0f\n", (double)(c1 - c0) / (t1 - t0));
    }
    return 0;
}
C
cc -O2 -o "$tmp/tsc" "$tmp/tsc.c" || bench_die "cannot build the TSC calibrator with cc"
"$tmp/tsc" >"$tmp/tsc.hz"
read -r tsc_hz _ _ <<<"$(bench_stats "$tmp/tsc.hz")"

# --- workloads ---------------------------------------------------------------------------------
# name | mode | bs | depth | write | requests per run at scale 1 | unit
rows=(
  "seq read 1M qd1|seq|1048576|1|0|256|MB/s"
  "seq read 1M qd32|seq|1048576|32|0|1024|MB/s"
  "seq write 1M qd32|seq|1048576|32|1|1024|MB/s"
  "rand read 4K qd1|rand|4096|1|0|768|IOPS"
  "rand read 4K qd32|rand|4096|32|0|6144|IOPS"
)
guest_args() { # MODE BS DEPTH WRITE REQUESTS
  local a="test=blk-bench mode=$1 bs=$2 depth=$3 total=$(($2 * $5)) indirect=1"
  [[ $4 == 1 ]] && a+=" write=1"
  ((${#guest_extra[@]})) && a+=" ${guest_extra[*]}"
  echo "$a"
}
# The disk the next run uses, and its format (the qcow2 table changes them).
run_disk=$disk
run_format=raw
# shellcheck disable=SC2317 # both are called as cmd_$tool
cmd_minivmm() { # CMDLINE
  cmd=("$minivmm" --kernel "$guest" --cmdline "$1" --mem 128M --cpus 1 --disk "path=$run_disk,cache=$cache"
    --timeout 600s)
}
# shellcheck disable=SC2317
cmd_qemu() { # CMDLINE
  # shellcheck disable=SC2054 # commas are part of QEMU option values
  cmd=(qemu-system-x86_64 -M microvm,acpi=off -enable-kvm -cpu host -m 128 -smp 1 -nodefaults -no-user-config
    -nographic -no-reboot -serial stdio -global virtio-mmio.force-legacy=false -kernel "$guest" -append "$1"
    -device isa-debug-exit,iobase=0xf4,iosize=1
    -drive "file=$run_disk,if=none,id=disk0,format=$run_format,aio=io_uring,cache=$cache"
    -device virtio-blk-device,drive=disk0)
}

# vmm TOOL KEY CMDLINE [UNIT]: one run of minivmm or qemu. With UNIT, appends the figure (MB/s or
# IOPS from the guest's TSC) to $tmp/KEY.TOOL and "wall-us TSC-s" to $tmp/TOOL.wall; without, the
# wall time in us to $tmp/KEY.TOOL (start-up runs); with an empty KEY, records nothing (warm-up).
vmm() {
  local tool=$1 key=$2 cmdline=$3 unit=${4:-} want t0 t1 rc=0 req="" bytes="" ticks="" failed=""
  "cmd_$tool" "$cmdline"
  want=$([[ $tool == qemu ]] && echo 1 || echo 0)
  t0=$(bench_now_us)
  timeout 900 "${cmd[@]}" </dev/null >"$tmp/out" 2>"$tmp/err" || rc=$?
  t1=$(bench_now_us)
  tr -d '\r' <"$tmp/out" >"$tmp/out.txt"
  # (no process substitution: the nested VM's /dev has no /dev/fd)
  read -r req bytes <<<"$(sed -n 's/^bench: requests=\([0-9]*\) bytes=\([0-9]*\)$/\1 \2/p' "$tmp/out.txt")" || true
  read -r ticks failed <<<"$(sed -n 's/^bench: tsc_ticks=\([0-9]*\) failed=\([0-9]*\)$/\1 \2/p' "$tmp/out.txt")" || true
  if [[ $rc != "$want" || ($cmdline == *blk-bench* && (-z ${ticks:-} || $failed != 0 || $ticks == 0)) ]]; then
    echo "blk: error: $tool exited $rc (want $want) or reported no clean bench result: ${cmd[*]}" >&2
    tail -n 6 "$tmp/out.txt" "$tmp/err" >&2
    exit 1
  fi
  [[ -n $key ]] || return 0
  if [[ -z $unit ]]; then
    echo $((t1 - t0)) >>"$tmp/$key.$tool"
    return 0
  fi
  awk -v r="$req" -v b="$bytes" -v t="$ticks" -v hz="$tsc_hz" -v u="$unit" 'BEGIN {
    s = t / hz; printf "%.1f\n", (u == "IOPS") ? r / s : b / s / 1e6 }' >>"$tmp/$key.$tool"
  awk -v t="$ticks" -v hz="$tsc_hz" -v w=$((t1 - t0)) 'BEGIN { printf "%d %.6f\n", w, t / hz }' >>"$tmp/$tool.wall"
}

# host KEY RW BS DEPTH UNIT: the same I/O on the disk from this machine; appends the figure.
have_fio=0
command -v fio >/dev/null && have_fio=1
((have_fio)) || bench_need python3
host() {
  local key=$1 rw=$2 bs=$3 depth=$4 unit=$5
  if ((have_fio)); then
    fio --name=blk --filename="$disk" --direct="$direct" --ioengine=io_uring --rw="$rw" --bs="$bs" \
      --iodepth="$depth" --size="$disk_bytes" --time_based --runtime="$host_s" --norandommap --randrepeat=0 \
      --output-format=terse --terse-version=3 >"$tmp/fio.out" 2>"$tmp/fio.err" ||
      { echo "blk: error: fio failed" >&2; cat "$tmp/fio.err" >&2; exit 1; }
    # terse v3: 7/8 read KiB/s and IOPS, 48/49 the same for writes
    awk -F';' -v u="$unit" -v w="$([[ $rw == *write ]] && echo 1 || echo 0)" '$1 == 3 {
      bw = w ? $48 : $7; iops = w ? $49 : $8
      printf "%.1f\n", (u == "IOPS") ? iops : bw * 1024 / 1e6 }' "$tmp/fio.out" >>"$tmp/$key.host"
  else
    python3 - "$disk" "$rw" "$bs" "$depth" "$host_s" "$direct" "$disk_bytes" "$unit" >>"$tmp/$key.host" <<'PY'
# One thread per unit of depth, each preadv/pwritev of bs bytes on an O_DIRECT fd (page-aligned
# mmap buffers); seq: thread i takes blocks i, i+depth, ...; rand: uniform random blocks.
import mmap, os, random, sys, threading, time
path, rw, bs, depth, secs, direct, size, unit = sys.argv[1:]
bs, depth, secs, size = int(bs), int(depth), float(secs), int(size)
write = rw.endswith("write")
fd = os.open(path, (os.O_RDWR if write else os.O_RDONLY) | (os.O_DIRECT if direct == "1" else 0))
slots = size // bs
count = [0] * depth
start = time.monotonic()
stop = start + secs
def worker(i):
    buf, rnd, n, block = mmap.mmap(-1, bs), random.Random(i + 1), 0, i
    while time.monotonic() < stop:
        if rw.startswith("rand"):
            off = rnd.randrange(slots) * bs
        else:
            off, block = (block % slots) * bs, block + depth
        (os.pwritev if write else os.preadv)(fd, [buf], off)
        n += 1
    count[i] = n
threads = [threading.Thread(target=worker, args=(i,)) for i in range(depth)]
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.monotonic() - start
total = sum(count)
print("%.1f" % (total / elapsed if unit == "IOPS" else total * bs / elapsed / 1e6))
PY
  fi
}

echo "blk: $n rounds of ${#rows[@]} workloads (host, minivmm, qemu), disk: $disk_note, cache=$cache; $BENCH_WHERE" >&2
echo "blk: TSC $(awk -v h="$tsc_hz" 'BEGIN { printf "%.3f MHz", h / 1e6 }'), request scale $scale" >&2
# Warm-up (page cache, lazy binding, KVM), then the start-up baselines for the wall-time check.
vmm minivmm "" "$(guest_args seq 1048576 1 0 8)"
vmm qemu "" "$(guest_args seq 1048576 1 0 8)"
for ((i = 0; i < n; i++)); do
  vmm minivmm boot test=boot
  vmm qemu boot test=boot
done
raw_section() {
  for ((i = 1; i <= n; i++)); do
    for k in "${!rows[@]}"; do
      IFS='|' read -r name mode bs depth write requests unit <<<"${rows[k]}"
      rw=$([[ $mode == rand ]] && echo rand || echo "")$([[ $write == 1 ]] && echo write || echo read)
      echo "blk: round $i/$n: $name" >&2
      host "$k" "$rw" "$bs" "$depth" "$unit"
      args=$(guest_args "$mode" "$bs" "$depth" "$write" $((requests * scale)))
      vmm minivmm "$k" "$args" "$unit"
      vmm qemu "$k" "$args" "$unit"
    done
  done

  # --- report ------------------------------------------------------------------------------------
  host_tool=$([[ $have_fio == 1 ]] && echo "fio io_uring" || echo "python3 threads (no fio)")
  echo "virtio-blk, test guest blk-bench (indirect=1${guest_extra[*]:+ ${guest_extra[*]}}, 1 vCPU, 128M) vs host ($host_tool);" \
    "disk: $disk_note, $mb MiB, cache=$cache; N=$n, medians; $BENCH_WHERE"
  printf "%-18s %5s %10s %10s %10s %9s %9s  %s\n" workload unit host minivmm qemu "mvm/host" "mvm/qemu" target
  : >"$tmp/spread"
  for k in "${!rows[@]}"; do
    IFS='|' read -r name _ _ _ _ _ unit <<<"${rows[k]}"
    read -r h_med h_min h_max <<<"$(bench_stats "$tmp/$k.host")"
    read -r m_med m_min m_max <<<"$(bench_stats "$tmp/$k.minivmm")"
    read -r q_med q_min q_max <<<"$(bench_stats "$tmp/$k.qemu")"
    awk -v l="$name" -v u="$unit" -v h="$h_med" -v m="$m_med" -v q="$q_med" 'BEGIN {
      if (u == "MB/s") t = (m >= 0.9 * h) ? "met (>= 0.90 host)" : "MISSED (>= 0.90 host)"
      else t = (m >= q) ? "met (>= qemu)" : "MISSED (>= qemu)"
      printf "%-18s %5s %10.1f %10.1f %10.1f %9.2f %9.2f  %s\n", l, u, h, m, q, m / h, m / q, t }'
    printf "%-18s %5s %21s %21s %21s\n" "$name" "$unit" "$h_min..$h_max" "$m_min..$m_max" "$q_min..$q_max" >>"$tmp/spread"
  done
  echo "(MB/s = 10^6 bytes/s; VMM figures from the guest's TSC over its I/O loop; ratios of the medians)"
  printf "%-18s %5s %21s %21s %21s\n" "min..max" unit host minivmm qemu
  cat "$tmp/spread"
  for tool in minivmm qemu; do
    read -r boot _ _ <<<"$(bench_stats "$tmp/boot.$tool")"
    awk -v b="$boot" '{ printf "%d\n", ($1 - b) / 1000 - $2 * 1000 }' "$tmp/$tool.wall" >"$tmp/$tool.excess"
    read -r x_med x_min x_max <<<"$(bench_stats "$tmp/$tool.excess")"
    printf "check %-8s start-up (test=boot, same disk) %.0f ms; wall - start-up - TSC time per run: median %s ms (%s..%s)\n" \
      "$tool" "$(awk -v b="$boot" 'BEGIN { print b / 1000 }')" "$x_med" "$x_min" "$x_max"
  done
}

# --- qcow2 ------------------------------------------------------------------------------------
# name | image | mode | bs | depth | write | requests per run at scale 1 (0: one pass) | unit
qrows=(
  "alloc seq read 1M qd32|alloc|seq|1048576|32|0|512|MB/s"
  "alloc seq write 1M qd32|alloc|seq|1048576|32|1|512|MB/s"
  "alloc rand read 4K qd32|alloc|rand|4096|32|0|6144|IOPS"
  "alloc rand write 4K qd32|alloc|rand|4096|32|1|6144|IOPS"
  "overlay rand read 4K qd32|overlay|rand|4096|32|0|6144|IOPS"
  "overlay seq write 1M qd32|overlay|seq|1048576|32|1|0|MB/s"
  "overlay rand write 4K qd32|overlay|rand|4096|32|1|2048|IOPS"
)

# qcow2_files: the images of the qcow2 table (qraw, qalloc, qoverlay), filled.
qcow2_files() {
  qmb=$((mb - 32))
  ((qmb >= 16)) || bench_die "MINIVMM_BENCH_BLK_MB must be at least 48 for the qcow2 table"
  if [[ $disk == /dev/ram0 && -b /dev/ram3 ]]; then
    qraw=/dev/ram3 qalloc=/dev/ram1 qoverlay=/dev/ram2 qbacking=/dev/ram1
    qnote="qcow2 and raw on brd RAM disks in the outer VM"
    # brd allocates a page on its first write: touch all of the overlay's disk once, so that
    # no VMM's run pays for the pages and the next one finds them there.
    dd if=/dev/zero of="$qoverlay" bs=1M count="$mb" conv=fsync status=none || bench_die "cannot write $qoverlay"
  else
    local dir=${MINIVMM_BENCH_BLK_DIR:-$BENCH_BUILD}
    qdir=$(mktemp -d "$dir/bench-blk-qcow2.XXXXXX")
    qraw=$qdir/raw.img qalloc=$qdir/alloc.qcow2 qoverlay=$qdir/overlay.qcow2 qbacking=alloc.qcow2
    qnote="files in $dir"
  fi
  # The data, once: random, so that every cluster of the converted image is allocated.
  local src=$tmp/qcow2-source.raw
  dd if=/dev/urandom of="$src" bs=1M count="$qmb" status=none || bench_die "cannot write $src"
  dd if="$src" of="$qraw" bs=1M conv=fsync,notrunc status=none || bench_die "cannot write $qraw"
  if [[ -b $qalloc ]]; then
    # On a block device: qemu-img create writes the qcow2 metadata, convert -n the data.
    qemu-img create -q -f qcow2 -o cluster_size=65536 "$qalloc" "${qmb}M" || bench_die "qemu-img create failed"
    qemu-img convert -n -f raw -O qcow2 "$src" "$qalloc" || bench_die "qemu-img convert failed"
  else
    qemu-img convert -f raw -O qcow2 -o cluster_size=65536 "$src" "$qalloc" || bench_die "qemu-img convert failed"
  fi
  rm -f "$src"
}

# qcow2_disk IMAGE: points the next run at IMAGE (alloc, raw, or overlay: made afresh).
qcow2_disk() {
  case $1 in
    raw) run_disk=$qraw run_format=raw ;;
    alloc) run_disk=$qalloc run_format=qcow2 ;;
    overlay)
      [[ -b $qoverlay ]] || rm -f "$qoverlay"
      (cd "$(dirname "$qalloc")" && qemu-img create -q -f qcow2 -b "$qbacking" -F qcow2 "$qoverlay" "${qmb}M") ||
        bench_die "qemu-img create of the overlay failed"
      run_disk=$qoverlay run_format=qcow2
      ;;
  esac
}

qcow2_section() {
  qcow2_files
  echo "blk: qcow2 table: $n rounds of ${#qrows[@]} workloads, $qnote, images of $qmb MiB, cache=$cache" >&2
  local i k name image mode bs depth write requests unit args
  for ((i = 1; i <= n; i++)); do
    for k in "${!qrows[@]}"; do
      IFS='|' read -r name image mode bs depth write requests unit <<<"${qrows[k]}"
      ((requests > 0)) && requests=$((requests * scale)) || requests=$((qmb * 1048576 / bs))
      echo "blk: qcow2 round $i/$n: $name" >&2
      args=$(guest_args "$mode" "$bs" "$depth" "$write" "$requests")
      if [[ $image == alloc ]]; then
        qcow2_disk raw
        vmm minivmm "q${k}raw" "$args" "$unit"
      fi
      qcow2_disk "$image"
      vmm minivmm "q$k" "$args" "$unit"
      qcow2_disk "$image"
      vmm qemu "q$k" "$args" "$unit"
    done
  done
  echo "qcow2 vs raw vs QEMU's qcow2 (-drive format=qcow2,aio=io_uring,cache=$cache), test guest blk-bench" \
    "(indirect=1, 1 vCPU, 128M); $qnote, $qmb MiB images, 64 KiB clusters; N=$n, medians; $BENCH_WHERE"
  printf "%-26s %5s %10s %10s %10s %9s %9s  %s\n" workload unit "raw mvm" minivmm qemu "mvm/qemu" "mvm/raw" target
  : >"$tmp/qspread"
  for k in "${!qrows[@]}"; do
    IFS='|' read -r name image _ _ _ _ _ unit <<<"${qrows[k]}"
    local r_med=- r_min=- r_max=-
    [[ -s $tmp/q${k}raw.minivmm ]] && read -r r_med r_min r_max <<<"$(bench_stats "$tmp/q${k}raw.minivmm")"
    read -r m_med m_min m_max <<<"$(bench_stats "$tmp/q$k.minivmm")"
    read -r q_med q_min q_max <<<"$(bench_stats "$tmp/q$k.qemu")"
    awk -v l="$name" -v u="$unit" -v r="$r_med" -v m="$m_med" -v q="$q_med" -v seq="$([[ $name == alloc\ seq* ]] && echo 1)" 'BEGIN {
      t = (m >= q) ? "met (>= qemu)" : "MISSED (>= qemu)"
      if (seq == 1) t = t ((m >= 0.9 * r) ? ", met (>= 0.90 raw)" : ", MISSED (>= 0.90 raw)")
      rr = (r == "-") ? "-" : sprintf("%.2f", m / r)
      printf "%-26s %5s %10s %10.1f %10.1f %9.2f %9s  %s\n", l, u, r, m, q, m / q, rr, t }'
    printf "%-26s %5s %21s %21s %21s\n" "$name" "$unit" "$r_min..$r_max" "$m_min..$m_max" "$q_min..$q_max" >>"$tmp/qspread"
  done
  printf "%-26s %5s %21s %21s %21s\n" "min..max" unit "raw mvm" minivmm qemu
  cat "$tmp/qspread"
}

[[ $sections == *" raw "* ]] && raw_section
[[ $sections == *" qcow2 "* ]] && qcow2_section
exit 0
