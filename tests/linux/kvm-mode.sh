#!/usr/bin/env bash
# kvm-mode.sh: prints how this machine can run KVM tests, one word, and exits 0:
#   direct  /dev/kvm is usable and backed by hardware virtualization (vmx/svm, not kvm-pvm)
#   nested  no usable hardware KVM, but qemu-system-x86_64 can provide one (tests/linux/nested-vm.sh)
#   none    neither
# Why: run-tier.sh picks how to run the [kvm]/[linux] test tiers from this.
# MINIVMM_KVM_MODE=direct|nested|none overrides the detection.
set -euo pipefail

if [[ -n ${MINIVMM_KVM_MODE:-} ]]; then
  case $MINIVMM_KVM_MODE in
    direct|nested|none) echo "$MINIVMM_KVM_MODE"; exit 0 ;;
    *) echo "kvm-mode: error: MINIVMM_KVM_MODE must be direct, nested or none" >&2; exit 2 ;;
  esac
fi

hardware_kvm() {
  [[ -c /dev/kvm && -r /dev/kvm && -w /dev/kvm ]] || return 1
  # Opening it proves a driver is bound (the node can exist without one).
  { exec 3<>/dev/kvm; } 2>/dev/null || return 1
  exec 3>&-
  # PVM (kvm_pvm) offers /dev/kvm without hardware virtualization; its guests are not what we test.
  if [[ -d /sys/module/kvm_pvm ]]; then
    local refs
    refs=$(cat /sys/module/kvm_pvm/refcnt 2>/dev/null || echo 1)
    [[ $refs == 0 ]] || return 1
  fi
  grep -q -w -E 'vmx|svm' /proc/cpuinfo
}

if hardware_kvm; then
  echo direct
elif command -v qemu-system-x86_64 >/dev/null; then
  echo nested
else
  echo none
fi
