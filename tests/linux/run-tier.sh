#!/usr/bin/env bash
# run-tier.sh TIER TEST_BINARY [CATCH2 ARGS...]: runs the Catch2 tests tagged [TIER] where KVM is.
# Why: ctest's kvm and linux tiers need /dev/kvm. Where kvm-mode.sh says the tier's guest can run
# on this /dev/kvm (hardware KVM; for the [kvm] tier's test guest, PVM too) the binary runs
# directly; otherwise inside tests/linux/nested-vm.sh's QEMU VM with nested KVM; with neither the
# tier is reported as SKIPPED and passes. The exit status is the test binary's.
# Env: MINIVMM_KVM_MODE (force direct|nested|none), MINIVMM_NESTED_TIMEOUT (seconds, default 900),
#      MINIVMM_NESTED_ARGS (extra nested-vm.sh options, e.g. "--rw-dir /some/dir --mem 4096").
set -euo pipefail

[[ $# -ge 2 ]] || { echo "usage: $0 TIER TEST_BINARY [CATCH2 ARGS...]" >&2; exit 2; }
tier=$1 bin=$2
shift 2
[[ -x $bin ]] || { echo "run-tier: error: test binary $bin not found or not executable" >&2; exit 127; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The [kvm] tier boots the project's test guest; every other tier boots Linux.
case $tier in kvm) guest=test ;; *) guest=linux ;; esac
mode=$("$here/kvm-mode.sh" --guest "$guest")
case $mode in
  direct)
    echo "run-tier: [$tier] directly on this host's /dev/kvm" >&2
    MINIVMM_REQUIRE_KVM=1 exec "$bin" "[$tier]" --use-colour no --durations yes "$@"
    ;;
  nested)
    echo "run-tier: [$tier] inside a QEMU VM with nested KVM (no hardware /dev/kvm here)" >&2
    [[ $bin == /* ]] || bin=$PWD/$bin
    # shellcheck disable=SC2206 # MINIVMM_NESTED_ARGS is a list of options, split on purpose
    extra=(${MINIVMM_NESTED_ARGS:-})
    # 6 GiB: the tests give guests up to 3.5 GiB, and minivmm refuses guests larger than
    # the RAM of the machine it runs on (here, the outer VM).
    export MINIVMM_REQUIRE_KVM=1 # inside, a missing /dev/kvm is a failure, not a skip
    # Under TCG the outer VM has been seen to freeze (no output until its time limit), mostly
    # with 2 outer vCPUs (nested-vm.sh now defaults to 1). Only that is retried, once and
    # loudly: nested-vm.sh writes MINIVMM_NESTED_FAILURE_FILE when the outer VM stopped without
    # reporting the tests' status. A failing test is never retried, so an intermittent
    # failure shows. The limits are well above the run time on an idle machine ([kvm] 47 s,
    # [linux] shards 100-200 s) and on a loaded one (seen: [kvm] 308 s, a [linux] shard 687 s,
    # with two shards and a build sharing 2 cores), and below ctest's TIMEOUTs.
    case $tier in kvm) limit=700 ;; *) limit=1500 ;; esac
    failure_file=$(mktemp "${TMPDIR:-/tmp}/run-tier.XXXXXX")
    trap 'rm -f "$failure_file"' EXIT
    for attempt in 1 2; do
      rc=0
      : >"$failure_file"
      MINIVMM_NESTED_FAILURE_FILE=$failure_file \
        "$here/nested-vm.sh" --timeout "${MINIVMM_NESTED_TIMEOUT:-$limit}" --mem 6144 "${extra[@]}" -- \
        "$bin" "[$tier]" --use-colour no --durations yes "$@" || rc=$?
      if [[ $rc == 0 || ! -s $failure_file || $attempt == 2 ]]; then
        exit "$rc"
      fi
      echo "run-tier: WARNING: the outer VM failed ($(cat "$failure_file")); trying the [$tier] run once more" >&2
    done
    ;;
  *)
    echo "************************************************************" >&2
    echo "SKIPPED: no KVM and no QEMU: the [$tier] tests did not run" >&2
    echo "************************************************************" >&2
    echo "SKIPPED: no KVM and no QEMU"
    exit 0
    ;;
esac
