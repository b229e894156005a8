#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs dependencies, builds, runs
# every test under the Khronos validation layer (synchronization validation on; any message
# fails) and the Python package's pytest suite (g++ 12), then the AddressSanitizer/UBSan build
# with its tests (clang 14, the second supported compiler: the library, tool and tests; the
# benchmarks and Python module compile with clang in scripts/lint.sh's clang preset), then
# the ThreadSanitizer build of the multi-threaded tests only, then an outside project (C++ and
# Python, and the README's snippets) against the installed package.
# Usage: scripts/test.sh [--quick]   (--quick: the first stage only)
#
# Each configuration is built once. The sanitizer builds run at low priority while the g++
# build's tests run: the tests keep the CPU they use (a test process often waits on the device
# or on a child), the builds take what is left. Stage times are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
quick=${1:-}

times=()
started=$SECONDS
logs=$(mktemp -d)
stage() {  # stage NAME COMMAND...: runs the command, noting its wall time
  local name=$1 start=$SECONDS
  shift
  echo "== $name"
  "$@"
  times+=("$(printf '%5d s  %s' $((SECONDS - start)) "$name")")
}
report() {
  echo "== stage times (wall)"
  printf '%s\n' "${times[@]}"
  printf '%5d s  total\n' $((SECONDS - started))
}
finish() {
  if [ -n "${builds:-}" ] && kill -0 "$builds" 2>/dev/null; then kill -- -"$builds" 2>/dev/null || true; fi
  report
  rm -rf "$logs"
}
trap finish EXIT

stage "bootstrap" scripts/bootstrap.sh

# One lavapipe shader cache for every stage: the dev, asan and tsan builds run the same SPIR-V
# (and pytest the dev build's), so what one stage's tests compiled with LLVM the next finds
# (a cold Ops.EveryKnnPathReturnsTheFloat64Ids takes 9.9 s, a warm one 5.8). Each build's
# own pipeline cache stays under its XDG_CACHE_HOME.
export MESA_SHADER_CACHE_DIR="$PWD/build-shader-cache"

configure() {  # the configurations at once: CMake's checks are single-threaded
  local presets=(dev) pids=() preset
  [ "$quick" = "--quick" ] || presets+=(asan tsan)
  for preset in "${presets[@]}"; do
    cmake --preset "$preset" >"$logs/configure-$preset.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || { cat "$logs"/configure-*.log; return 1; }; done
}
stage "configure" configure
stage "build dev (g++ 12)" cmake --build --preset dev -j"$jobs"

# The sanitizer builds (clang 14), in the background at low priority, in a process group of
# their own (ended with this script), logged to a file.
if [ "$quick" != "--quick" ]; then
  # shellcheck disable=SC2016 # $1 is the inner shell's
  setsid bash -c 'nice -n 15 cmake --build --preset asan -j"$1" &&
                  nice -n 15 cmake --build --preset tsan -j"$1"' _ "$jobs" >"$logs/sanitizer-builds.log" 2>&1 &
  builds=$!
fi

stage "ctest dev (validation layer on)" ctest --preset dev -j"$jobs"
# Debian's interpreter, the one the module was built for (a pyenv shim may come first on PATH).
stage "pytest (validation layer on)" env PYTHONPATH=build-dev/python VECACCEL_VALIDATION=1 \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider python/tests
[ "$quick" = "--quick" ] && exit 0
stage "outside consumer of the installed package, README snippets" scripts/check_install.sh build-dev

wait_for_builds() {
  wait "$builds" || { tail -n 60 "$logs/sanitizer-builds.log"; return 1; }
  tail -n 2 "$logs/sanitizer-builds.log"
}
stage "finish the asan and tsan builds (clang 14)" wait_for_builds
# The asan preset leaves out the kernel-numerics tests (Exactness, LargeK and the heaviest Ops
# cases, CMakePresets.json): their minutes go to lavapipe running shaders, which ASan does not
# instrument, and the host code they drive (planner, certificates, merges) is what the other
# tests run under ASan at smaller sizes. The dev stage runs them all.
stage "ctest asan (AddressSanitizer + UBSan)" ctest --preset asan -j"$jobs"
stage "ctest tsan (ThreadSanitizer: the multi-threaded tests)" ctest --preset tsan -j"$jobs"
