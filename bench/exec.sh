#!/usr/bin/env bash
# bench/exec.sh [N]: wall time of running one host command in a fresh VM, minivmm exec vs QEMU
# microvm with the root over virtiofsd (what virtme-ng does), on the same kernel.
#
# What is measured, for each tool, from its exec to its exit:
#   true      the command `true` (/usr/bin/true of the host's root, read over virtio-fs)
#   cat       `cat` of a 100 MiB host file (build/bench-exec/100MiB.bin, made once; read over virtio-fs)
# Tools:
#   minivmm exec    minivmm exec --kernel build/guest/linux/vmlinuz-cloud --modules <its module tree>
#                   --mem 256M -- COMMAND; the guest is minivmm's in-memory initramfs (its own static
#                   init and agent, the virtio modules the kernel needs); COMMAND's stdout comes back
#                   over a virtio-console port to minivmm's stdout (for cat: a pipe into `wc -c` on
#                   the host, which must count 104857600 bytes)
#   qemu microvm    qemu-system-x86_64 -M microvm,rtc=on (memfd RAM, shared) -enable-kvm -cpu host -m 256
#                   -smp 1, the same kernel with the default guest's initramfs (busybox /init, the
#                   same virtio modules + fuse + virtiofs), /usr/lib/qemu/virtiofsd sharing / as tag
#                   "root" (vhost-user-fs-device; virtio-mmio version 2: virtiofsd refuses legacy
#                   devices, microvm's default; -o sandbox=chroot: see below); /init mounts it, then
#                   does what minivmm's agent does before the command (what virtme-ng's init does
#                   too): the share read-only, /proc, /sys, /dev (devtmpfs, /dev/pts, /dev/shm) and
#                   tmpfs /tmp, /run, /var/tmp mounted in it; then `chroot /mnt/host /usr/bin/COMMAND`
#                   (the host's own binary, by its path: see below), then it powers off. For cat the
#                   output goes to the guest's /dev/null (QEMU does less work than minivmm there: its
#                   ratio flatters QEMU). virtiofsd's start is timed too.
# Two traps of the QEMU reference, both found in the nested VM (tests/linux/nested-vm.sh), whose
# root is a chroot into a 9p + overlay view of the host's:
#   - virtiofsd's default sandbox (namespaces + pivot_root into the shared directory) fails there
#     with "pivot_root(., .): Device or resource busy" (the job runs chrooted into that overlay, so
#     its / is not the root of a mount namespace; not taken further). -o sandbox=chroot
#     (virtiofsd's mode "for containers") works, and costs the guest nothing.
#   - the guest's busybox re-executes itself through /proc/self/exe for its own applets
#     (CONFIG_FEATURE_PREFER_APPLETS): `chroot /mnt/host true` ran busybox's `true` applet by
#     exec("/proc/self/exe") inside the share, and with no /proc mounted there that path is the
#     *outer* VM's procfs as virtiofsd exports it, whose self/exe link virtiofsd resolves in its own
#     process: /usr/lib/qemu/virtiofsd. So the guest executed virtiofsd, which read
#     /proc/sys/fs/file-max (over the share: procfs files have size 0, so it read 0 bytes) and
#     exited 1 with "The fs.file-max sysctl is too low (0) to allow a reasonable number of open
#     files". A real /proc in the new root and the command by its path (no applet lookup) run the
#     host's /usr/bin/true, as minivmm does.
# Both: console=ttyS0 quiet, 1 vCPU, 256 MiB; every run must exit 0 (and, for QEMU, print the
# command's "run exit=0"). N rounds (default 5; arg 1 or MINIVMM_BENCH_N), the tools interleaved,
# after an untimed warm-up round; medians, min, max. MINIVMM_BENCH_EXEC_TOOLS=minivmm (or qemu)
# runs one tool's rows only.
# Where /dev/kvm is not hardware KVM the script re-runs itself inside tests/linux/nested-vm.sh
# (figures are then nested KVM on TCG: compare ratios only).
# Needs: cmake --build build --target minivmm_exe linux-guest; scripts/build-module-trees.sh
#        build/guest/linux modules-cloud (run by this script when missing); qemu-system-x86_64 and
#        /usr/lib/qemu/virtiofsd (apt: qemu-system-x86).
set -euo pipefail

