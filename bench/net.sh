#!/usr/bin/env bash
# bench/net.sh [N]: virtio-net throughput, minivmm vs QEMU microvm: frames over a TAP with the
# project's test guest as the load generator ("tap" rows, below), and TCP through user-mode
# networking with a Linux guest running iperf3 ("user" rows, at the end of this comment).
# MINIVMM_BENCH_NET_ROWS=tap|user|all (default all) picks them.
#
# What is measured: frames/s and MB/s (10^6 bytes of Ethernet frame, no virtio header, no FCS)
# that cross the virtio-net device between the test guest and a TAP, in each direction, for
# 64-byte and 1514-byte frames (1514 = a full 1500-byte-MTU frame):
#   tx (guest->host): `test=net-bench dir=tx size=S count=C` (depth = the whole transmitq, one
#       notification per batch, completions polled). Nobody reads the TAP's host side: the
#       host stack takes each frame off the TAP and drops it (ethertype 0x88b5), so this is the
#       VMM's transmitq -> TAP write path alone.
#       Time: the guest's `bench: tsc_ticks` (first frame posted to last completion) divided by
#       the TSC frequency, "cpu MHz" of /proc/cpuinfo on the host running the VMMs (the guest's
#       TSC runs at the host's rate under KVM; both VMMs expose it unscaled). No VMM start-up,
#       no console, no host-side sampling in it: the purest figure available.
#   rx (host->guest): `test=net-bench dir=rx count=C`; bench/net_bench_peer.py waits for the
#       guest's `net: ready`, then sends C frames of S bytes on a packet socket bound to the TAP.
#       The TAP's txqueuelen is set above C, so the kernel queues every frame and none is dropped
#       while the guest is slower than the sender (the guest would otherwise wait for frames that
#       never come). Time: host wall clock from the first send to the guest's `bench: frames=`
#       line on the VMM's stdout. Not the guest's ticks: they start before `net: ready` is
#       printed, so they would include the console line's trip to the host and the peer's
#       reaction, and the guest has no first-frame timestamp. The wall figure includes one
#       console line (~25 bytes) at the end and, if the peer cannot send faster than the guest
#       receives, the peer's send rate: the peer's own send time is printed next to it
#       (`send ms`); a row whose send time is close to its wall time is sender-bound.
#   No 64 KiB TSO row: the test guest negotiates no offloads (no GSO/TSO/checksum features), so
#   only frames up to 1514 bytes are measured.
# Both VMMs: the same guest ELF, 128 MiB, 1 vCPU, one TAP `tap0` in a fresh network namespace per
# run (IPv6 off, so the host sends nothing of its own on it), MAC 52:54:00:12:34:56.
#   minivmm:  minivmm --kernel ELF --mem 128M --net tap=tap0,mac=MAC --cmdline 'test=net-bench ...'
#   QEMU:     qemu-system-x86_64 -M microvm,acpi=off -enable-kvm -cpu host -m 128 -nodefaults
#             -no-user-config -display none -no-reboot -serial stdio
#             -device isa-debug-exit,iobase=0xf4,iosize=1 -global virtio-mmio.force-legacy=false
#             -netdev tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off
#             -device virtio-net-device,netdev=n0,mac=MAC -kernel ELF -append 'test=net-bench ...'
#             (exit (0<<1)|1 = 1)
# How: N rounds (default 3; arg 1 or MINIVMM_BENCH_N); each round runs every row with minivmm,
# then QEMU, interleaved, so drifting host load hits both alike; one untimed run of each first.
# Counts: C=20000 for 64-byte frames, 5000 for 1514-byte (MINIVMM_BENCH_NET_COUNT64 /
# MINIVMM_BENCH_NET_COUNT1514). A run that exits other than success, or a guest that reports
# other than C frames, aborts the benchmark.
# Prints: per row the medians of frames/s and MB/s of each VMM and minivmm/QEMU (of frames/s).
# Where /dev/kvm is not hardware KVM (kvm-mode.sh says nested), the whole script re-runs itself
# inside tests/linux/nested-vm.sh: the figures are then nested KVM on TCG (only ratios mean much).
# Needs: root (network namespaces, TAP), iproute2, /dev/net/tun, python3, a built tree (cmake
#        --build build), qemu-system-x86_64 (apt: qemu-system-x86).
#
# User rows: TCP throughput through user-mode networking (libslirp in both VMMs: minivmm --net
# user, QEMU -netdev user), guest->host and host->guest, measured by iperf3 3.12 (Debian) in the
# default Linux guest (the Debian cloud kernel and the project's initramfs, with iperf3 and the
# libraries it loads added as a second cpio archive) against `iperf3 -s` on the host's 127.0.0.1,
# which the guest reaches as 10.0.2.2: `iperf3 -c 10.0.2.2 -t T` then the same with -R, T=5 s
# (MINIVMM_BENCH_NET_SECONDS). The figure is iperf3's receiver-side Mbit/s (TCP payload). Both
# VMMs: 256 MiB, 1 vCPU, the guest's address by DHCP (minivmm.net=dhcp), modern virtio-mmio.
#   minivmm:           minivmm --kernel vmlinuz-cloud --initrd INITRD --mem 256M --net user ...
#   minivmm-nooffload: the same, with virtio_net.csum=0 on the guest's command line: the guest
#                      uses no checksum or TSO offload (what it would do if minivmm did not offer
#                      them); minivmm then has no segmenting or checksumming to do
#   QEMU:              qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 256 -smp 1 -nodefaults
#                      -no-user-config -nographic -no-reboot -serial stdio
#                      -global virtio-mmio.force-legacy=false -netdev user,id=n0
#                      -device virtio-net-device,netdev=n0 -kernel vmlinuz-cloud -initrd INITRD
#                      (QEMU offers no offloads with -netdev user: its slirp back end has no
#                      virtio-net header)
# N rounds, each boots every VMM once (both directions in one boot), interleaved. Needs iperf3
# (apt: iperf3), cpio and the default Linux guest (cmake --build build --target linux-guest).
set -euo pipefail

