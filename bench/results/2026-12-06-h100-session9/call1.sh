#!/bin/bash
# Session 9 call 1: main + k=2048 margin (max_screen_candidates) + dimension-aware float16 margin.
B=out/s9
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv
date -u
step() { local t=$1 f=$2; shift 2; echo "## $*"; timeout $t "$@" > $OUT/$f 2>&1; echo "rc=$?"; tail -n 25 $OUT/$f; }
step 120 tests.txt bash -c "$B/bin/test_exactness --gtest_brief=1; $B/bin/test_ops --gtest_brief=1"
mkdir -p /tmp/fm && for f in $B/fm/*.gz; do gunzip -c $f > /tmp/fm/$(basename $f .gz); done
export VECACCEL_KNN_TRACE=1
step 150 ours_issue.txt $B/bin/bench_knn --points $B/issue.txt --repeat 5 --bandwidth-gbs 3350
step 60 ours_few_nohalf.txt $B/bin/bench_knn --points $B/few.txt --repeat 5 --bandwidth-gbs 3350 --no-half-copy
step 60 ours_few.txt $B/bin/bench_knn --points $B/few.txt --repeat 5 --bandwidth-gbs 3350
step 40 ours_fm.txt $B/bin/bench_knn --fmnist /tmp/fm --repeat 5 --bandwidth-gbs 3350
unset VECACCEL_KNN_TRACE
step 120 peer_issue.txt python3 $B/torch_knn.py --points $B/issue.txt --repeat 5 --modes fp32,tf32
step 60 peer_few.txt python3 $B/torch_knn.py --points $B/few.txt --repeat 5 --modes fp32,tf32
step 40 peer_fm.txt python3 $B/torch_knn.py --fmnist /tmp/fm --repeat 5 --modes fp32,tf32
date -u