BENCH_PROG=exec
# shellcheck source=bench/lib-bench.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-bench.sh"

n=${1:-${MINIVMM_BENCH_N:-5}}
[[ $n =~ ^[1-9][0-9]*$ ]] || bench_die "N must be a positive number (got '$n')"
minivmm=$BENCH_BUILD/minivmm
gdir=$BENCH_BUILD/guest/linux
kernel=$gdir/vmlinuz-cloud initrd=$gdir/initramfs-cloud.cpio.gz
virtiofsd=/usr/lib/qemu/virtiofsd
[[ -x $minivmm ]] || bench_die "$minivmm not built (cmake --build build --target minivmm_exe)"
[[ -f $kernel && -f $initrd ]] || bench_die "the Linux guest is not built in $gdir (cmake --build build --target linux-guest)"
# The file to cat lives in the build tree, made once on the host: the command sees the host's
# root, where /tmp, /run and /var/tmp are the guest's own tmpfs.
big=$BENCH_BUILD/bench-exec/100MiB.bin
if [[ ${MINIVMM_BENCH_IN_NESTED:-0} != 1 ]]; then
  "$BENCH_ROOT/scripts/build-module-trees.sh" "$gdir" modules-cloud >&2
  if [[ ! -f $big ]]; then
    mkdir -p "${big%/*}"
    head -c $((100 << 20)) /dev/urandom >"$big.part" && mv "$big.part" "$big"
  fi
fi
[[ -f $big ]] || bench_die "$big is missing"
modules=$(find "$gdir/modules-cloud" -mindepth 2 -maxdepth 2 -name modules.dep -printf '%h\n' | head -n 1)
[[ -n $modules ]] || bench_die "no module tree in $gdir/modules-cloud (scripts/build-module-trees.sh $gdir modules-cloud)"
bench_setup $((300 + n * 4 * 60)) 3072 "${BASH_SOURCE[0]}" "$@"
bench_need qemu-system-x86_64 "$virtiofsd"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-exec.XXXXXX")
fsd_pid=
cleanup() {
  [[ -z $fsd_pid ]] || kill "$fsd_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
base_cmdline="console=ttyS0 reboot=k panic=-1 quiet noxsave"

# minivmm_run WORKLOAD: one minivmm exec run; fails loudly unless it exits 0 (and cat delivered every byte).
minivmm_run() {
  local rc=0 count
  case $1 in
    true) "$minivmm" exec --kernel "$kernel" --modules "$modules" --mem 256M --timeout 120s -- true \
      </dev/null >"$tmp/out" 2>"$tmp/err" || rc=$? ;;
    cat)
      count=$("$minivmm" exec --kernel "$kernel" --modules "$modules" --mem 256M --timeout 120s -- cat "$big" \
        </dev/null 2>"$tmp/err" | wc -c) || rc=$?
      [[ $rc != 0 || $count == $((100 << 20)) ]] || { echo "exec: error: minivmm exec -- cat delivered $count bytes" >&2; exit 1; }
      ;;
  esac
  [[ $rc == 0 ]] || { echo "exec: error: minivmm exec -- $1: exit $rc" >&2; tail -n 8 "$tmp/err" >&2; exit 1; }
}

