#!/bin/bash
# Session 8, one call on nvidia-h200-x2: main at the session's start (214ca22), release build.
# (1) the 2-GPU ratio at 50M x 96 float32 after the merge over queries (1477d12), ingestion;
# (2) the focus points, Fashion-MNIST and half the sweep, ours then the PyTorch peer, after the
# loop-turn dispatch changes (246bec2, 772122a, 9679140), which were not measured on a GPU.
B=out/s8/main
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv
nproc; date -u
run() { local t=$1 f=$2; shift 2; echo "## $*"; timeout $t "$@" 2>&1 | tee -a $OUT/$f; }
run 150 scale.jsonl $B/bench_scale --devices 0,1 --repeat 3 float32:50000000:96
run 30 ingest.jsonl $B/bench_ingest add 7500000 128 3
mkdir -p /tmp/fm && for f in $B/fm/*.gz; do gunzip -c $f > /tmp/fm/$(basename $f .gz); done
run 60 ours_focus.txt $B/bench_knn --points $B/focus.txt --repeat 3 --bandwidth-gbs 4800 --json $OUT/ours_focus.json
run 40 ours_fm.txt $B/bench_knn --fmnist /tmp/fm --repeat 3 --bandwidth-gbs 4800 --json $OUT/ours_fm.json
run 70 peer_focus.txt python3 $B/torch_knn.py --points $B/focus.txt --repeat 3 --json $OUT/peer_focus.json
run 30 peer_fm.txt python3 $B/torch_knn.py --fmnist /tmp/fm --repeat 3 --json $OUT/peer_fm.json
run 70 ours_sweep.txt $B/bench_knn --points $B/half.txt --repeat 3 --bandwidth-gbs 4800 --json $OUT/ours_sweep.json
run 60 peer_sweep.txt python3 $B/torch_knn.py --points $B/half.txt --repeat 3 --json $OUT/peer_sweep.json
date -u
