#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs dependencies, builds, runs
# every test under the Khronos validation layer (synchronization validation on; any message
# fails) and the Python package's pytest suite (g++ 12), then the AddressSanitizer/UBSan build
# with its tests (clang 14, the second supported compiler: every target compiled with it), then
# the ThreadSanitizer build of the multi-threaded tests only, then an outside project (C++ and
# Python) against the installed package.
# Usage: scripts/test.sh [--quick]   (--quick: the first stage only)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
jobs=$(nproc)

echo "== build and test (validation layer on)"
cmake --preset dev >/dev/null
cmake --build --preset dev -j"$jobs"
ctest --preset dev -j"$jobs"

# Debian's interpreter, the one the module was built for (a pyenv shim may come first on PATH).
echo "== Python package (pytest, validation layer on)"
PYTHONPATH=build-dev/python VECACCEL_VALIDATION=1 /usr/bin/python3 -m pytest -q -p no:cacheprovider python/tests
[ "${1:-}" = "--quick" ] && exit 0

echo "== AddressSanitizer + UndefinedBehaviorSanitizer (clang 14, benchmarks included) and tests"
cmake --preset asan >/dev/null
cmake --build --preset asan -j"$jobs"
ctest --preset asan -j"$jobs"

echo "== ThreadSanitizer (clang 14): the multi-threaded tests"
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j"$jobs"
ctest --preset tsan -j"$jobs"

echo "== outside consumer of the installed package"
scripts/check_install.sh build-dev
