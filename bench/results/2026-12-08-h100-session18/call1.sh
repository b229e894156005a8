#!/bin/bash
# Session 18 call 1: the re-rank fix on the GPU, then why the same kernels run 3.5x slower in some
# processes (order, pageable memory, clocks sampled by nvidia-smi), upload row kernels, large k, serving.
D=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /tmp/s18 && python3 -c "import tarfile; tarfile.open('$D/s18/bin.tar.xz').extractall('/tmp/s18')"
cp $D/s18/torch_*.py $D/s18/*.txt /tmp/s18/
cd /tmp/s18; cat bin/COMMIT; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/s18/bin/lib:$LD_LIBRARY_PATH
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,utilization.gpu,memory.used,clocks_throttle_reasons.active --format=csv -lms 250 > $R/smi.csv 2>&1 &
SMI=$!
step() { local t=$1 f=$2; shift 2; if (( SECONDS + t > ${GUARD:-560} )); then echo "## $f skipped at ${SECONDS}s"; return; fi
  echo "## $f: $* (at ${SECONDS}s, $(date -u +%T))"; timeout $t "$@" > $R/$f 2>&1; echo "rc=$? (${SECONDS}s)"; }
gpu() { grep "vecaccel gpu" $R/$1 | cut -c1-260; grep -E "^N=" $R/$1; }
step 120 exact.txt bin/test_exactness --gtest_brief=1; grep -E "FAILED|PASSED|Failure" $R/exact.txt | sort | uniq -c | head
step 50 large_k.txt bin/test_large_k --gtest_brief=1; grep -E "FAILED|PASSED|Failure" $R/large_k.txt | sort | uniq -c | head
step 40 alone.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points p200k.txt --repeat 3; gpu alone.txt
step 60 order.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points order.txt --repeat 3; gpu order.txt
step 60 order_np.txt env VECACCEL_EXP_NO_PAGEABLE=1 VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points order.txt --repeat 3; gpu order_np.txt
step 40 staged.txt env VECACCEL_EXP_RERANK=staged VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points p200k.txt --repeat 2; gpu staged.txt
step 50 mid.txt bin/bench_knn --points mid.txt --repeat 5; grep -E "^N=" $R/mid.txt
step 40 mid_torch.txt python3 -u torch_knn.py --points mid.txt --repeat 5 --modes fp32,tf32; tail -4 $R/mid_torch.txt
step 40 few.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points few.txt --repeat 3; gpu few.txt
step 40 few_torch.txt python3 -u torch_knn.py --points few.txt --repeat 5 --modes fp32,tf32; tail -6 $R/few_torch.txt
S="--n 1000000 --dim 128 --threads 1,16 --queries 1 --k 10 --seconds 2"
step 30 serving.txt bin/bench_serving $S; tail -5 $R/serving.txt
step 30 serving16.txt env VECACCEL_COALESCE_MAX_QUERIES=16 bin/bench_serving $S; tail -2 $R/serving16.txt
step 25 serving_torch.txt python3 -u torch_serving.py $S; tail -2 $R/serving_torch.txt
step 60 bigk.txt bin/bench_knn --points bigk.txt --repeat 5; grep -E "^N=" $R/bigk.txt
step 50 bigk_torch.txt python3 -u torch_knn.py --points bigk.txt --repeat 5 --modes fp32,tf32; tail -4 $R/bigk_torch.txt
for v in 2048 4096 16384 65536; do step 30 few_seg$v.txt env VECACCEL_EXP_SEGMENT=$v VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points few.txt --repeat 2; echo "segment $v"; gpu few_seg$v.txt | awk 'NR%2==0 || /^N=/'; done
step 60 bigk_thread.txt env VECACCEL_EXP_RERANK=1 bin/bench_knn --points bigk.txt --repeat 5; grep -E "^N=" $R/bigk_thread.txt
step 40 bigk_prof.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points bigk.txt --repeat 1; gpu bigk_prof.txt
kill $SMI
awk -F', ' 'NR>1{print $2, $4, $5, $6, $8}' $R/smi.csv | sort | uniq -c | sort -rn | head -15
tar -C $OUT -czf $OUT/results.tgz r && rm -rf $R
date -u
