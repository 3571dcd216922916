#!/usr/bin/env bash
# bench/linux-boot.sh [N]: Linux boot time, minivmm vs QEMU microvm, on the project's default guest.
#
# What is measured: the default Debian guest (build/guest/linux/vmlinuz-cloud bzImage +
# initramfs-cloud.cpio.gz, 256 MiB, 1 vCPU, cmdline "console=ttyS0 reboot=k panic=-1 quiet noxsave
# minivmm.action=poweroff"), booted by
#   minivmm                 minivmm --log-level info ...
#   qemu microvm            qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 256 -smp 1
#                           -nodefaults -no-user-config -nographic -no-reboot -serial stdio ...
#   qemu microvm,rtc=on     the same with the machine's CMOS RTC (without it, Linux's rtc_cmos
#                           probe is known to stall the boot for seconds)
# and for each run:
#   marker ms   exec of the VMM -> the guest's "MINIVMM-GUEST-READY" line read from its serial
#               console (printed by /init right after it writes the boot timer): the same event,
#               measured the same way, for every VMM
#   exit ms     exec -> the VMM has exited (the guest powers off at once after the marker)
#   timer ms    minivmm only: its own boot-timer figure ("guest boot timer: X ms after start",
#               logged at --log-level info when the guest writes 0xc0000000), no console latency
#   peak RSS    of the VMM process (/usr/bin/time -f %M)
# How: N rounds (default 10; arg 1 or MINIVMM_BENCH_N), each running the three variants one after
# another (interleaved, so drifting host load hits all alike), after one untimed warm-up round;
# times from bash's EPOCHREALTIME, the console read line by line through a pipe. Medians, min, max.
# Every run must reach the marker and exit 0. The guest ends by an ACPI poweroff (minivmm needs its
# ACPI support for that), not a reboot: microvm has no i8042, so reboot=k hangs there after
# "reboot: Restarting system". MINIVMM_BENCH_ACTION=reboot measures a reboot (only minivmm can run that one).
# Where /dev/kvm is not hardware KVM (kvm-mode.sh says nested), the whole script re-runs itself
# inside tests/linux/nested-vm.sh: the figures are then nested KVM on TCG (only ratios mean much).
# Needs: the guest (cmake --build build --target linux-guest), qemu-system-x86_64 (apt:
#        qemu-system-x86), /usr/bin/time (apt: time).
set -euo pipefail

BENCH_PROG=linux-boot
# shellcheck source=bench/lib-bench.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-bench.sh"

n=${1:-${MINIVMM_BENCH_N:-10}}
[[ $n =~ ^[1-9][0-9]*$ ]] || bench_die "N must be a positive number (got '$n')"
bench_setup $((300 + n * 3 * 40)) 3072 "${BASH_SOURCE[0]}" "$@"

minivmm=$BENCH_BUILD/minivmm
gdir=$BENCH_BUILD/guest/linux
kernel=$gdir/vmlinuz-cloud initrd=$gdir/initramfs-cloud.cpio.gz
[[ -x $minivmm ]] || bench_die "$minivmm not built (cmake --build build)"
[[ -f $kernel && -f $initrd ]] || bench_die "the Linux guest is not built in $gdir (cmake --build build --target linux-guest)"
bench_need qemu-system-x86_64 /usr/bin/time

action=${MINIVMM_BENCH_ACTION:-poweroff}
cmdline="console=ttyS0 reboot=k panic=-1 quiet noxsave minivmm.action=$action"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-linux-boot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cmd_minivmm=("$minivmm" --kernel "$kernel" --initrd "$initrd" --mem 256M --cpus 1 --cmdline "$cmdline"
  --log-level info --timeout 120s)
qemu_cmd() { # MACHINE
  cmd_qemu=(qemu-system-x86_64 -M "$1" -enable-kvm -cpu host -m 256 -smp 1 -nodefaults -no-user-config
    -nographic -no-reboot -serial stdio -kernel "$kernel" -initrd "$initrd" -append "$cmdline")
}
variants=(minivmm qemu-microvm qemu-microvm-rtc)
label() {
  case $1 in
    minivmm) echo "minivmm" ;;
    qemu-microvm) echo "qemu microvm" ;;
    qemu-microvm-rtc) echo "qemu microvm,rtc=on" ;;
  esac
}

