# lib-bench.sh: shared helpers of bench/*.sh (sourced, not run).
#   bench_setup SCRIPT ARGS...   where there is no hardware KVM, re-runs SCRIPT inside
#                                tests/linux/nested-vm.sh (a QEMU TCG VM with nested SVM) and exits
#                                with its status; where there is, returns and the script runs here.
#   bench_now_us                 monotonic-enough wall clock in microseconds (bash's EPOCHREALTIME, no fork)
#   bench_stats FILE             "median min max" of the numbers in FILE (one a line)
# Env: MINIVMM_BUILD_DIR (default ROOT/build), MINIVMM_BENCH_NESTED_TIMEOUT (seconds, for the nested
#      VM; default set by the script), MINIVMM_KVM_MODE (force direct|nested|none, see kvm-mode.sh).
# shellcheck shell=bash

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_BUILD=${MINIVMM_BUILD_DIR:-$BENCH_ROOT/build}
# shellcheck disable=SC2034 # used by the scripts that source this
BENCH_WHERE="hardware KVM"

bench_die() { echo "${BENCH_PROG:-bench}: error: $*" >&2; exit 1; }

# bench_setup NESTED_TIMEOUT_S NESTED_MEM_MB SCRIPT ARGS...
bench_setup() {
  local timeout_s=$1 mem=$2 script=$3 mode
  shift 3
  if [[ ${MINIVMM_BENCH_IN_NESTED:-0} == 1 ]]; then
    # We are the re-run inside the outer VM: its /dev/kvm is nested KVM on TCG.
    [[ -c /dev/kvm ]] || bench_die "no /dev/kvm inside the nested VM"
    # shellcheck disable=SC2034 # used by the scripts that source this
    BENCH_WHERE="nested KVM inside QEMU TCG (absolute times are far above hardware KVM; compare ratios)"
    return 0
  fi
  mode=$("$BENCH_ROOT/tests/linux/kvm-mode.sh")
  case $mode in
    direct) return 0 ;;
    nested)
      echo "${BENCH_PROG:-bench}: no hardware KVM here; re-running inside tests/linux/nested-vm.sh" >&2
      export MINIVMM_BENCH_IN_NESTED=1 # MINIVMM_* variables reach the command inside
      export MINIVMM_BUILD_DIR=$BENCH_BUILD
      exec "$BENCH_ROOT/tests/linux/nested-vm.sh" --timeout "${MINIVMM_BENCH_NESTED_TIMEOUT:-$timeout_s}" \
        --mem "$mem" -- "$(cd "$(dirname "$script")" && pwd)/$(basename "$script")" "$@"
      ;;
    *) bench_die "no KVM and no qemu-system-x86_64: nothing to measure with" ;;
  esac
}

bench_now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }

bench_need() {
  local c
  for c in "$@"; do
    [[ -x $c ]] || command -v "$c" >/dev/null || bench_die "$c not found${BENCH_NEED_HINT:+ ($BENCH_NEED_HINT)}"
  done
}

# bench_stats FILE: median (mean of the middle two for an even count), min, max; integers in, one
# decimal out.
bench_stats() {
  sort -n "$1" | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "- - -"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.1f %.1f %.1f\n", m, v[1], v[NR] }'
}
