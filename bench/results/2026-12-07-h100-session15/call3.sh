#!/bin/bash
# Session 15 call 3: experiments — the one-query scan's rows a subgroup (contiguous runs now;
# VECACCEL_EXP_SCAN multiplies them), the few-query selection's segment (VECACCEL_EXP_SEG);
# serving again (call 2's host was slower: torch too).
D=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /tmp/s15 && python3 -c "import tarfile; tarfile.open('$D/s15/bin.tar.xz').extractall('/tmp/s15')"
mkdir -p /tmp/fm && for f in $D/s15/*.gz; do gunzip -c $f > /tmp/fm/$(basename $f .gz); done
cp $D/s15/torch_*.py $D/s15/*.txt /tmp/s15/
cd /tmp/s15; cat bin/COMMIT; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
R=$OUT/r; mkdir -p $R
step() { local t=$1 f=$2; shift 2; if (( SECONDS + t > ${GUARD:-400} )); then echo "## $f skipped at ${SECONDS}s"; return; fi
  echo "## $f: $* (at ${SECONDS}s)"; timeout $t "$@" > $R/$f 2>&1; echo "rc=$?"; }
for e in 1 4 16; do
  step 50 scan_e$e.txt env VECACCEL_EXP_SCAN=$e VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points scan3.txt --repeat 5
  grep -E "^N=" $R/scan_e$e.txt; grep "vecaccel gpu" $R/scan_e$e.txt | grep distances | awk 'NR%6==0' | cut -c1-160
done
for g in 2048 4096 8192 16384; do
  step 30 few_s$g.txt env VECACCEL_EXP_SEG=$g bin/bench_knn --points few.txt --repeat 5; grep -E "^N=" $R/few_s$g.txt
done
step 40 k10k.txt env VECACCEL_KNN_TRACE=1 bin/bench_knn --points k10k.txt --repeat 3; grep -E "^N=|pass over" $R/k10k.txt | cut -c1-250 | tail -3
step 40 fm.txt env VECACCEL_KNN_TRACE=1 bin/bench_knn --fmnist /tmp/fm --repeat 5; grep -E "pass over" $R/fm.txt | cut -c1-250 | tail -2; tail -1 $R/fm.txt
step 40 fm_torch.txt python3 -u torch_knn.py --fmnist /tmp/fm --repeat 5 --modes fp32,tf32; tail -1 $R/fm_torch.txt
S="--n 1000000 --dim 128 --threads 1,16 --queries 1 --k 10 --seconds 2"
step 30 serving8.txt bin/bench_serving $S; tail -3 $R/serving8.txt
step 25 serving_torch.txt python3 -u torch_serving.py $S; tail -3 $R/serving_torch.txt
tar -C $OUT -czf $OUT/results.tgz r && rm -rf $R
date -u
