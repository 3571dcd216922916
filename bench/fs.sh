#!/usr/bin/env bash
# bench/fs.sh [N]: shared-directory speed, minivmm's built-in virtio-fs vs QEMU microvm with
# vhost-user-fs-device + /usr/lib/qemu/virtiofsd, and vs QEMU's virtio-9p.
#
# What is measured: one guest workload on a host directory shared into the default Debian guest
# (1 vCPU, 512 MiB), each phase timed inside the guest (/proc/uptime, 10 ms resolution) with the
# guest's caches dropped before it:
#   unpack   tar -xf of a tree of FILES small files (50-1000 bytes, 100 a directory), from guest RAM
#   stat     ls -lR of that tree (a LOOKUP/GETATTR, or READDIRPLUS, per file)
#   read     dd of a BIG_MIB MiB file to /dev/null, 1 MiB at a time
#   fsync    SYNC_FILES files of 4 KiB, each written and fsync'ed (dd conv=fsync)
#   remove   rm -rf of the tree
# by five set-ups, run one after another in each round (interleaved, so drifting host load hits
# all alike), after one untimed warm-up round:
#   minivmm          --share path=DIR,tag=share (cache=auto), the cloud kernel
#   qemu virtiofsd   qemu-system-x86_64 -M microvm with a shared memfd backend,
#                    -global virtio-mmio.force-legacy=false, vhost-user-fs-device, and
#                    /usr/lib/qemu/virtiofsd -o cache=auto (its default), the cloud kernel
#   minivmm/generic  minivmm again, with the generic kernel (the 9p row's twin)
#   qemu 9p          the same microvm with virtio-9p-device (security_model=passthrough), mounted
#                    9p2000.L, msize=512000, cache=mmap, the generic kernel (the cloud kernel has no 9p)
# Ratios are the other tool's median time over minivmm's on the same kernel: above 1 minivmm is
# faster. Sizes: FILES (default 10000), BIG_MIB (1024), SYNC_FILES (1000), from MINIVMM_BENCH_FILES,
# MINIVMM_BENCH_BIG_MIB, MINIVMM_BENCH_SYNC_FILES; N rounds (default 3; arg 1 or MINIVMM_BENCH_N).
# MINIVMM_BENCH_WARMUP=0 skips the warm-up round (a brief run: the first round then pays for cold caches).
# Where /dev/kvm is not hardware KVM, the whole script re-runs inside tests/linux/nested-vm.sh (nested
# KVM on TCG: only the ratios mean much there).
# Needs: the guest (cmake --build build --target linux-guest), root (virtiofsd and 9p passthrough),
#        qemu-system-x86 and qemu-system-common (virtiofsd) from apt.
set -euo pipefail

BENCH_PROG=fs
# shellcheck source=bench/lib-bench.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-bench.sh"

n=${1:-${MINIVMM_BENCH_N:-3}}
[[ $n =~ ^[1-9][0-9]*$ ]] || bench_die "N must be a positive number (got '$n')"
files=${MINIVMM_BENCH_FILES:-10000}
big_mib=${MINIVMM_BENCH_BIG_MIB:-1024}
sync_files=${MINIVMM_BENCH_SYNC_FILES:-1000}
bench_setup $((600 + n * 5 * 600)) 4096 "${BASH_SOURCE[0]}" "$@"

[[ $EUID == 0 ]] || bench_die "run as root: virtiofsd and 9p's passthrough security model need it"
minivmm=$BENCH_BUILD/minivmm
gdir=$BENCH_BUILD/guest/linux
virtiofsd=/usr/lib/qemu/virtiofsd
[[ -x $minivmm ]] || bench_die "$minivmm not built (cmake --build build)"
[[ -f $gdir/vmlinuz-cloud && -f $gdir/initramfs-generic.cpio.gz ]] ||
  bench_die "the Linux guest is not built in $gdir (cmake --build build --target linux-guest)"
BENCH_NEED_HINT="apt-get install qemu-system-x86 qemu-system-common"
bench_need qemu-system-x86_64 "$virtiofsd" tar

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-fs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
share=$tmp/share
mkdir -p "$share/input" "$tmp/src/tree"

