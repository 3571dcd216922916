#!/usr/bin/env bash
# demo.sh: boots the project's test guest in demo mode, which prints what minivmm gives a
# guest (boot protocol, memory map, CPUs, devices, ACPI tables) and powers off.
# Where /dev/kvm is hardware KVM this takes well under a second. Where it is missing or is
# PVM (no hardware virtualisation), the same command runs inside a QEMU VM with nested
# KVM (tests/linux/nested-vm.sh), which takes ~10 s more.
# usage: scripts/demo.sh [BUILD_DIR] [extra minivmm flags...]   (default BUILD_DIR: build)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
[[ $# -gt 0 ]] && shift
minivmm=$build/minivmm
guest=$build/tests/guest/minivmm-test-guest.elf
for f in "$minivmm" "$guest"; do
  [[ -e $f ]] || { echo "demo: error: $f is missing: build first (cmake --preset default && cmake --build --preset default)" >&2; exit 1; }
done

cmd=("$minivmm" --kernel "$guest" --cmdline "test=demo" --cpus 2 --mem 256M --timeout 60s "$@")
case $("$root/tests/linux/kvm-mode.sh") in
  direct) exec "${cmd[@]}" ;;
  nested)
    echo "demo: no hardware KVM here; running minivmm inside a QEMU VM with nested KVM" >&2
    exec "$root/tests/linux/nested-vm.sh" --timeout 120 -- "${cmd[@]}" ;;
  *) echo "demo: error: no usable /dev/kvm and no qemu-system-x86_64 to run a nested VM" >&2; exit 1 ;;
esac
