#!/usr/bin/env bash
# build-linux-guest.sh OUTDIR: builds minivmm's default Linux guest from stock Debian kernels.
# Why: tests and the README boot a real distribution kernel; we download it with apt-get (no kernel
# build), extract the PVH-capable ELF vmlinux, and pack a tiny busybox initramfs whose /init prints
# a fixed marker and acts on minivmm.* kernel parameters. Cached: a rerun with fresh outputs is a no-op.
#
# Outputs in OUTDIR:
#   vmlinuz-cloud, vmlinuz-generic            bzImages (linux-image-cloud-amd64 / linux-image-amd64)
#   vmlinux-cloud                             uncompressed ELF of the cloud kernel (PVH note, type 18)
#   initramfs-cloud.cpio.gz, initramfs-generic.cpio.gz   busybox + that kernel's virtio modules
#   kernels.txt                               package names and versions used (also the cache key)
# Guest kernel parameters understood by /init:
#   minivmm.action=poweroff|reboot|shell|panic  (default poweroff)
#   minivmm.run=CMD   run CMD with sh -c (quote it: minivmm.run="a b"), print "minivmm-guest: run exit=N",
#                     write N to the debug-exit port 0xf4, then do the action
#   minivmm.ip=ADDR/PREFIX   configure eth0
#   MODULE.PARAM=VALUE       passed to insmod of that module (e.g. virtio_net.csum=0), as modprobe does
#   minivmm.net=dhcp         configure eth0 by DHCP (busybox udhcpc: address, default route, resolv.conf)
#                            and print "minivmm-guest: dhcp eth0 ADDR/PREFIX router R dns D"
# Env: MINIVMM_KERNEL_CACHE (download cache), CC (compiler for the tiny debug-exit helper), FORCE=1.
set -euo pipefail

KPKG_PROG=build-linux-guest
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib-kernel-pkgs.sh
. "$here/lib-kernel-pkgs.sh"

[[ $# == 1 && $1 != -* ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
mkdir -p "$out" || kpkg_die "cannot create $out"
out=$(cd "$out" && pwd)

outputs=(vmlinuz-cloud vmlinuz-generic vmlinux-cloud initramfs-cloud.cpio.gz initramfs-generic.cpio.gz kernels.txt)

# Cache check: every output present and newer than this script and its helper, and (checked with
# apt at most once a day) the same kernel packages as apt would pick now.
up_to_date() {
  local f c g
  for f in "${outputs[@]}"; do
    [[ -f $out/$f ]] || return 1
    [[ $f == kernels.txt || ($out/$f -nt ${BASH_SOURCE[0]} && $out/$f -nt $here/lib-kernel-pkgs.sh) ]] || return 1
  done
  kpkg_recent "$out/kernels.txt" && return 0
  if c=$(kpkg_resolve cloud) && g=$(kpkg_resolve generic); then
    [[ $(cat "$out/kernels.txt") == "cloud $c"$'\n'"generic $g" ]] || return 1
  fi
  touch "$out/kernels.txt"
}
if [[ ${FORCE:-0} != 1 ]] && up_to_date; then
  echo "build-linux-guest: $out is up to date"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/minivmm-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The debug-exit helper: the cloud kernel has no /dev/port (CONFIG_DEVPORT unset), so /init writes the
# exit code to port 0xf4 with this 1-KiB static program (ioperm + outb, no libc).
build_exit_helper() {
  local dst=$1 cc=${CC:-cc}
  cat >"$work/minivmm-exit.c" <<'C'
/* minivmm-exit N: write the byte N to the debug-exit I/O port 0xf4, then exit(0). */
static long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}
__asm__(".globl _start\n_start:\n\tmov %rsp, %rdi\n\tcall cmain\n\thlt\n");
__attribute__((used, noreturn)) void cmain(long *sp) {
  char **argv = (char **)(sp + 1);
  unsigned v = 0;
  const char *s = sp[0] > 1 ? argv[1] : "0";
  while (*s >= '0' && *s <= '9') v = v * 10 + (unsigned)(*s++ - '0');
  long rc = sys3(173 /* ioperm */, 0xf4, 1, 1);
  if (rc == 0) __asm__ volatile("outb %b0, %w1" : : "a"(v), "Nd"((unsigned short)0xf4));
  sys3(60 /* exit */, rc == 0 ? 0 : 1, 0, 0);
  for (;;) {}
}
C
  if command -v "$cc" >/dev/null &&
    "$cc" -Os -static -nostdlib -fno-pie -no-pie -fno-stack-protector -fno-asynchronous-unwind-tables \
      -Wl,--build-id=none -s -o "$dst" "$work/minivmm-exit.c" 2>"$work/cc.log"; then
    return 0
  fi
  kpkg_warn "cannot compile the debug-exit helper with $cc ($(head -c 200 "$work/cc.log" 2>/dev/null)); /init falls back to /dev/port"
  rm -f "$dst"
}

# busybox udhcpc's event script: applies a lease to the interface (udhcpc passes it in the
# environment: ip, mask = prefix length, router, dns).
write_udhcpc_script() {
  cat >"$1" <<'SCRIPT'
#!/bin/sh
case $1 in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route add default via "$r" dev "$interface"; break; done
    : >/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
    echo "minivmm-guest: dhcp $interface $ip/${mask:-24} router ${router:-none} dns ${dns:-none}" >/run/dhcp-lease
    ;;
esac
SCRIPT
  chmod 755 "$1"
}

write_init() {
  {
  cat <<'INIT'
#!/bin/busybox sh
# /init of minivmm's default Linux guest (generated by scripts/build-linux-guest.sh).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t devtmpfs -o nosuid devtmpfs /dev 2>/dev/null
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
# param KEY: value of KEY=VALUE on the kernel command line (last one wins); quotes ("..." or '...')
# group words and are removed, e.g. minivmm.run="echo a b" -> echo a b. Prints nothing if absent.
INIT
  kpkg_init_param_fn
  cat <<'INIT'
for m in $(cat /etc/modules); do
  # MODULE.PARAM=VALUE words of the command line go to that module, as modprobe would pass them
  # (e.g. virtio_net.csum=0); module names match with '-' and '_' alike.
  args=$(tr ' ' '\n' </proc/cmdline | sed -n "s/^$(echo "$m" | tr - _)\.//p")
  # shellcheck disable=SC2086 # one word per parameter
  insmod "/lib/modules/$m.ko" $args 2>/dev/null || echo "minivmm-guest: warning: insmod $m failed"
done
# With console=hvc0 (minivmm --console virtio) the console exists only once virtio_console
# is loaded: move this script's stdio onto it.
if [ "$(param console)" = hvc0 ]; then
  i=0
  while [ ! -c /dev/hvc0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  if [ -c /dev/hvc0 ]; then exec </dev/hvc0 >/dev/hvc0 2>&1; else echo "minivmm-guest: warning: no /dev/hvc0"; fi
fi
# Boot timer (minivmm records when userland starts); harmless where nothing is mapped there.
devmem 0xc0000000 8 123 2>/dev/null || true
echo MINIVMM-GUEST-READY
echo "minivmm-guest: cpus=$(nproc) memtotal_kb=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)"
ip link set lo up 2>/dev/null
addr=$(param minivmm.ip)
if [ -n "$addr" ]; then
  { ip addr add "$addr" dev eth0 && ip link set eth0 up; } || echo "minivmm-guest: warning: cannot configure eth0 with $addr"
fi
if [ "$(param minivmm.net)" = dhcp ]; then
  if ip link set eth0 up && udhcpc -i eth0 -s /etc/udhcpc.script -f -q -n -t 10 -T 2 >/dev/null 2>&1; then
    cat /run/dhcp-lease
  else
    echo "minivmm-guest: warning: no DHCP lease on eth0"
  fi
fi
run=$(param minivmm.run)
if [ -n "$run" ]; then
  sh -c "$run"
  rc=$?
  echo "minivmm-guest: run exit=$rc"
  if [ -x /bin/minivmm-exit ]; then
    minivmm-exit "$rc"
  elif [ -c /dev/port ]; then
    printf "\\$(printf %o "$rc")" | dd of=/dev/port bs=1 seek=244 conv=notrunc 2>/dev/null
  fi
fi
action=$(param minivmm.action)
case ${action:-poweroff} in
  poweroff) ;;
  reboot) reboot -f ;;
  shell) setsid cttyhack sh ;;
  panic) echo 1 >/proc/sys/kernel/sysrq; echo c >/proc/sysrq-trigger ;;
  *) echo "minivmm-guest: warning: unknown minivmm.action=$action, powering off" ;;