BENCH_PROG=net
# shellcheck source=bench/lib-bench.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-bench.sh"

n=${1:-${MINIVMM_BENCH_N:-3}}
[[ $n =~ ^[1-9][0-9]*$ ]] || bench_die "N must be a positive number (got '$n')"
rows_wanted=${MINIVMM_BENCH_NET_ROWS:-all}
[[ $rows_wanted =~ ^(tap|user|all)$ ]] || bench_die "MINIVMM_BENCH_NET_ROWS must be tap, user or all"
bench_setup $((240 + n * 150 + n * 300)) 3072 "${BASH_SOURCE[0]}" "$@"

count64=${MINIVMM_BENCH_NET_COUNT64:-20000}
count1514=${MINIVMM_BENCH_NET_COUNT1514:-5000}
minivmm=$BENCH_BUILD/minivmm
guest=$BENCH_BUILD/tests/guest/minivmm-test-guest.elf
peer=$BENCH_ROOT/bench/net_bench_peer.py
ip=/usr/sbin/ip
mac=52:54:00:12:34:56
[[ -x $minivmm ]] || bench_die "$minivmm not built (cmake --build build)"
bench_need qemu-system-x86_64
if [[ $rows_wanted != user ]]; then
  [[ -f $guest ]] || bench_die "$guest not built (cmake --build build --target test-guest)"
  [[ $(id -u) == 0 ]] || bench_die "needs root (network namespace and TAP)"
  [[ -c /dev/net/tun ]] || bench_die "no /dev/net/tun"
  bench_need python3 "$ip"
  mhz=$(awk -F': *' '/^cpu MHz/ { print $2; exit }' /proc/cpuinfo)
  [[ $mhz =~ ^[0-9]+(\.[0-9]+)?$ ]] || bench_die "no 'cpu MHz' in /proc/cpuinfo"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-net.XXXXXX")
