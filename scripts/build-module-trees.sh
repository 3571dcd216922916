#!/usr/bin/env bash
# build-module-trees.sh OUTDIR: the module trees of the default Linux guest's kernels as a host has
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
#   module-trees.txt      which kernels (also the cache key)
# Env: MINIVMM_KERNEL_CACHE (download cache), FORCE=1.
set -euo pipefail

export KPKG_PROG=build-module-trees
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib-kernel-pkgs.sh
. "$here/lib-kernel-pkgs.sh"

[[ $# == 1 && $1 != -* ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
mkdir -p "$out" || kpkg_die "cannot create $out"
out=$(cd "$out" && pwd)
command -v depmod >/dev/null || kpkg_die "depmod not found (apt-get install kmod)"

# shellcheck disable=SC2153 # set by kpkg_fetch
kpkg_fetch cloud
cloud_dir=$KPKG_DIR cloud_ver=$KPKG_KVER cloud_key="cloud $KPKG_PKG $KPKG_VERSION"
kpkg_fetch generic
generic_dir=$KPKG_DIR generic_ver=$KPKG_KVER generic_key="generic $KPKG_PKG $KPKG_VERSION"
key="$cloud_key"$'\n'"$generic_key"
if [[ ${FORCE:-0} != 1 && -f $out/module-trees.txt && $(cat "$out/module-trees.txt") == "$key" &&
      $out/module-trees.txt -nt ${BASH_SOURCE[0]} ]]; then
  echo "build-module-trees: $out is up to date"
  exit 0
fi
rm -f "$out/module-trees.txt"

# tree SRC_ROOT RELEASE DEST [COMPRESSOR...]: DEST/RELEASE as installed, modules compressed by
# COMPRESSOR (reading stdin, writing stdout) when given, then depmod.
tree() {
  local src=$1 ver=$2 dest=$3 ext=""
  shift 3
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
  rm -rf "$work"
}

tree "$cloud_dir" "$cloud_ver" "$out/modules-cloud"
tree "$cloud_dir" "$cloud_ver" "$out/modules-cloud-zst" zstd -q -c -3
tree "$generic_dir" "$generic_ver" "$out/modules-generic-xz" xz -c -T1 --check=crc32 -3
echo "$key" >"$out/module-trees.txt"
echo "build-module-trees: wrote $out/{modules-cloud,modules-cloud-zst,modules-generic-xz}/ ($cloud_ver, $generic_ver)"
