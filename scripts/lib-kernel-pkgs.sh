# shellcheck shell=bash
# lib-kernel-pkgs.sh: helpers shared by scripts/build-linux-guest.sh and tests/linux/nested-vm.sh.
# Why: both need stock Debian kernels (downloaded once with `apt-get download`, extracted into a
# shared cache), their modules in dependency order, and small initramfs archives built without root.
# Source it; it defines kpkg_* functions and uses $KPKG_PROG for messages.
#
# Cache: ${MINIVMM_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/minivmm-kernels}/<package>_<version>/
# Works offline once a flavour has been extracted (falls back to the newest cached extraction).

: "${KPKG_PROG:=minivmm}"
KPKG_CACHE=${MINIVMM_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/minivmm-kernels}

kpkg_die() { echo "$KPKG_PROG: error: $*" >&2; exit 1; }
kpkg_warn() { echo "$KPKG_PROG: warning: $*" >&2; }

# kpkg_meta FLAVOUR: the Debian metapackage that tracks the newest kernel of that flavour.
kpkg_meta() {
  case $1 in
    cloud) echo linux-image-cloud-amd64 ;;
    generic) echo linux-image-amd64 ;;
    *) kpkg_die "unknown kernel flavour '$1' (want cloud or generic)" ;;
  esac
}

# kpkg_resolve FLAVOUR: prints "PACKAGE VERSION" of the kernel the metapackage depends on, or fails.
kpkg_resolve() {
  local meta pkg ver try
  meta=$(kpkg_meta "$1")
  for try in 1 2; do
    pkg=$(apt-cache depends "$meta" 2>/dev/null |
      awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }') || true
    if [[ -n $pkg ]]; then
      ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }') || true
      [[ -n $ver && $ver != "(none)" ]] && { echo "$pkg $ver"; return 0; }
    fi
    # Empty package lists (fresh machine): refresh once if we may.
    [[ $try == 1 && $EUID == 0 ]] || break
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || break
  done
  return 1
}

# kpkg_recent FILE: true if FILE exists and was modified within the last day. apt-cache takes
# seconds per call here (no binary package cache), so callers re-check apt only once a day.
kpkg_recent() { [[ -e $1 && -n $(find "$1" -maxdepth 0 -mmin -1440 2>/dev/null) ]]; }

# kpkg_cached FLAVOUR: prints the newest complete cached extraction dir of FLAVOUR, if any.
kpkg_cached() {
  local d best=""
  for d in "$KPKG_CACHE"/linux-image-*_*/; do
    [[ -e $d/.complete ]] || continue
    d=${d%/}
    case ${d##*/} in
      *-cloud-amd64_*) [[ $1 == cloud ]] || continue ;;
      *-rt-amd64_*) continue ;;
      *-amd64_*) [[ $1 == generic ]] || continue ;;
      *) continue ;;
    esac
    [[ -z $best || $d -nt $best ]] && best=$d
  done
  [[ -n $best ]] && echo "$best"
}