ns=
iperf_server=
cleanup() {
  [[ -z $ns ]] || "$ip" netns del "$ns" 2>/dev/null || true
  [[ -z $iperf_server ]] || kill "$iperf_server" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# vmm_cmd TOOL CMDLINE: the VMM's argv into the array `cmd`.
# shellcheck disable=SC2054 # commas are part of QEMU option values
vmm_cmd() {
  case $1 in
    minivmm) cmd=("$minivmm" --kernel "$guest" --mem 128M --cpus 1 --timeout 120s --net "tap=tap0,mac=$mac"
      --cmdline "$2") ;;
    qemu) cmd=(qemu-system-x86_64 -M microvm,acpi=off -enable-kvm -cpu host -m 128 -smp 1 -nodefaults
      -no-user-config -display none -no-reboot -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=1
      -global virtio-mmio.force-legacy=false -netdev tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off
      -device "virtio-net-device,netdev=n0,mac=$mac" -kernel "$guest" -append "$2") ;;
  esac
}

# one TOOL DIR SIZE COUNT [LABEL]: one run in a fresh namespace; appends frames/s and MB/s to
# $tmp/LABEL.fps and $tmp/LABEL.mbs (LABEL defaults to TOOL-DIR-SIZE).
one() {
  local tool=$1 dir=$2 size=$3 count=$4 label=${5:-$1-$2-$3} want=0 rc=0 frames bytes ticks us send_us
  local -a cmd run
  [[ $tool == qemu ]] && want=1
  ns=minivmm-nbench-$$-$((serial++))
  "$ip" netns add "$ns"
  "$ip" netns exec "$ns" /usr/sbin/sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  "$ip" -n "$ns" tuntap add dev tap0 mode tap
  "$ip" -n "$ns" link set tap0 txqueuelen $((count + 1000)) up
  if [[ $dir == tx ]]; then
    vmm_cmd "$tool" "test=net-bench dir=tx size=$size count=$count"
    run=("${cmd[@]}")
  else
    vmm_cmd "$tool" "test=net-bench dir=rx count=$count timeout_s=30"
    run=(python3 "$peer" --tap tap0 --count "$count" --size "$size" --mac "$mac" -- "${cmd[@]}")
  fi
  timeout 180 "$ip" netns exec "$ns" "${run[@]}" </dev/null >"$tmp/out" 2>&1 || rc=$?
  "$ip" netns del "$ns"
  ns=
  tr -d '\r' <"$tmp/out" >"$tmp/log"
  frames=$(sed -n 's/^bench: frames=\([0-9]*\) bytes=.*/\1/p' "$tmp/log")
  bytes=$(sed -n 's/^bench: frames=[0-9]* bytes=\([0-9]*\)$/\1/p' "$tmp/log")
  if [[ $rc != "$want" || $frames != "$count" ]]; then
    echo "net: error: $label exited $rc (want $want), guest frames '$frames' (want $count): ${run[*]}" >&2
    tail -n 8 "$tmp/log" >&2
    exit 1
  fi
  if [[ $dir == tx ]]; then
    ticks=$(sed -n 's/^bench: tsc_ticks=\([0-9]*\)$/\1/p' "$tmp/log")
    us=$(awk -v t="$ticks" -v m="$mhz" 'BEGIN { printf "%.0f", t / m }')
  else
    us=$(sed -n 's/^peer: wall_us=\([0-9]*\)$/\1/p' "$tmp/log")
    send_us=$(sed -n 's/^peer: send_us=\([0-9]*\)$/\1/p' "$tmp/log")
    echo "$send_us" >>"$tmp/$label.send"
  fi
  [[ $us =~ ^[1-9][0-9]*$ ]] || bench_die "$label: no time in the output"
  awk -v f="$frames" -v u="$us" 'BEGIN { printf "%.0f\n", f * 1e6 / u }' >>"$tmp/$label.fps"
  awk -v b="$bytes" -v u="$us" 'BEGIN { printf "%.0f\n", b * 1000 / u }' >>"$tmp/$label.kbs" # kB/s
}

