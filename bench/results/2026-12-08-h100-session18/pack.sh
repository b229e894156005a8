#!/bin/bash
# Packs the release build's binaries (and libbenchmark, which bench_context links) for the GPU.
set -e
cd "$(dirname "$0")/../.."
rm -rf /tmp/pk && mkdir -p /tmp/pk/bin/lib
for b in tools/vecaccel tests/test_exactness tests/test_large_k bench/bench_knn bench/bench_serving bench/bench_gemm bench/bench_context bench/bench_features; do
  cp build/$b /tmp/pk/bin/
done
cp -a /usr/lib/x86_64-linux-gnu/libbenchmark.so.1* /tmp/pk/bin/lib/
strip /tmp/pk/bin/* 2>/dev/null || true
git rev-parse --short HEAD > /tmp/pk/bin/COMMIT; git status --short | grep -v '^??' >> /tmp/pk/bin/COMMIT || true
tar -C /tmp/pk -cJf out/s18/bin.tar.xz bin
ls -la out/s18/bin.tar.xz