# one VARIANT [record]: one run; with "record", appends its figures to $tmp/VARIANT.*.
one() {
  local v=$1 record=${2:-} t0 t1 rc marker timer
  case $v in
    minivmm) cmd=("${cmd_minivmm[@]}") ;;
    qemu-microvm) qemu_cmd microvm; cmd=("${cmd_qemu[@]}") ;;
    qemu-microvm-rtc) qemu_cmd microvm,rtc=on; cmd=("${cmd_qemu[@]}") ;;
  esac
  : >"$tmp/marker"
  : >"$tmp/out"
  t0=${EPOCHREALTIME/[.,]/}
  {
    rc=0
    timeout 150 /usr/bin/time -f %M -o "$tmp/rss" "${cmd[@]}" </dev/null 2>"$tmp/err" || rc=$?
    echo "$rc" >"$tmp/rc"
  } | while IFS= read -r line; do
    if [[ ! -s $tmp/marker && $line == *MINIVMM-GUEST-READY* ]]; then
      echo "${EPOCHREALTIME/[.,]/}" >"$tmp/marker"
    fi
    printf '%s\n' "${line%$'\r'}" >>"$tmp/out"
  done
  t1=${EPOCHREALTIME/[.,]/}
  rc=$(cat "$tmp/rc")
  if [[ $rc != 0 || ! -s $tmp/marker ]]; then
    echo "linux-boot: error: $(label "$v"): exit $rc, marker $([[ -s $tmp/marker ]] && echo seen || echo "not seen")" >&2
    echo "  command: ${cmd[*]}" >&2
    tail -n 8 "$tmp/out" "$tmp/err" >&2
    exit 1
  fi
  [[ $record == record ]] || return 0
  marker=$(cat "$tmp/marker")
  echo $(((marker - t0) / 1000)) >>"$tmp/$v.marker"
  echo $(((t1 - t0) / 1000)) >>"$tmp/$v.exit"
  tail -n 1 "$tmp/rss" >>"$tmp/$v.rss"
  if [[ $v == minivmm ]]; then
    timer=$(sed -n 's/.*guest boot timer: \([0-9][0-9]*\)\(\.[0-9]*\)\{0,1\} ms.*/\1/p' "$tmp/err" | tail -n 1)
    [[ -n $timer ]] || { echo "linux-boot: error: minivmm logged no boot-timer figure" >&2; tail -n 5 "$tmp/err" >&2; exit 1; }
    echo "$timer" >>"$tmp/$v.timer"
  fi
}

echo "linux-boot: $n rounds of ${variants[*]}, interleaved; $BENCH_WHERE" >&2
for v in "${variants[@]}"; do one "$v"; done # warm-up, not recorded
for ((i = 1; i <= n; i++)); do
  for v in "${variants[@]}"; do one "$v" record; done
  echo "linux-boot: round $i/$n done" >&2
done

read -r base _ _ <<<"$(bench_stats "$tmp/minivmm.marker")"
echo "Debian cloud kernel + busybox initramfs, 256M, 1 vCPU, action=$action, N=$n; $BENCH_WHERE"
printf "%-20s %15s %8s %8s %12s %12s %13s %15s\n" tool "marker med ms" min max "exit med ms" "timer med ms" "peak RSS MiB" "marker ratio"
for v in "${variants[@]}"; do
  read -r mm mn mx <<<"$(bench_stats "$tmp/$v.marker")"
  read -r em _ _ <<<"$(bench_stats "$tmp/$v.exit")"
  read -r rss _ _ <<<"$(bench_stats "$tmp/$v.rss")"
  tm=-
  [[ -f $tmp/$v.timer ]] && read -r tm _ _ <<<"$(bench_stats "$tmp/$v.timer")"
  awk -v l="$(label "$v")" -v mm="$mm" -v mn="$mn" -v mx="$mx" -v em="$em" -v tm="$tm" -v rss="$rss" -v b="$base" \
    'BEGIN { printf "%-20s %15.1f %8.1f %8.1f %12.1f %12s %13.1f %15.2f\n", l, mm, mn, mx, em, tm, rss / 1024, mm / b }'
done
echo "(marker ratio: this tool's median time to the marker / minivmm's)"