esac
poweroff -f
echo "minivmm-guest: poweroff failed"
exit 1
INIT
  } >"$1"
  chmod 755 "$1"
}

# build_flavour FLAVOUR: fetch, copy the bzImage, build the initramfs.
build_flavour() {
  local flavour=$1 root=$work/root-$1
  kpkg_fetch "$flavour"
  echo "$flavour $KPKG_PKG $KPKG_VERSION" >>"$work/kernels.txt"
  cp "$KPKG_VMLINUZ" "$work/vmlinuz-$flavour"

  # pvpanic-mmio binds the ACPI device QEMU0001 that tells minivmm the kernel panicked.
  local -a mods=(virtio virtio_ring virtio_mmio virtio_blk virtio_net virtio_console pvpanic-mmio)
  # ext4 (and the crc32c its superblock checksums need) only where it is a module.
  if [[ $(kpkg_config_value EXT4_FS) == m ]]; then
    mods+=(ext4)
    [[ $(kpkg_config_value CRYPTO_CRC32C) == m ]] && mods+=(crc32c_generic)
  fi
  kpkg_modules "${mods[@]}"
  mkdir -p "$root"/{proc,sys,dev,tmp,run,root,etc,mnt}
  kpkg_busybox "$root"
  kpkg_install_modules "$root"
  [[ -f $work/minivmm-exit ]] && cp "$work/minivmm-exit" "$root/bin/minivmm-exit"
  write_init "$root/init"
  write_udhcpc_script "$root/etc/udhcpc.script"
  kpkg_cpio "$root" "$work/initramfs-$flavour.cpio.gz"
  echo "build-linux-guest: $flavour: $KPKG_PKG $KPKG_VERSION, modules: $(tr '\n' ' ' <"$root/etc/modules")" >&2
}

build_exit_helper "$work/minivmm-exit"
: >"$work/kernels.txt"
build_flavour cloud
kpkg_extract_vmlinux "$work/vmlinuz-cloud" "$work/vmlinux-cloud"
build_flavour generic

for f in "${outputs[@]}"; do mv -f "$work/$f" "$out/$f"; done
echo "build-linux-guest: wrote $out/{$(IFS=,; echo "${outputs[*]}")}"