# qemu_run WORKLOAD: virtiofsd, then QEMU microvm; the guest mounts the root and runs the command.
qemu_run() {
  local rc=0 sock=$tmp/fs.sock command
  # What minivmm's agent does before it runs the command (guest-agent/init.c, mount_root).
  local setup='mount -o remount,ro /mnt/host && mount -t proc proc /mnt/host/proc &&
    mount -t sysfs sysfs /mnt/host/sys && mount -t devtmpfs devtmpfs /mnt/host/dev &&
    mkdir -p /mnt/host/dev/pts /mnt/host/dev/shm && mount -t devpts devpts /mnt/host/dev/pts &&
    mount -t tmpfs shm /mnt/host/dev/shm && for d in tmp run var/tmp; do mount -t tmpfs tmpfs /mnt/host/$d; done'
  setup=$(tr '\n' ' ' <<<"$setup")
  case $1 in
    true) command="$setup && chroot /mnt/host /usr/bin/true" ;;
    cat) command="$setup && chroot /mnt/host /usr/bin/cat $big >/dev/null" ;;
  esac
  rm -f "$sock"
  "$virtiofsd" --socket-path="$sock" -o source=/ -o sandbox=chroot -o log_level=err --rlimit-nofile=0 2>"$tmp/fsd.err" &
  fsd_pid=$!
  local i=0
  while [[ ! -S $sock && $i -lt 500 ]]; do sleep 0.01; i=$((i + 1)); done
  [[ -S $sock ]] || { echo "exec: error: virtiofsd did not start" >&2; cat "$tmp/fsd.err" >&2; exit 1; }
  timeout 150 qemu-system-x86_64 -M microvm,rtc=on,memory-backend=mem -object memory-backend-memfd,id=mem,size=256M,share=on \
    -enable-kvm -cpu host -m 256 -smp 1 -nodefaults -no-user-config -nographic -no-reboot -serial stdio \
    -global virtio-mmio.force-legacy=false \
    -chardev socket,id=fs,path="$sock" -device vhost-user-fs-device,chardev=fs,tag=root \
    -kernel "$kernel" -initrd "$initrd" \
    -append "$base_cmdline minivmm.action=poweroff minivmm.share=root:/mnt/host minivmm.run=\"$command\"" \
    </dev/null >"$tmp/out" 2>"$tmp/err" || rc=$?
  wait "$fsd_pid" 2>/dev/null || true # virtiofsd ends when its client goes
  fsd_pid=
  if [[ $rc != 0 ]] || ! grep -q "minivmm-guest: run exit=0" "$tmp/out"; then
    echo "exec: error: qemu microvm -- $1: exit $rc" >&2
    tail -n 8 "$tmp/out" "$tmp/err" "$tmp/fsd.err" >&2
    exit 1
  fi
}

tools=(${MINIVMM_BENCH_EXEC_TOOLS:-minivmm qemu})
variants=()
for w in true cat; do for t in "${tools[@]}"; do variants+=("$t-$w"); done; done
# one VARIANT [record]
one() {
  local v=$1 t0 t1
  t0=$(bench_now_us)
  case $v in
    minivmm-*) minivmm_run "${v#minivmm-}" ;;
    qemu-*) qemu_run "${v#qemu-}" ;;
  esac
  t1=$(bench_now_us)
  [[ ${2:-} == record ]] && echo $(((t1 - t0) / 1000)) >>"$tmp/$v.ms"
  return 0
}

echo "exec: $n rounds of ${variants[*]}, interleaved; $BENCH_WHERE" >&2
for v in "${variants[@]}"; do one "$v"; done # warm-up, not recorded
for ((i = 1; i <= n; i++)); do
  for v in "${variants[@]}"; do one "$v" record; done
  echo "exec: round $i/$n done" >&2
done

echo "Debian cloud kernel, 256M, 1 vCPU, root over virtio-fs, N=$n; $BENCH_WHERE"
printf "%-10s %-28s %12s %8s %8s %16s\n" command tool "wall med ms" min max "minivmm/qemu"
for w in true cat; do
  qm=-
  [[ -f $tmp/qemu-$w.ms ]] && read -r qm _ _ <<<"$(bench_stats "$tmp/qemu-$w.ms")"
  for t in "${tools[@]}"; do
    read -r m mn mx <<<"$(bench_stats "$tmp/$t-$w.ms")"
    label="minivmm exec"
    [[ $t == qemu ]] && label="qemu microvm + virtiofsd"
    awk -v w="$w" -v l="$label" -v m="$m" -v mn="$mn" -v mx="$mx" -v q="$qm" \
      'BEGIN { r = (q == "-") ? "-" : sprintf("%.2f", m / q)
              printf "%-10s %-28s %12.1f %8.1f %8.1f %16s\n", (w == "cat" ? "cat 100M" : w), l, m, mn, mx, r }'
  done
done
echo "(minivmm/qemu: this row's median wall time / QEMU's for the same command; the target is <= 0.5)"
