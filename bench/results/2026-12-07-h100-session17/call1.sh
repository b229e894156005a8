#!/bin/bash
# Session 17 call 1: GPU exactness of what landed unmeasured in sessions 16-17 (the fused
# streaming screen, subgroup row kernels, the staged re-rank), then their timings beside torch.
D=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /tmp/s17 && python3 -c "import tarfile; tarfile.open('$D/s17/bin.tar.xz').extractall('/tmp/s17')"
cp $D/s17/torch_*.py $D/s17/*.txt /tmp/s17/
cd /tmp/s17; cat bin/COMMIT; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/s17/bin/lib:$LD_LIBRARY_PATH
R=$OUT/r; mkdir -p $R
step() { local t=$1 f=$2; shift 2; if (( SECONDS + t > ${GUARD:-560} )); then echo "## $f skipped at ${SECONDS}s"; return; fi
  echo "## $f: $* (at ${SECONDS}s)"; timeout $t "$@" > $R/$f 2>&1; echo "rc=$?"; }
step 120 exact.txt bin/test_exactness --gtest_brief=1; grep -E "FAILED|PASSED|Failure" $R/exact.txt | sort | uniq -c | head
step 60 large_k.txt bin/test_large_k --gtest_brief=1; grep -E "FAILED|PASSED|Failure" $R/large_k.txt | sort | uniq -c | head
step 40 few.txt env VECACCEL_KNN_TRACE=1 bin/bench_knn --points few.txt --repeat 5; grep -E "^N=" $R/few.txt
step 30 few_prof.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points few.txt --repeat 1; grep "vecaccel gpu" $R/few_prof.txt | awk 'NR%2==0' | cut -c1-250
step 40 few_torch.txt python3 -u torch_knn.py --points few.txt --repeat 5 --modes fp32,tf32; tail -4 $R/few_torch.txt
step 60 bigk.txt bin/bench_knn --points bigk.txt --repeat 5; grep -E "^N=" $R/bigk.txt
step 60 bigk_thread.txt env VECACCEL_EXP_RERANK=1 bin/bench_knn --points bigk.txt --repeat 5; grep -E "^N=" $R/bigk_thread.txt
step 40 bigk_prof.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points bigk.txt --repeat 1; grep -E "vecaccel gpu" $R/bigk_prof.txt | cut -c1-300 | awk 'NR%4==0'
step 50 bigk_torch.txt python3 -u torch_knn.py --points bigk.txt --repeat 5 --modes fp32,tf32; tail -4 $R/bigk_torch.txt
step 40 mid.txt env VECACCEL_KNN_TRACE=1 bin/bench_knn --points mid.txt --repeat 5; grep -E "^N=" $R/mid.txt
step 30 mid_prof.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points mid.txt --repeat 1; grep "vecaccel gpu" $R/mid_prof.txt | awk 'NR%2==0' | cut -c1-300
step 40 mid_torch.txt python3 -u torch_knn.py --points mid.txt --repeat 5 --modes fp32,tf32; tail -4 $R/mid_torch.txt
step 50 chunk.txt env VECACCEL_EXP_CHUNK_ROWS=1048576 VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points scan3.txt --repeat 3; grep -E "^N=" $R/chunk.txt; grep "vecaccel gpu" $R/chunk.txt | grep -E "stream|half_rows" | cut -c1-220 | tail -4
step 50 scan.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points scan3.txt --repeat 3; grep -E "^N=" $R/scan.txt; grep "vecaccel gpu" $R/scan.txt | grep stream | cut -c1-220
S="--n 1000000 --dim 128 --threads 1,16 --queries 1 --k 10 --seconds 2"
step 30 serving.txt bin/bench_serving $S; tail -5 $R/serving.txt
step 30 serving16.txt env VECACCEL_COALESCE_MAX_QUERIES=16 bin/bench_serving $S; tail -2 $R/serving16.txt
step 25 serving_torch.txt python3 -u torch_serving.py $S; tail -2 $R/serving_torch.txt
for v in "WG=512" "WG=2048" "SHARED=24576"; do
  step 40 tune_$v.txt env VECACCEL_EXP_STREAM_$v bin/bench_knn --points tune.txt --repeat 5; echo "$v"; grep -E "^N=" $R/tune_$v.txt
done
tar -C $OUT -czf $OUT/results.tgz r && rm -rf $R
date -u
