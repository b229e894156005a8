#!/bin/bash
# Packs the release build's GPU-run binaries (and libbenchmark, which bench_context links) into
# OUT (a .tar.xz under an ignored folder such as out/) for the device machine; the commit and
# any modified tracked files are recorded in bin/COMMIT.
#   scripts/gpu_pack.sh out/s19/bin.tar.xz
set -euo pipefail
out=${1:?usage: scripts/gpu_pack.sh OUT.tar.xz}
cd "$(dirname "$0")/.."
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin/lib" "$(dirname "$out")"
for b in tools/vecaccel tests/test_exactness tests/test_large_k bench/bench_knn bench/bench_serving \
  bench/bench_gemm bench/bench_context bench/bench_features bench/bench_coalescer; do
  cp "build/$b" "$stage/bin/"
done
cp -a /usr/lib/x86_64-linux-gnu/libbenchmark.so.1* "$stage/bin/lib/"
strip "$stage"/bin/* 2>/dev/null || true
{ git rev-parse --short HEAD; git status --short | grep -v '^??' || true; } > "$stage/bin/COMMIT"
tar -C "$stage" -cJf "$out" bin
ls -la "$out"
