#!/usr/bin/env bash
# exec-demo.sh: minivmm's main job on real Linux. Builds the default Debian guest's kernel and its
# module tree (cached in the build tree), then runs a host command in a fresh VM of that kernel with
# `minivmm exec`: the guest prints its own kernel release and the host's /etc/os-release, which it
# reads over virtio-fs (the host's root, read-only). Where /dev/kvm is hardware KVM this takes a
# second or so; where it is missing or is PVM, minivmm runs inside a QEMU VM with nested KVM
# (tests/linux/nested-vm.sh), which takes ~30 s more.
# usage: scripts/exec-demo.sh [BUILD_DIR] [-- COMMAND [ARGS...]]   (default BUILD_DIR: build)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build
if [[ $# -gt 0 && $1 != -- ]]; then
  build=$(cd "$1" && pwd)
  shift
fi
[[ ${1:-} == -- ]] && shift
command=("$@")
# shellcheck disable=SC2016 # expanded in the guest
[[ ${#command[@]} -gt 0 ]] ||
  command=(sh -c 'echo "guest kernel: $(uname -r)"; echo "host /etc/os-release, read over virtio-fs:"; cat /etc/os-release')
minivmm=$build/minivmm
[[ -x $minivmm ]] || { echo "exec-demo: error: $minivmm is missing: build first (cmake --preset default && cmake --build --preset default)" >&2; exit 1; }

guest=$build/guest/linux
"$root/scripts/build-linux-guest.sh" "$guest" >&2
"$root/scripts/build-module-trees.sh" "$guest" modules-cloud >&2
modules=$(find "$guest/modules-cloud" -mindepth 2 -maxdepth 2 -name modules.dep -printf '%h\n' | head -n 1)
[[ -n $modules ]] || { echo "exec-demo: error: no module tree in $guest/modules-cloud" >&2; exit 1; }

cmd=("$minivmm" exec --kernel "$guest/vmlinuz-cloud" --modules "$modules" --timeout 120s -- "${command[@]}")
case $("$root/tests/linux/kvm-mode.sh") in
  direct) exec "${cmd[@]}" ;;
  nested)
    echo "exec-demo: no hardware KVM here; running minivmm inside a QEMU VM with nested KVM" >&2
    exec "$root/tests/linux/nested-vm.sh" --timeout 240 -- "${cmd[@]}" ;;
  *) echo "exec-demo: error: no usable /dev/kvm and no qemu-system-x86_64 to run a nested VM" >&2; exit 1 ;;
esac
