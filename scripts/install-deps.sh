#!/usr/bin/env bash
# install-deps.sh: installs every Debian 12 package minivmm needs to build, test and build its guests.
# Why: machines are fresh; this is the one list (build, tests, guest images, nested-KVM harness).
# Idempotent and non-interactive; refreshes apt lists only when they are missing or older than a day.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ make pkg-config binutils linux-libc-dev # Ninja: the presets' generator
  libfmt-dev libspdlog-dev catch2 libcli11-dev liburing-dev
  liblzma-dev libzstd-dev zlib1g-dev libc6-dev # minivmm exec: module decompression, the static guest agent; qcow2: compressed clusters
  # user-mode networking: libslirp's headers (its slirp.pc requires glib-2.0's, which
  # libslirp-dev does not depend on); libslirp0 itself is loaded at run time
  libslirp-dev libglib2.0-dev
  libseccomp-dev # seccomp-bpf allow-lists per thread (src/util/seccomp_filter.*)
  clang libclang-rt-14-dev
  # guest images (scripts/build-linux-guest.sh) and the nested-KVM harness (tests/linux/)
  qemu-system-x86 qemu-utils busybox-static cpio gzip xz-utils zstd lz4 kmod util-linux
  acpica-tools iproute2 python3
  # [linux] disk tests (mkfs.ext4 -d, debugfs, e2fsck) and network namespaces (sysctl)
  e2fsprogs procps
  fio # bench/blk.sh: the host's own direct-I/O figures
  iperf3 # bench/net.sh user rows: TCP through user-mode networking, in the guest and on the host
  # lint
  shellcheck
)

if [[ ${1:-} == --list ]]; then printf '%s\n' "${packages[@]}"; exit 0; fi
[[ $# == 0 ]] || { echo "usage: $0 [--list]" >&2; exit 2; }

sudo=()
if [[ $EUID != 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: error: run as root (or install sudo)" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive

# Everything present already? Then do nothing (no network, no root needed).
missing=()
for p in "${packages[@]}"; do
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
done
if [[ ${#missing[@]} == 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages installed"
  exit 0
fi

lists=/var/lib/apt/lists
if ! compgen -G "$lists/*_Packages*" >/dev/null ||
  [[ -z $(find "$lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 -print -quit) ]]; then
  "${sudo[@]}" apt-get update -qq
fi
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
