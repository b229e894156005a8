#!/bin/bash
# scale5: re-measure ingestion and the issue 11 benchmark with branch scale5's final build.
# Expected runtime ~160 s (the first call's equivalent took 133 s with two more programs).
# Run with: run(kind nvidia-h200-x2, carry [".gl", "out/scale5"], timeout_s 240,
#   command "for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; bash out/scale5/run.sh")
B=out/s6
nvidia-smi --query-gpu=index,name,driver_version,pcie.link.gen.current,pcie.link.width.current --format=csv
date -u
run() { local t=$1; shift; echo "## $*"; timeout $t "$@" 2>&1 | tee -a $OUT/scale6.jsonl; }
run 30 $B/bench_ingest add 7500000 128 3                 # float32 add GB/s (target >= 10)
run 30 $B/bench_ingest add 30000000 128 2 uint8          # uint8 add GB/s
run 25 $B/bench_ingest phases 7500000 128 float32 host   # where the time goes (default staging)
run 25 $B/bench_ingest phases 30000000 128 uint8 host    # uint8: 11.4 GB/s against float's 19: why
run 70 $B/bench_scale --devices 0,1 float32:50000000:96  # 19.2 GB: 1 vs 2 GPUs, equal hashes
run 90 $B/bench_scale --devices 0,1 uint8:100000000:128  # 12.8 GB: 1 vs 2 GPUs, equal hashes
if [ -e /mnt/big/gt.ibin ]; then
  cd bench/peers && timeout 120 python3 torch_stream.py --base /mnt/big/base.fbin --query /mnt/big/q.fbin \
    -k 100 --gt /mnt/big/gt.ibin --modes tf32 2>&1 | tee -a $OUT/peer.jsonl
fi
