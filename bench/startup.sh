#!/usr/bin/env bash
# bench/startup.sh [N]: VMM start-up cost, minivmm vs QEMU microvm, on the project's test guest.
#
# What is measured: wall time from exec of the VMM to its exit, booting
# build/tests/guest/minivmm-test-guest.elf (PVH) with `test=boot` and 128 MiB: the guest writes the
# boot timer and at once its exit code 0 to the debug-exit port 0xf4, so the time is almost all VMM
# set-up, kernel load, vCPU start and teardown. Also the peak RSS of the VMM process.
#   minivmm:  minivmm --kernel ELF --cmdline test=boot --mem 128M --console none  (exit 0)
#   QEMU:     qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 128 -nodefaults -no-user-config
#             -nographic -no-reboot -kernel ELF -append test=boot
#             -device isa-debug-exit,iobase=0xf4,iosize=1   (exit (0<<1)|1 = 1)
# How: N runs of each (default 10; arg 1 or MINIVMM_BENCH_N), interleaved (minivmm, qemu, minivmm,
# ...) so drifting host load hits both alike; each run under /usr/bin/time -f %M (peak RSS in KiB),
# timed with bash's EPOCHREALTIME just around it (the ~1 ms of /usr/bin/time's own fork+exec is in
# both figures). Any run with an unexpected exit code aborts the benchmark.
# Prints: tool, median/min/max ms, median peak RSS MiB, ratios minivmm/qemu (time and RSS).
# Where /dev/kvm is not hardware KVM (kvm-mode.sh says nested), the whole script re-runs itself
# inside tests/linux/nested-vm.sh: the figures are then nested KVM on TCG (only ratios mean much).
# Needs: a built tree (cmake --build build), qemu-system-x86_64 (apt: qemu-system-x86),
#        /usr/bin/time (apt: time).
set -euo pipefail

BENCH_PROG=startup
# shellcheck source=bench/lib-bench.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-bench.sh"

n=${1:-${MINIVMM_BENCH_N:-10}}
[[ $n =~ ^[1-9][0-9]*$ ]] || bench_die "N must be a positive number (got '$n')"
bench_setup $((120 + n * 60)) 2048 "${BASH_SOURCE[0]}" "$@"

minivmm=$BENCH_BUILD/minivmm
guest=$BENCH_BUILD/tests/guest/minivmm-test-guest.elf
[[ -x $minivmm ]] || bench_die "$minivmm not built (cmake --build build)"
[[ -f $guest ]] || bench_die "$guest not built (cmake --build build --target test-guest)"
bench_need qemu-system-x86_64 /usr/bin/time

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-startup.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cmd_minivmm=("$minivmm" --kernel "$guest" --cmdline test=boot --mem 128M --cpus 1 --console none --timeout 60s)
# shellcheck disable=SC2054 # commas are part of QEMU option values
cmd_qemu=(qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 128 -nodefaults -no-user-config -nographic
  -no-reboot -kernel "$guest" -append test=boot -device isa-debug-exit,iobase=0xf4,iosize=1)

# one TOOL WANT_RC CMD...: one timed run; appends ms to $tmp/TOOL.ms and KiB to $tmp/TOOL.rss.
one() {
  local tool=$1 want=$2 t0 t1 rc=0
  shift 2
  t0=$(bench_now_us)
  timeout 120 /usr/bin/time -f %M -o "$tmp/rss" "$@" </dev/null >"$tmp/out" 2>"$tmp/err" || rc=$?
  t1=$(bench_now_us)
  if [[ $rc != "$want" ]]; then
    echo "startup: error: $tool exited $rc (want $want): $*" >&2
    tail -n 5 "$tmp/out" "$tmp/err" >&2
    exit 1
  fi
  echo $(((t1 - t0) / 1000)) >>"$tmp/$tool.ms"
  tail -n 1 "$tmp/rss" >>"$tmp/$tool.rss"
}

echo "startup: $n runs each of minivmm and QEMU microvm, interleaved; $BENCH_WHERE" >&2
# One untimed run of each first: page cache, lazy binding, KVM module warm-up.
one warmup-minivmm 0 "${cmd_minivmm[@]}"
one warmup-qemu 1 "${cmd_qemu[@]}"
for ((i = 0; i < n; i++)); do
  one minivmm 0 "${cmd_minivmm[@]}"
  one qemu 1 "${cmd_qemu[@]}"
done

read -r m_med m_min m_max <<<"$(bench_stats "$tmp/minivmm.ms")"
read -r q_med q_min q_max <<<"$(bench_stats "$tmp/qemu.ms")"
read -r m_rss _ _ <<<"$(bench_stats "$tmp/minivmm.rss")"
read -r q_rss _ _ <<<"$(bench_stats "$tmp/qemu.rss")"

echo "test guest (test=boot, 128M, 1 vCPU), exec to exit, N=$n; $BENCH_WHERE"
awk -v mm="$m_med" -v mn="$m_min" -v mx="$m_max" -v mr="$m_rss" \
  -v qm="$q_med" -v qn="$q_min" -v qx="$q_max" -v qr="$q_rss" 'BEGIN {
  printf "%-16s %10s %8s %8s %14s %12s %11s\n", "tool", "median ms", "min", "max", "peak RSS MiB", "time ratio", "RSS ratio"
  printf "%-16s %10.1f %8.1f %8.1f %14.1f %12.2f %11.2f\n", "minivmm", mm, mn, mx, mr / 1024, mm / qm, mr / qr
  printf "%-16s %10.1f %8.1f %8.1f %14.1f %12.2f %11.2f\n", "qemu microvm", qm, qn, qx, qr / 1024, 1, 1
  print "(ratios: minivmm / qemu, of the medians)"
}'
