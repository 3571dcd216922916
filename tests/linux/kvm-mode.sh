#!/usr/bin/env bash
# kvm-mode.sh [--guest linux|test]: prints how this machine can run KVM tests, one word, and exits 0:
#   direct  /dev/kvm is usable for that guest: backed by hardware virtualization (vmx/svm), or,
#           for the project's own test guest (--guest test), any working /dev/kvm, PVM included
#   nested  no such /dev/kvm, but qemu-system-x86_64 can provide one (tests/linux/nested-vm.sh)
#   none    neither
# Why: run-tier.sh, tests/downstream/run.sh, the demo and bench scripts pick how to run from this.
# On PVM (kvm_pvm, KVM as a software backend) guest kernel code is emulated: a stock Linux
# kernel does not boot in useful time, so Linux guests (the default) go to a nested VM. The
# test guest (tests/guest/) is small CPL0 code made for it: its [kvm] tier runs there
# directly, ~2.5x faster than under the nested VM's TCG and without its CPU cost.
# MINIVMM_KVM_MODE=direct|nested|none overrides the detection.
set -euo pipefail

guest=linux
case ${1:-} in
  "") ;;
  --guest)
    case ${2:-} in linux|test) guest=$2 ;; *) echo "kvm-mode: error: --guest wants linux or test" >&2; exit 2 ;; esac ;;
  *) echo "usage: $0 [--guest linux|test]" >&2; exit 2 ;;
esac

if [[ -n ${MINIVMM_KVM_MODE:-} ]]; then
  case $MINIVMM_KVM_MODE in
    direct|nested|none) echo "$MINIVMM_KVM_MODE"; exit 0 ;;
    *) echo "kvm-mode: error: MINIVMM_KVM_MODE must be direct, nested or none" >&2; exit 2 ;;
  esac
fi

usable_kvm() {
  [[ -c /dev/kvm && -r /dev/kvm && -w /dev/kvm ]] || return 1
  # Opening it proves a driver is bound (the node can exist without one).
  { exec 3<>/dev/kvm; } 2>/dev/null || return 1
  exec 3>&-
}

pvm_kvm() {
  [[ -d /sys/module/kvm_pvm ]] || return 1
  local refs
  refs=$(cat /sys/module/kvm_pvm/refcnt 2>/dev/null || echo 1)
  [[ $refs != 0 ]]
}

hardware_kvm() {
  usable_kvm || return 1
  ! pvm_kvm || return 1
  grep -q -w -E 'vmx|svm' /proc/cpuinfo
}

if hardware_kvm || { [[ $guest == test ]] && usable_kvm; }; then
  echo direct
elif command -v qemu-system-x86_64 >/dev/null; then
  echo nested
else
  echo none
fi
