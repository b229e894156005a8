#!/bin/bash
# The device call of 2026-11-30 01:19 UTC (run as out/scale5/ingest.sh): ingestion before
# (main at 1371566) and after, where the time goes, then the scale benchmark.
B=out/scale5
nvidia-smi --query-gpu=index,name,driver_version,pcie.link.gen.current,pcie.link.width.current,memory.total --format=csv
nproc; date -u
run() { local t=$1; shift; echo "## $*"; timeout $t "$@" 2>&1 | tee -a $OUT/ingest.jsonl; }
run 30 $B/bench_ingest_before add 7500000 128 3
run 30 $B/bench_ingest_before add 30000000 128 2 uint8
run 25 $B/bench_ingest phases 7500000 128 float32 device
run 25 $B/bench_ingest phases 7500000 128 float32 host
run 30 $B/bench_ingest add 7500000 128 3
run 30 $B/bench_ingest add 30000000 128 2 uint8
run 70 $B/bench_scale --devices 0,1 float32:50000000:96
run 90 $B/bench_scale --devices 0,1 uint8:100000000:128
