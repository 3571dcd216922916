#!/usr/bin/env bash
# fuzz/soak.sh SECONDS [TARGET...]: runs each libFuzzer target (default: all of them) for
# SECONDS from its committed corpus (fuzz/corpus/<name without fuzz_>/, only read: new finds go
# to a scratch directory), one after the other, and prints one line per target: executions,
# exec/s, peak RSS, and the verdict. A crash, leak, timeout or out-of-memory report of any
# target fails the run (exit 1) and its reproducer is kept in $MINIVMM_FUZZ_ARTIFACTS (default
# a directory under /tmp, printed). Memory: a run whose RSS passes 2 GiB, or one allocation of
# more than 256 MiB (the largest a device may make is a 4 MiB bounce buffer), fails; the
# virtio target also checks each device's kMaxBytesHeld after every step. For a soak of ~10
# million executions per target, give
# SECONDS = 10e6 / exec/s (about an hour at 3,000 exec/s).
# Env: MINIVMM_FUZZ_BUILD (default build-asan: cmake --preset asan && cmake --build --preset asan).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $# -ge 1 && $1 =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 SECONDS [TARGET...]" >&2; exit 2; }
seconds=$1
shift
build=${MINIVMM_FUZZ_BUILD:-$root/build-asan}
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(fuzz_virtio fuzz_loader fuzz_platform fuzz_cli fuzz_user_net fuzz_virtqueue fuzz_vcpu_exit fuzz_fs fuzz_agent fuzz_console_ports fuzz_qcow2)
artifacts=${MINIVMM_FUZZ_ARTIFACTS:-$(mktemp -d "${TMPDIR:-/tmp}/minivmm-fuzz-artifacts.XXXXXX")}
mkdir -p "$artifacts"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/minivmm-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

failed=0
for target in "${targets[@]}"; do
  bin=$build/fuzz/$target
  [[ -x $bin ]] || { echo "soak: error: $bin not built (cmake --preset asan && cmake --build --preset asan)" >&2; exit 2; }
  corpus=$root/fuzz/corpus/${target#fuzz_}
  mkdir -p "$scratch/$target"
  log=$scratch/$target.log
  rc=0
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$target-" "$scratch/$target" "$corpus" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
  if [[ $rc == 0 ]]; then
    verdict=ok
  else
    verdict="FAILED (exit $rc)"
    failed=1
  fi
  printf 'soak: %-14s %10s execs %7s exec/s  peak RSS %5s MB  %s\n' "$target" "${execs:-?}" "${speed:-?}" \
    "${rss:-?}" "$verdict"
  if [[ $rc != 0 ]]; then
    grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED)' "$log" | tail -n 60 >&2
  fi
done
if [[ $failed != 0 ]]; then
  echo "soak: reproducers are in $artifacts" >&2
  exit 1
fi
rm -rf "$artifacts"
