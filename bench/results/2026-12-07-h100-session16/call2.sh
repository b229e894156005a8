#!/bin/bash
# Session 16 call 2: the fused streaming screen (knn_stream) and subgroup-per-row small kernels:
# exactness on the GPU, few-query timings and profiles beside torch, tuning, chunk-size test.
D=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /tmp/s16 && python3 -c "import tarfile; tarfile.open('$D/s16/bin.tar.xz').extractall('/tmp/s16')"
cp $D/s16/torch_*.py $D/s16/*.txt /tmp/s16/
cd /tmp/s16; cat bin/COMMIT; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
R=$OUT/r; mkdir -p $R
step() { local t=$1 f=$2; shift 2; if (( SECONDS + t > ${GUARD:-230} )); then echo "## $f skipped at ${SECONDS}s"; return; fi
  echo "## $f: $* (at ${SECONDS}s)"; timeout $t "$@" > $R/$f 2>&1; echo "rc=$?"; }
step 120 exact.txt bin/test_exactness --gtest_brief=1; grep -E "FAILED|PASSED|Failure" $R/exact.txt | sort | uniq -c | head
step 40 few.txt env VECACCEL_KNN_TRACE=1 VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points few.txt --repeat 5; grep -E "^N=" $R/few.txt; grep "vecaccel gpu" $R/few.txt | awk 'NR%6==0' | cut -c1-250
step 40 few_q8.txt env VECACCEL_EXP_STREAM_Q8=1 bin/bench_knn --points few.txt --repeat 5; grep -E "^N=" $R/few_q8.txt
step 40 few_torch.txt python3 -u torch_knn.py --points few.txt --repeat 5 --modes fp32,tf32; tail -4 $R/few_torch.txt
step 50 scan.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points scan3.txt --repeat 3; grep -E "^N=" $R/scan.txt; grep "vecaccel gpu" $R/scan.txt | grep stream | cut -c1-220
step 50 chunk.txt env VECACCEL_EXP_CHUNK_ROWS=1048576 VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points scan3.txt --repeat 3; grep -E "^N=" $R/chunk.txt; grep "vecaccel gpu" $R/chunk.txt | grep -E "stream|half_rows" | cut -c1-220 | tail -4
export LD_LIBRARY_PATH=/tmp/s16/bin/lib:$LD_LIBRARY_PATH
S="--n 1000000 --dim 128 --threads 1,16 --queries 1 --k 10 --seconds 2"
step 30 serving.txt bin/bench_serving $S; tail -5 $R/serving.txt
step 30 serving16.txt env VECACCEL_COALESCE_MAX_QUERIES=16 bin/bench_serving $S; tail -2 $R/serving16.txt
step 25 serving_torch.txt python3 -u torch_serving.py $S; tail -2 $R/serving_torch.txt
step 60 large_k.txt bin/test_large_k --gtest_brief=1; grep -E "FAILED|PASSED|Failure" $R/large_k.txt | sort | uniq -c | head
for v in "WG=512" "WG=2048" "SHARED=24576"; do
  step 40 tune_$v.txt env VECACCEL_EXP_STREAM_$v bin/bench_knn --points tune.txt --repeat 5; echo "$v"; grep -E "^N=" $R/tune_$v.txt
done
tar -C $OUT -czf $OUT/results.tgz r && rm -rf $R
date -u