# The inputs, once: the tarball, the big file, the guest's script.
echo "fs: making the inputs ($files files, $big_mib MiB, $sync_files synced files)" >&2
awk -v n="$files" -v root="$tmp/src/tree" 'BEGIN {
  srand(42)
  for (i = 0; i < n; i++) {
    d = root "/d" int(i / 100)
    if (i % 100 == 0) system("mkdir -p " d)
    f = d "/f" i
    len = 50 + int(rand() * 950)
    s = ""
    while (length(s) < len) s = s sprintf("%08x", int(rand() * 4294967295))
    printf "%s", substr(s, 1, len) > f
    close(f)
  }
}'
tar -cf "$share/input/tree.tar" -C "$tmp/src" tree
rm -rf "$tmp/src"
dd if=/dev/zero of="$share/input/big.bin" bs=1M count="$big_mib" status=none
cat >"$share/input/bench.sh" <<EOF
S=\$1
t() { cut -d' ' -f1 /proc/uptime; }
phase() { echo "BENCH \$1 \$(awk -v a=\$2 -v b=\$3 'BEGIN { printf "%.2f", b - a }')"; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
cp \$S/input/tree.tar /tmp/tree.tar
drop; a=\$(t); tar -xf /tmp/tree.tar -C \$S; b=\$(t); phase unpack \$a \$b
drop; a=\$(t); ls -lR \$S/tree >/dev/null; b=\$(t); phase stat \$a \$b
drop; a=\$(t); dd if=\$S/input/big.bin of=/dev/null bs=1M 2>/dev/null; b=\$(t); phase read \$a \$b
mkdir \$S/w; dd if=/dev/urandom of=/tmp/small bs=4k count=1 2>/dev/null
drop; a=\$(t); i=0
while [ \$i -lt $sync_files ]; do dd if=/tmp/small of=\$S/w/f\$i bs=4k conv=fsync 2>/dev/null; i=\$((i + 1)); done
b=\$(t); phase fsync \$a \$b
drop; a=\$(t); rm -rf \$S/tree; b=\$(t); phase remove \$a \$b
echo "BENCH files \$(find \$S/w -type f | wc -l)"
echo BENCH-DONE
EOF

base="console=ttyS0 reboot=k panic=-1 quiet noxsave minivmm.action=poweroff"
qemu_base() { # KERNEL INITRD CMDLINE
  cmd=(qemu-system-x86_64 -M microvm,memory-backend=mem -object memory-backend-memfd,id=mem,size=512M,share=on
    -m 512M -enable-kvm -cpu host -smp 1 -nodefaults -no-user-config -nographic -no-reboot -serial stdio
    -global virtio-mmio.force-legacy=false -kernel "$1" -initrd "$2" -append "$3")
}
variants=(minivmm qemu-virtiofsd minivmm-generic qemu-9p)
label() {
  case $1 in
    minivmm) echo "minivmm" ;;
    qemu-virtiofsd) echo "qemu virtiofsd" ;;
    minivmm-generic) echo "minivmm/generic" ;;
    qemu-9p) echo "qemu 9p" ;;
  esac
}

