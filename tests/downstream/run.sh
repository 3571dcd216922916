#!/usr/bin/env bash
# tests/downstream/run.sh BUILD_DIR: libminivmm as another project uses it. Installs BUILD_DIR
# to a temporary prefix, copies examples/ out of the source tree, configures and builds it there
# with find_package(minivmm) (nothing else points it at the source tree), then runs the three
# programs on the test guest: directly where /dev/kvm can run it (hardware KVM or PVM), inside
# tests/linux/nested-vm.sh otherwise (as the [kvm] tier does), not at all where neither is.
# Exit status: 0 all good; anything else is the failing step's.
set -euo pipefail

[[ $# == 1 ]] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
guest=$build/tests/guest/minivmm-test-guest.elf
[[ -f $guest ]] || { echo "downstream: error: $guest not built" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/minivmm-downstream.XXXXXX")
trap 'rm -rf "$work"' EXIT
step() { echo "downstream: $*" >&2; }

step "installing $build to $work/prefix"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" || { cat "$work/install.log" >&2; exit 1; }
for f in include/minivmm/minivmm.hpp lib/libminivmm.a lib/cmake/minivmm/minivmmConfig.cmake bin/minivmm; do
  [[ -e $work/prefix/$f ]] || { echo "downstream: error: $f was not installed" >&2; exit 1; }
done

step "configuring and building examples/ as a project of its own in $work/src"
cp -r "$root/examples" "$work/src"
cmake -S "$work/src" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release \
  >"$work/configure.log" 2>&1 || { cat "$work/configure.log" >&2; exit 1; }
cmake --build "$work/build" -j2 >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
for exe in boot_kernel concurrent_vms guest_shell_test; do
  [[ -x $work/build/$exe ]] || { echo "downstream: error: $exe was not built" >&2; exit 1; }
done

# The runs, as one script (one nested VM boot for all three).
cat >"$work/run-examples.sh" <<RUN
#!/usr/bin/env bash
set -euo pipefail
cd "$work/build"
echo "downstream: boot_kernel" >&2
./boot_kernel "$guest" "" "test=hello" >"$work/boot.out"
grep -q "Hello from the minivmm test guest" "$work/boot.out" || { cat "$work/boot.out"; exit 1; }
echo "downstream: concurrent_vms" >&2
./concurrent_vms "$guest" 4
echo "downstream: guest_shell_test" >&2
MINIVMM_TEST_GUEST="$guest" ./guest_shell_test --use-colour no
RUN
chmod +x "$work/run-examples.sh"

mode=$("$root/tests/linux/kvm-mode.sh" --guest test)
case $mode in
  direct) step "running the examples directly on this host's /dev/kvm"; "$work/run-examples.sh" ;;
  nested)
    step "running the examples inside a QEMU VM with nested KVM"
    for attempt in 1 2; do
      rc=0
      "$root/tests/linux/nested-vm.sh" --timeout 240 --mem 2048 -- "$work/run-examples.sh" || rc=$?
      [[ $rc != 0 && $attempt == 1 ]] || exit "$rc"
      echo "downstream: WARNING: the nested run failed (exit $rc); trying once more" >&2
    done
    ;;
  *) echo "SKIPPED: no KVM and no QEMU: the examples were built but not run" >&2 ;;
esac
