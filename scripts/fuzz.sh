#!/usr/bin/env bash
# Fuzzes the vector file readers for a bounded time (default 120 s) from the seed corpus.
# Usage: scripts/fuzz.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
seconds=${1:-120}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target fuzz_vector_file
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
./build-fuzz/fuzz/fuzz_vector_file -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=4096 \
  "$work" fuzz/corpus
echo "fuzz: $(ls "$work" | wc -l) new corpus entries in ${seconds} s, no crash"
