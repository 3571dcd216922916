#!/usr/bin/env bash
# bench/lib-cycle.sh [N]: create+boot+destroy of one test-guest VM through libminivmm, N times in
# one process (default 20): median, min and max (build/bench/minivmm-lib-cycle, see its source).
# Where there is no hardware KVM it re-runs itself inside tests/linux/nested-vm.sh, where only
# the ratios to other nested figures mean much.
set -euo pipefail

BENCH_PROG=lib-cycle
# shellcheck source=bench/lib-bench.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-bench.sh"

n=${1:-${MINIVMM_BENCH_N:-20}}
[[ $n =~ ^[1-9][0-9]*$ ]] || bench_die "N must be a positive number (got '$n')"
bench_setup $((120 + n * 10)) 2048 "${BASH_SOURCE[0]}" "$@"

prog=$BENCH_BUILD/bench/minivmm-lib-cycle
guest=$BENCH_BUILD/tests/guest/minivmm-test-guest.elf
bench_need "$prog"
[[ -f $guest ]] || bench_die "$guest not built (cmake --build build --target test-guest)"
echo "lib-cycle: $BENCH_WHERE"
"$prog" "$guest" "$n"
