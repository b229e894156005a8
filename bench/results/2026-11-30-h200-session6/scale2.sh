#!/bin/bash
# The 2-GPU speedup with repeated searches (median of 3), and a BIGANN-sized base (1B x 128
# uint8, 128 GB) that fills both H200s' halves: one GPU holds it whole too (1 byte an element).
B=out/s6
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv
date -u
run() { local t=$1; shift; echo "## $*"; timeout $t "$@" 2>&1 | tee -a $OUT/scale7.jsonl; }
run 100 $B/bench_scale --devices 0,1 --repeat 3 float32:50000000:96
run 440 $B/bench_scale --devices 0,1 uint8:1000000000:128
free -g
date -u