tap_rows() {
  rows=("tx 64" "tx 1514" "rx 64" "rx 1514")
  serial=0
  echo "net: $n rounds of ${#rows[@]} rows x {minivmm, QEMU microvm}, interleaved; TSC ${mhz} MHz; $BENCH_WHERE" >&2
  one minivmm tx 64 2000 warmup-minivmm
  one qemu tx 64 2000 warmup-qemu
  for ((i = 0; i < n; i++)); do
    for r in "${rows[@]}"; do
      read -r dir size <<<"$r"
      c=$count64
      [[ $size == 64 ]] || c=$count1514
      for tool in minivmm qemu; do
        one "$tool" "$dir" "$size" "$c"
      done
    done
    echo "net: round $((i + 1))/$n done" >&2
  done

  echo "virtio-net over a TAP, test guest net-bench (128M, 1 vCPU), medians of N=$n; $BENCH_WHERE"
  echo "tx: guest TSC ticks at ${mhz} MHz; rx: host wall time, first send to the guest's last-frame line"
  printf "%-12s %14s %10s %14s %10s %8s %16s\n" row "minivmm fr/s" "MB/s" "qemu fr/s" "MB/s" ratio "rx send ms m/q"
  for r in "${rows[@]}"; do
    read -r dir size <<<"$r"
    read -r mf _ _ <<<"$(bench_stats "$tmp/minivmm-$dir-$size.fps")"
    read -r mk _ _ <<<"$(bench_stats "$tmp/minivmm-$dir-$size.kbs")"
    read -r qf _ _ <<<"$(bench_stats "$tmp/qemu-$dir-$size.fps")"
    read -r qk _ _ <<<"$(bench_stats "$tmp/qemu-$dir-$size.kbs")"
    sends=-
    if [[ $dir == rx ]]; then
      read -r ms _ _ <<<"$(bench_stats "$tmp/minivmm-$dir-$size.send")"
      read -r qs _ _ <<<"$(bench_stats "$tmp/qemu-$dir-$size.send")"
      sends=$(awk -v a="$ms" -v b="$qs" 'BEGIN { printf "%.0f/%.0f", a / 1000, b / 1000 }')
    fi
    awk -v row="$dir $size B" -v mf="$mf" -v mk="$mk" -v qf="$qf" -v qk="$qk" -v s="$sends" 'BEGIN {
      printf "%-12s %14.0f %10.2f %14.0f %10.2f %8.2f %16s\n", row, mf, mk / 1000, qf, qk / 1000, mf / qf, s }'
  done
  echo "(ratio: minivmm / QEMU frames/s, of the medians; MB = 10^6 bytes of Ethernet frame)"
}

# --- user-mode networking: TCP through libslirp, a Linux guest running iperf3 -----------------

user_port=5201
user_seconds=${MINIVMM_BENCH_NET_SECONDS:-5}

# The bench guest's initrd: the default initramfs, then a second archive with iperf3 and the
# shared libraries it loads (the kernel unpacks both, the second over the first).
make_iperf_initrd() {
  local gdir=$BENCH_BUILD/guest/linux root=$tmp/iperf-root lib
  [[ -f $gdir/vmlinuz-cloud && -f $gdir/initramfs-cloud.cpio.gz ]] ||
    bench_die "the Linux guest is not built in $gdir (cmake --build build --target linux-guest)"
  mkdir -p "$root/usr/bin"
  cp "$(command -v iperf3)" "$root/usr/bin/iperf3"
  for lib in $(ldd "$root/usr/bin/iperf3" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    cp --parents -L "$lib" "$root/"
  done
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/iperf.cpio.gz"
  cat "$gdir/initramfs-cloud.cpio.gz" "$tmp/iperf.cpio.gz" >"$tmp/bench-initrd"
  user_kernel=$gdir/vmlinuz-cloud
}

# user_cmd TOOL: the VMM's argv into `cmd`.
# shellcheck disable=SC2054 # commas are part of QEMU option values
user_cmd() {
  local guest_run="iperf3 -c 10.0.2.2 -p $user_port -t $user_seconds -f m && iperf3 -c 10.0.2.2 -p $user_port -t $user_seconds -f m -R"
  local cmdline="console=ttyS0 reboot=k panic=-1 quiet noxsave minivmm.net=dhcp minivmm.run=\"$guest_run\""
  case $1 in
    minivmm) cmd=("$minivmm" --kernel "$user_kernel" --initrd "$tmp/bench-initrd" --mem 256M --cpus 1
      --timeout 300s --console stdout --net user --cmdline "$cmdline") ;;
    minivmm-nooffload) cmd=("$minivmm" --kernel "$user_kernel" --initrd "$tmp/bench-initrd" --mem 256M --cpus 1
      --timeout 300s --console stdout --net user --cmdline "$cmdline virtio_net.csum=0") ;;
    qemu) cmd=(qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 256 -smp 1 -nodefaults -no-user-config
      -nographic -no-reboot -serial stdio -global virtio-mmio.force-legacy=false -netdev user,id=n0
      -device virtio-net-device,netdev=n0 -kernel "$user_kernel" -initrd "$tmp/bench-initrd" -append "$cmdline") ;;
  esac
}

