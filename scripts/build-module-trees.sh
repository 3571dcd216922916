#!/usr/bin/env bash
# build-module-trees.sh OUTDIR [TREE...]: the module trees of the default Linux guest's kernels as a host has
# them once its package is installed (depmod run: modules.dep, modules.builtin...), for `minivmm exec
# --modules` in the [linux] tests and the README's first command. Why: a kernel .deb ships its
# modules without modules.dep (its postinst runs depmod), and the guest images of
# build-linux-guest.sh hold only a few modules; the tests need whole trees, plain and compressed.
#
# Outputs in OUTDIR (each a directory RELEASE/ like /lib/modules/RELEASE):
#   modules-cloud/        the cloud kernel's modules as Debian 12 installs them (uncompressed;
#                         hard links into the download cache where it can)
#   modules-cloud-zst/    the same, each module compressed with zstd (as Ubuntu and Fedora ship them)
#   modules-generic-xz/   the generic kernel's modules, each compressed with xz (as Debian 13 ships them)
# TREE names which to build (default: all three); each is cached on its own (TREE/.kernel holds
# the package it came from) and rebuilt when that or this script changes.
# Env: MINIVMM_KERNEL_CACHE (download cache), FORCE=1.
set -euo pipefail

export KPKG_PROG=build-module-trees
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib-kernel-pkgs.sh
. "$here/lib-kernel-pkgs.sh"

[[ $# -ge 1 && $1 != -* ]] || { echo "usage: $0 OUTDIR [modules-cloud|modules-cloud-zst|modules-generic-xz]..." >&2; exit 2; }
out=$1
shift
wanted=("$@")
[[ ${#wanted[@]} -gt 0 ]] || wanted=(modules-cloud modules-cloud-zst modules-generic-xz)
mkdir -p "$out" || kpkg_die "cannot create $out"
out=$(cd "$out" && pwd)
command -v depmod >/dev/null || kpkg_die "depmod not found (apt-get install kmod)"

# shellcheck disable=SC2153 # set by kpkg_fetch
kpkg_fetch cloud
cloud_dir=$KPKG_DIR cloud_ver=$KPKG_KVER cloud_key="$KPKG_PKG $KPKG_VERSION"
kpkg_fetch generic
generic_dir=$KPKG_DIR generic_ver=$KPKG_KVER generic_key="$KPKG_PKG $KPKG_VERSION"

# tree SRC_ROOT RELEASE KEY DEST [COMPRESSOR...]: DEST/RELEASE as installed, modules compressed
# by COMPRESSOR (reading stdin, writing stdout) when given, then depmod. Nothing to do when DEST
# was built from KEY by this version of the script.
tree() {
  local src=$1 ver=$2 key=$3 dest=$4 ext=""
  shift 4
  if [[ ${FORCE:-0} != 1 && -f $dest/.kernel && $(cat "$dest/.kernel") == "$key" && $dest/.kernel -nt ${BASH_SOURCE[0]} ]]; then
    echo "build-module-trees: $dest is up to date"
    return 0
  fi
  local work=$dest.tmp
  rm -rf "$work" "$dest"
  mkdir -p "$work/lib/modules"
  # Hard links when the cache is on the same file system, copies otherwise.
  cp -al "$src/lib/modules/$ver" "$work/lib/modules/" 2>/dev/null || cp -a "$src/lib/modules/$ver" "$work/lib/modules/"
  if [[ $# -gt 0 ]]; then
    case $1 in xz) ext=.xz ;; zstd) ext=.zst ;; *) kpkg_die "unknown compressor $1" ;; esac
    # Each .ko becomes .ko.EXT in place (a hard link is replaced, never written through).
    # shellcheck disable=SC2016 # expanded by the inner sh
    find "$work/lib/modules/$ver" -name '*.ko' -type f -print0 |
      COMPRESS="$*" EXT=$ext xargs -0 -P "$(nproc)" -n 64 \
        sh -c 'for f; do $COMPRESS <"$f" >"$f.tmp" && mv "$f.tmp" "$f$EXT" && rm "$f"; done' sh ||
      kpkg_die "compressing the modules with $1 failed"
  fi
  depmod -b "$work" "$ver" || kpkg_die "depmod failed for $ver"
  mv "$work/lib/modules" "$dest"
  echo "$key" >"$dest/.kernel"
  rm -rf "$work"
  echo "build-module-trees: wrote $dest/$ver"
}

for t in "${wanted[@]}"; do
  case $t in
    modules-cloud) tree "$cloud_dir" "$cloud_ver" "$cloud_key" "$out/$t" ;;
    modules-cloud-zst) tree "$cloud_dir" "$cloud_ver" "$cloud_key zstd" "$out/$t" zstd -q -c -3 ;;
    modules-generic-xz) tree "$generic_dir" "$generic_ver" "$generic_key xz" "$out/$t" xz -c -T1 --check=crc32 -3 ;;
    *) kpkg_die "unknown tree '$t' (modules-cloud, modules-cloud-zst, modules-generic-xz)" ;;
  esac
done