# kpkg_fetch FLAVOUR: downloads + extracts the kernel package (once) and sets
#   KPKG_DIR (extracted root), KPKG_PKG, KPKG_VERSION, KPKG_KVER (uname -r), KPKG_VMLINUZ.
kpkg_fetch() {
  local flavour=$1 res dir tmp deb
  mkdir -p "$KPKG_CACHE" || kpkg_die "cannot create cache dir $KPKG_CACHE"
  if res=$(kpkg_resolve "$flavour"); then
    KPKG_PKG=${res% *} KPKG_VERSION=${res#* }
    dir=$KPKG_CACHE/${KPKG_PKG}_${KPKG_VERSION}
    if [[ ! -e $dir/.complete ]]; then
      (
        flock 9
        [[ -e $dir/.complete ]] && exit 0
        tmp=$(mktemp -d "$KPKG_CACHE/.dl.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        echo "$KPKG_PROG: downloading $KPKG_PKG $KPKG_VERSION" >&2
        local -a aptopt=()
        # apt drops to user _apt for downloads when root; it cannot write into our private dir.
        [[ $EUID == 0 ]] && aptopt=(-o APT::Sandbox::User=root)
        (cd "$tmp" && apt-get download -qq "${aptopt[@]}" "$KPKG_PKG=$KPKG_VERSION" >/dev/null) ||
          kpkg_die "apt-get download $KPKG_PKG=$KPKG_VERSION failed (network? run scripts/install-deps.sh)"
        deb=$(echo "$tmp"/*.deb)
        [[ -f $deb ]] || kpkg_die "apt-get download produced no .deb for $KPKG_PKG"
        mkdir "$tmp/root"
        dpkg-deb -x "$deb" "$tmp/root" || kpkg_die "cannot extract $deb"
        rm -rf "$dir"
        mv "$tmp/root" "$dir"
        touch "$dir/.complete"
      ) 9>"$KPKG_CACHE/.lock" || exit 1
    fi
  else
    dir=$(kpkg_cached "$flavour") ||
      kpkg_die "cannot resolve $(kpkg_meta "$flavour") with apt-cache and nothing cached (run scripts/install-deps.sh)"
    kpkg_warn "apt-cache cannot resolve $(kpkg_meta "$flavour"); using cached ${dir##*/}"
    res=${dir##*/}
    KPKG_PKG=${res%%_*} KPKG_VERSION=${res#*_}
  fi
  KPKG_DIR=$dir
  KPKG_KVER=${KPKG_PKG#linux-image-}
  KPKG_VMLINUZ=$dir/boot/vmlinuz-$KPKG_KVER
  [[ -f $KPKG_VMLINUZ ]] || kpkg_die "no $KPKG_VMLINUZ in $KPKG_PKG"
  [[ -d $dir/lib/modules/$KPKG_KVER ]] || kpkg_die "no lib/modules/$KPKG_KVER in $KPKG_PKG"
}

# kpkg_extract_vmlinux BZIMAGE OUT: decompresses the bzImage payload (located via the boot protocol
# header: payload_offset/payload_length) and checks it is an ELF with a PVH entry note.
kpkg_extract_vmlinux() {
  local bz=$1 dst=$2 setup po pl start magic
  read -r setup po pl < <(python3 - "$bz" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read(0x260)
if d[0x202:0x206] != b"HdrS":
    sys.exit("not a bzImage")
print(d[0x1f1] or 4, *struct.unpack_from("<II", d, 0x248))
PY
  ) || kpkg_die "$bz: not a bzImage"
  start=$(( (setup + 1) * 512 + po ))
  magic=$(od -An -tx1 -j "$start" -N 6 "$bz" | tr -d ' \n')
  # The last 4 bytes of the payload are the uncompressed size (appended by the kernel build).
  local -a dec
  case $magic in
    1f8b*) dec=(gzip -dc) ;;
    fd377a585a00) dec=(xz -dc) ;;
    28b52ffd*) dec=(zstd -qdc) ;;
    02214c18*) dec=(lz4 -dc) ;;   # lz4 legacy frame (Debian's cloud kernel uses CONFIG_KERNEL_LZ4)
    5d0000*) dec=(xz --format=lzma -dc) ;;
    *) kpkg_die "$bz: unknown payload compression (magic $magic)" ;;
  esac
  command -v "${dec[0]}" >/dev/null || kpkg_die "${dec[0]} not installed (run scripts/install-deps.sh)"
  dd if="$bz" bs=1M iflag=skip_bytes,count_bytes skip="$start" count=$((pl - 4)) status=none |
    "${dec[@]}" >"$dst.tmp" 2>/dev/null ||
    { [[ ${dec[0]} == gzip ]] || kpkg_die "$bz: ${dec[*]} failed on the payload"; }
  LC_ALL=C readelf -h "$dst.tmp" 2>/dev/null | grep -q 'Type:.*EXEC' || kpkg_die "$bz: payload is not an ELF executable"
  LC_ALL=C readelf -nW "$dst.tmp" | grep -Eq 'Xen[[:space:]]+0x[0-9a-f]+[[:space:]]+.*\(0x00000012\)' ||
    kpkg_die "$bz: vmlinux has no PVH note (Xen, type 18)"
  mv "$dst.tmp" "$dst"
}

# kpkg_config_value OPTION: prints y, m or n for CONFIG_OPTION of the fetched kernel.
kpkg_config_value() {
  local v
  v=$(sed -n "s/^CONFIG_$1=\\(.*\\)/\\1/p" "$KPKG_DIR/boot/config-$KPKG_KVER")
  echo "${v:-n}"
}

# kpkg_modules NAME...: sets KPKG_MODS to "name path" lines of the named modules and all their
# dependencies (modinfo -F depends), dependencies first. Built-in modules are skipped silently,
# missing ones with a warning.
kpkg_modules() {
  local moddir=$KPKG_DIR/lib/modules/$KPKG_KVER f n
  local -A path=() seen=()
  local -a builtin=()
  while IFS= read -r f; do
    n=${f##*/}; n=${n%%.ko*}; path[${n//-/_}]=$f
  done < <(find "$moddir/kernel" -name '*.ko*' -type f)
  if [[ -f $moddir/modules.builtin ]]; then
    mapfile -t builtin < <(sed 's|.*/||; s|\.ko$||; s|-|_|g' "$moddir/modules.builtin")
  fi
  local -A isbuiltin=()
  for n in "${builtin[@]}"; do isbuiltin[$n]=1; done
  KPKG_MODS=""
  _kpkg_visit() {
    local m=${1//-/_} d deps
    [[ -n ${seen[$m]:-} ]] && return 0
    seen[$m]=1
    if [[ -z ${path[$m]:-} ]]; then
      [[ -n ${isbuiltin[$m]:-} ]] || kpkg_warn "module $1 not found in $KPKG_PKG (skipped)"
      return 0
    fi
    deps=$(modinfo -F depends "${path[$m]}" 2>/dev/null) || kpkg_die "modinfo failed on ${path[$m]}"
    for d in ${deps//,/ }; do _kpkg_visit "$d"; done
    KPKG_MODS+="$m ${path[$m]}"$'\n'
  }
  for n in "$@"; do _kpkg_visit "$n"; done
  unset -f _kpkg_visit
}

# kpkg_install_modules DESTDIR: copies KPKG_MODS to DESTDIR/lib/modules/NAME.ko (decompressed)
# and writes their load order to DESTDIR/etc/modules.
kpkg_install_modules() {
  local dest=$1 n p
  mkdir -p "$dest/lib/modules" "$dest/etc"
  : >"$dest/etc/modules"
  while read -r n p; do
    [[ -n $n ]] || continue
    case $p in
      *.ko.xz) xz -dc "$p" >"$dest/lib/modules/$n.ko" ;;
      *.ko.zst) zstd -qdc "$p" >"$dest/lib/modules/$n.ko" ;;
      *.ko.gz) gzip -dc "$p" >"$dest/lib/modules/$n.ko" ;;
      *) cp "$p" "$dest/lib/modules/$n.ko" ;;
    esac
    echo "$n" >>"$dest/etc/modules"
  done <<<"$KPKG_MODS"
}

