#!/bin/bash
# Session 8: points that ran 5-23% slower (GPU ms) than session 5: bench_knn of session 5
# (4232b1e, "old") against main (214ca22) alternately, same machine; then the points the
# first call's timeouts cut, ours and the PyTorch peer.
A=out/s8/ab; M=out/s8/main
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
run() { local t=$1 f=$2; shift 2; echo "## $*"; timeout $t "$@" 2>&1 | tee -a $OUT/$f; }
for r in 1 2; do
  run 60 ab.txt $A/bench_knn_old --points $A/ab.txt --repeat 5 --json $OUT/ab_old$r.json
  run 60 ab.txt $M/bench_knn --points $A/ab.txt --repeat 5 --json $OUT/ab_new$r.json
done
mkdir -p /tmp/fm && for f in $M/fm/*.gz; do gunzip -c $f > /tmp/fm/$(basename $f .gz); done
run 30 ab.txt $A/bench_knn_old --fmnist /tmp/fm --repeat 5 --json $OUT/fm_old.json
run 30 ab.txt $M/bench_knn --fmnist /tmp/fm --repeat 5 --json $OUT/fm_new.json
run 100 rest.txt $M/bench_knn --points $A/rest.txt --repeat 3 --bandwidth-gbs 4800 --json $OUT/ours_rest.json
run 60 rest.txt python3 $M/torch_knn.py --points $A/rest.txt --repeat 3 --json $OUT/peer_rest.json
date -u
