#!/bin/bash
# Session 15 call 2: vectorised row selection (exactness, large-k timings and profiles), the
# one-query scan against N (the 10M regression), serving, GEMM, the context's dispatch figures.
D=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /tmp/s15 && python3 -c "import tarfile; tarfile.open('$D/s15/bin.tar.xz').extractall('/tmp/s15')"
cp $D/s15/torch_*.py $D/s15/*.txt /tmp/s15/
cd /tmp/s15; cat bin/COMMIT; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/s15/bin/lib:$LD_LIBRARY_PATH
R=$OUT/r; mkdir -p $R
step() { local t=$1 f=$2; shift 2; if (( SECONDS + t > ${GUARD:-560} )); then echo "## $f skipped at ${SECONDS}s"; return; fi
  echo "## $f: $* (at ${SECONDS}s)"; timeout $t "$@" > $R/$f 2>&1; echo "rc=$?"; }
step 60 large_k.txt bin/test_large_k --gtest_brief=1; grep -E "FAILED|PASSED|Failure" $R/large_k.txt | sort | uniq -c | head
step 60 bigk.txt env VECACCEL_KNN_TRACE=1 bin/bench_knn --points bigk.txt --repeat 3; grep -E "^N=|pass over" $R/bigk.txt | cut -c1-250 | tail -8
step 40 bigk_prof.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points bigk.txt --repeat 1; grep -E "vecaccel gpu" $R/bigk_prof.txt | cut -c1-300 | awk 'NR%4==0'
step 60 scan.txt env VECACCEL_KNN_TRACE=1 bin/bench_knn --points scan.txt --repeat 5; grep -E "^N=" $R/scan.txt
step 30 scan_prof.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points scan.txt --repeat 1; grep -E "vecaccel gpu" $R/scan_prof.txt | grep distances | cut -c1-200
step 40 scan10f.txt bin/vecaccel bench --n 10000000 --dim 128 --queries 1 -k 10 --no-half-copy --repeat 5 --quiet; grep -E "search|first" $R/scan10f.txt
S="--n 1000000 --dim 128 --threads 1,16 --queries 1 --k 10 --seconds 2"
step 30 serving8.txt bin/bench_serving $S; tail -3 $R/serving8.txt
step 30 serving16.txt env VECACCEL_COALESCE_MAX_QUERIES=16 bin/bench_serving $S; tail -3 $R/serving16.txt
step 30 serving32.txt env VECACCEL_COALESCE_MAX_QUERIES=32 bin/bench_serving $S; tail -3 $R/serving32.txt
step 25 serving_torch.txt python3 -u torch_serving.py $S; tail -3 $R/serving_torch.txt
step 30 serve.txt env VECACCEL_KNN_TRACE=1 bin/bench_knn --points serve.txt --repeat 5; grep -E "^N=" $R/serve.txt
G="4096,2000000,384;1000,1000000,960;4096,1000000,128;32,100000,1024;16,1000000,128"
step 70 gemm.txt bin/bench_gemm --repeat 10 --shapes "$G"; grep -E "TFLOP|TOPS" $R/gemm.txt | cut -c1-112
step 40 gemm_torch.txt python3 -u torch_gemm.py --repeat 10 --shapes "$G"; tail -6 $R/gemm_torch.txt
step 60 context.txt bin/bench_context --benchmark_filter='BM_RawSmallOps|BM_SmallOpsQueues|BM_PairedDispatch' --benchmark_repetitions=3 --benchmark_report_aggregates_only=true; grep -E "median" $R/context.txt | head -30
step 40 bigk_torch.txt python3 -u torch_knn.py --points bigk.txt --repeat 3 --modes fp32,tf32; tail -4 $R/bigk_torch.txt
step 40 scan_torch.txt python3 -u torch_knn.py --points scan.txt --repeat 5 --modes fp32; tail -7 $R/scan_torch.txt
tar -C $OUT -czf $OUT/results.tgz r && rm -rf $R
date -u