# one VARIANT [record]: one run of the workload; with "record", its phase times go to $tmp/VARIANT.PHASE.
one() {
  local v=$1 record=${2:-} rc=0 vfsd=
  rm -rf "$share/tree" "$share/w"
  local run_virtiofs="minivmm.share=share:/mnt minivmm.run=\"sh /mnt/input/bench.sh /mnt\""
  case $v in
    minivmm | minivmm-generic)
      local flavour=cloud
      [[ $v == minivmm-generic ]] && flavour=generic
      cmd=("$minivmm" --kernel "$gdir/vmlinuz-$flavour" --initrd "$gdir/initramfs-$flavour.cpio.gz" --mem 512M
        --cpus 1 --share "path=$share,tag=share" --console stdout --timeout 3000s --cmdline "$base $run_virtiofs")
      ;;
    qemu-virtiofsd)
      "$virtiofsd" --socket-path="$tmp/vfsd.sock" -o source="$share" -o cache=auto -o sandbox=chroot \
        >"$tmp/vfsd.log" 2>&1 &
      vfsd=$!
      for _ in $(seq 100); do [[ -S $tmp/vfsd.sock ]] && break; sleep 0.05; done
      qemu_base "$gdir/vmlinuz-cloud" "$gdir/initramfs-cloud.cpio.gz" "$base $run_virtiofs"
      cmd+=(-chardev "socket,id=vfs,path=$tmp/vfsd.sock" -device vhost-user-fs-device,chardev=vfs,tag=share)
      ;;
    qemu-9p)
      qemu_base "$gdir/vmlinuz-generic" "$gdir/initramfs-generic.cpio.gz" "$base minivmm.run=\"mkdir -p /mnt && \
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=mmap share /mnt && sh /mnt/input/bench.sh /mnt\""
      cmd+=(-fsdev "local,id=fs0,path=$share,security_model=passthrough" -device virtio-9p-device,fsdev=fs0,mount_tag=share)
      ;;
  esac
  local t0=${EPOCHREALTIME/[.,]/}
  timeout 3600 "${cmd[@]}" </dev/null >"$tmp/out" 2>"$tmp/err" || rc=$?
  echo "fs: $(label "$v")${record:+ ($record)}: $(((${EPOCHREALTIME/[.,]/} - t0) / 1000000)) s" >&2
  if [[ -n $vfsd ]]; then
    kill "$vfsd" 2>/dev/null || true
    wait "$vfsd" 2>/dev/null || true
    rm -f "$tmp/vfsd.sock"
  fi
  if ! grep -q BENCH-DONE "$tmp/out" || ! grep -q "BENCH files $sync_files" "$tmp/out"; then
    echo "fs: error: $(label "$v"): the workload did not finish (exit $rc)" >&2
    echo "  command: ${cmd[*]}" >&2
    tail -n 15 "$tmp/out" "$tmp/err" >&2
    [[ -n $vfsd ]] && tail -n 5 "$tmp/vfsd.log" >&2
    exit 1
  fi
  [[ $record == record ]] || return 0
  local phase
  for phase in unpack stat read fsync remove; do
    sed -n "s/^BENCH $phase \\([0-9.]*\\).*/\\1/p" "$tmp/out" | head -n 1 | awk '{ printf "%d\n", $1 * 1000 }' \
      >>"$tmp/$v.$phase"
  done
}

echo "fs: $n rounds of ${variants[*]}, interleaved; $BENCH_WHERE" >&2
if [[ ${MINIVMM_BENCH_WARMUP:-1} != 0 ]]; then
  for v in "${variants[@]}"; do one "$v"; done # warm-up, not recorded
fi
for ((i = 1; i <= n; i++)); do
  for v in "${variants[@]}"; do one "$v" record; done
  echo "fs: round $i/$n done" >&2
done

echo "Shared directory, default Debian guest (1 vCPU, 512M), $files files, $big_mib MiB read, $sync_files" \
  "fsync'ed files, N=$n; $BENCH_WHERE"
echo "median ms (min-max); ratio = the other tool's median / minivmm's on the same kernel (> 1: minivmm faster)"
printf "%-8s %22s %22s %7s   %22s %22s %7s\n" phase "minivmm" "qemu virtiofsd" ratio "minivmm/generic" "qemu 9p" ratio
for phase in unpack stat read fsync remove; do
  row=()
  for v in "${variants[@]}"; do
    read -r med mn mx <<<"$(bench_stats "$tmp/$v.$phase")"
    row+=("$med" "$mn" "$mx")
  done
  awk -v p="$phase" -v a="${row[0]}" -v an="${row[1]}" -v ax="${row[2]}" -v b="${row[3]}" -v bn="${row[4]}" \
    -v bx="${row[5]}" -v c="${row[6]}" -v cn="${row[7]}" -v cx="${row[8]}" -v d="${row[9]}" -v dn="${row[10]}" \
    -v dx="${row[11]}" 'function cell(m, lo, hi) { return sprintf("%.0f (%.0f-%.0f)", m, lo, hi) }
    function ratio(x, y) { return y > 0 ? sprintf("%.2f", x / y) : "-" }
    BEGIN { printf "%-8s %22s %22s %7s   %22s %22s %7s\n", p, cell(a, an, ax), cell(b, bn, bx), ratio(b, a),
            cell(c, cn, cx), cell(d, dn, dx), ratio(d, c) }'
done
