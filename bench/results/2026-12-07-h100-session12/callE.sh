#!/bin/bash
# Session 12 call E: the row selection (k' >= 256) against the one-workgroup radix selection
# (k' up to shared memory), same machine, same call; torch beside.
bash "$(dirname "$0")/prep.sh" > /dev/null
cp "$(dirname "$0")/regress2.txt" "$(dirname "$0")/bench_knn_radix" /tmp/s12/
cd /tmp/s12
step() { local t=$1 f=$2; shift 2; echo "## $f: $*"; timeout $t "$@" > $OUT/$f 2>&1; echo "rc=$?"; }
for round in 1 2; do
step 80 row$round.txt env VECACCEL_KNN_TRACE=1 bin/bench_knn --points regress2.txt --repeat 3; grep -E "^N=|screen," $OUT/row$round.txt | grep -v "pass over" | tail -12
step 80 radix$round.txt env VECACCEL_KNN_TRACE=1 ./bench_knn_radix --points regress2.txt --repeat 3; grep -E "^N=|screen," $OUT/radix$round.txt | grep -v "pass over" | tail -12
done
step 60 torch.txt python3 -u torch_knn.py --points regress2.txt --repeat 3 --modes fp32,tf32; tail -6 $OUT/torch.txt
date -u