# one_user TOOL: one boot, both directions; appends Mbit/s to $tmp/user-TOOL.{tx,rx}.
one_user() {
  local tool=$1 rc=0 rates
  local -a cmd
  user_cmd "$tool"
  timeout 400 "${cmd[@]}" </dev/null >"$tmp/out" 2>&1 || rc=$?
  tr -d '\r' <"$tmp/out" >"$tmp/log"
  # iperf3's summary lines: "[ 5]  0.00-5.00  sec  X MBytes  R Mbits/sec ... receiver", first
  # the guest->host test, then the -R (host->guest) one.
  read -r -a rates <<<"$(awk '/receiver$/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") printf "%s ", $i }' \
    "$tmp/log")"
  if [[ $rc != 0 || ${#rates[@]} != 2 ]]; then
    echo "net: error: user $tool exited $rc with ${#rates[@]} iperf3 results (want 2): ${cmd[*]}" >&2
    tail -n 12 "$tmp/log" >&2
    exit 1
  fi
  echo "${rates[0]}" >>"$tmp/user-$tool.tx"
  echo "${rates[1]}" >>"$tmp/user-$tool.rx"
}

user_rows() {
  local tools=(minivmm minivmm-nooffload qemu) tool i dir m o q
  bench_need iperf3 cpio gzip ldd
  make_iperf_initrd
  iperf3 -s -B 127.0.0.1 -p "$user_port" >"$tmp/iperf-server.log" 2>&1 &
  iperf_server=$!
  echo "net: user rows: $n rounds x {${tools[*]}}, ${user_seconds} s each way; $BENCH_WHERE" >&2
  for ((i = 0; i < n; i++)); do
    for tool in "${tools[@]}"; do
      one_user "$tool"
    done
    echo "net: user round $((i + 1))/$n done" >&2
  done
  kill "$iperf_server" 2>/dev/null || true
  iperf_server=

  echo
  echo "user-mode networking (libslirp), TCP through it, iperf3 ${user_seconds} s in the default Linux guest"
  echo "(256M, 1 vCPU) to iperf3 -s on the host's 127.0.0.1; receiver Mbit/s, medians of N=$n; $BENCH_WHERE"
  printf "%-18s %10s %18s %10s %8s\n" row minivmm "minivmm no-offload" QEMU ratio
  for dir in tx rx; do
    read -r m _ _ <<<"$(bench_stats "$tmp/user-minivmm.$dir")"
    read -r o _ _ <<<"$(bench_stats "$tmp/user-minivmm-nooffload.$dir")"
    read -r q _ _ <<<"$(bench_stats "$tmp/user-qemu.$dir")"
    awk -v row="$([[ $dir == tx ]] && echo "tcp guest->host" || echo "tcp host->guest")" -v m="$m" -v o="$o" \
      -v q="$q" 'BEGIN { printf "%-18s %10.1f %18.1f %10.1f %8.2f\n", row, m, o, q, m / q }'
  done
  echo "(ratio: minivmm / QEMU; no-offload: the guest's virtio_net.csum=0, no checksum or TSO offload used)"
}

if [[ $rows_wanted != user ]]; then
  tap_rows
fi
if [[ $rows_wanted != tap ]]; then
  user_rows
fi
