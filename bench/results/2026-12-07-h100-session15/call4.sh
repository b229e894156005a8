#!/bin/bash
# Session 15 call 4: compacted row selection (AIR-style filter after pass 1): exactness on the
# GPU, large-k timings and profiles beside torch; the session's points once more.
D=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /tmp/s15 && python3 -c "import tarfile; tarfile.open('$D/s15/bin.tar.xz').extractall('/tmp/s15')"
cp $D/s15/torch_*.py $D/s15/*.txt /tmp/s15/
cd /tmp/s15; cat bin/COMMIT; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
R=$OUT/r; mkdir -p $R
step() { local t=$1 f=$2; shift 2; if (( SECONDS + t > ${GUARD:-420} )); then echo "## $f skipped at ${SECONDS}s"; return; fi
  echo "## $f: $* (at ${SECONDS}s)"; timeout $t "$@" > $R/$f 2>&1; echo "rc=$?"; }
step 60 large_k.txt bin/test_large_k --gtest_brief=1; grep -E "FAILED|PASSED|Failure" $R/large_k.txt | sort | uniq -c | head
step 60 bigk.txt env VECACCEL_KNN_TRACE=1 bin/bench_knn --points bigk.txt --repeat 5; grep -E "^N=" $R/bigk.txt
step 40 bigk_prof.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points bigk.txt --repeat 1; grep -E "vecaccel gpu" $R/bigk_prof.txt | cut -c1-300 | awk 'NR%4==0'
step 40 bigk_torch.txt python3 -u torch_knn.py --points bigk.txt --repeat 5 --modes fp32,tf32; tail -4 $R/bigk_torch.txt
export LD_LIBRARY_PATH=/tmp/s15/bin/lib:$LD_LIBRARY_PATH
step 50 context.txt bin/bench_context --benchmark_filter='BM_RawSmallOps|BM_SmallOpsQueues|BM_PairedDispatch' --benchmark_repetitions=3 --benchmark_report_aggregates_only=true; grep -E "median" $R/context.txt | cut -c1-160 | head -30
S="--n 1000000 --dim 128 --threads 1,16 --queries 1 --k 10 --seconds 2"
step 30 serving.txt bin/bench_serving $S; tail -3 $R/serving.txt
step 25 serving_torch.txt python3 -u torch_serving.py $S; tail -2 $R/serving_torch.txt
step 120 exact.txt bin/test_exactness --gtest_brief=1; grep -E "FAILED|PASSED|Failure" $R/exact.txt | sort | uniq -c | head
tar -C $OUT -czf $OUT/results.tgz r && rm -rf $R
date -u