# kpkg_busybox DESTDIR: installs busybox-static as DESTDIR/bin/busybox plus one symlink per applet.
kpkg_busybox() {
  local dest=$1 bb a
  bb=$(command -v busybox) || kpkg_die "busybox not found (apt-get install busybox-static)"
  # Debian's busybox-static installs /bin/busybox; the dynamic 'busybox' package would not work.
  if ! file_is_static "$bb"; then kpkg_die "$bb is not statically linked (apt-get install busybox-static)"; fi
  mkdir -p "$dest/bin" "$dest/sbin" "$dest/usr/bin" "$dest/usr/sbin"
  cp "$bb" "$dest/bin/busybox"
  for a in $("$bb" --list); do
    [[ $a == busybox || -e $dest/bin/$a ]] || ln -s busybox "$dest/bin/$a"
  done
}

file_is_static() {
  # A static ELF has no PT_INTERP program header.
  ! LC_ALL=C readelf -lW "$1" 2>/dev/null | grep -q 'INTERP'
}

# kpkg_cpio SRCDIR OUT.cpio.gz: writes a gzip'd newc archive of SRCDIR, owned by root with
# mtime 0, plus the /dev/console node the kernel opens before /init (no root needed for that).
kpkg_cpio() {
  local src=$1 out=$2
  python3 - "$src" <<'PY' | gzip -n -6 >"$out.tmp"
import os, stat, sys
src = sys.argv[1]
out = sys.stdout.buffer
ino = [0]
def entry(name, mode, data=b"", rdev=(0, 0), nlink=1):
    ino[0] += 1
    nm = name.encode() + b"\0"
    hdr = "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X" % (
        ino[0], mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(nm), 0)
    out.write(hdr.encode() + nm + b"\0" * (-(110 + len(nm)) % 4))
    out.write(data + b"\0" * (-len(data) % 4))
entries = []
for root, dirs, files in os.walk(src):
    dirs.sort()
    for n in sorted(dirs) + sorted(files):
        entries.append(os.path.join(root, n))
entries.sort()
have_dev = False
for p in entries:
    rel = os.path.relpath(p, src)
    st = os.lstat(p)
    if stat.S_ISDIR(st.st_mode):
        entry(rel, stat.S_IFDIR | 0o755, nlink=2)
        have_dev = have_dev or rel == "dev"
    elif stat.S_ISLNK(st.st_mode):
        entry(rel, stat.S_IFLNK | 0o777, os.readlink(p).encode())
    elif stat.S_ISREG(st.st_mode):
        with open(p, "rb") as f:
            entry(rel, stat.S_IFREG | (0o755 if st.st_mode & 0o111 else 0o644), f.read())
if not have_dev:
    entry("dev", stat.S_IFDIR | 0o755, nlink=2)
entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
entry("TRAILER!!!", 0)
PY
  mv "$out.tmp" "$out"
}

# kpkg_init_param_fn: prints the shell function param() for a generated /init (busybox sh):
# `param KEY` prints the value of KEY=VALUE on the kernel command line (last one wins); quotes
# ("..." or '...') group words and are removed, e.g. minivmm.run="echo a b" -> echo a b. It
# prints nothing if KEY is absent.
kpkg_init_param_fn() {
  cat <<'PARAM'
param() {
  awk -v key="$1" '
    function emit(t,  k) { k = index(t, "="); if (k > 1 && substr(t, 1, k - 1) == key) { val = substr(t, k + 1); found = 1 } }
    { s = s $0 " " }
    END {
      n = length(s); tok = ""; q = ""; have = 0
      for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (q != "") { if (c == q) q = ""; else tok = tok c; continue }
        if (c == "\"" || c == "\047") { q = c; have = 1; continue }
        if (c == " " || c == "\t" || c == "\n") { if (have || tok != "") emit(tok); tok = ""; have = 0; continue }
        tok = tok c
      }
      if (found) print val
    }' /proc/cmdline
}
PARAM
}
