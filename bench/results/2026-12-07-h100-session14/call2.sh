#!/bin/bash
# Session 14: old = d5f54ab (out/s13/bin), new = head (out/s14/bin), same machine, priority order.
D=$(cd "$(dirname "$0")/.." && pwd)
bash $D/s13/prep.sh
python3 -c "import tarfile; tarfile.open('$D/s14/bin.tar.xz').extractall('/tmp/s13/new')"
cp $D/s13/{slow,bigk,points,serve,u8,few}.txt $D/s14/fewlong.txt $D/s14/k10k.txt $D/s13/torch_knn.py /tmp/s13/
cd /tmp/s13; cat new/bin/COMMIT
step() { local t=$1 f=$2; shift 2; if (( SECONDS + t > ${GUARD:-545} )); then echo "## $f skipped at ${SECONDS}s"; return; fi
  echo "## $f: $* (at ${SECONDS}s)"; timeout $t "$@" > $OUT/$f 2>&1; echo "rc=$?"; }
export VECACCEL_INTEGER_SCREEN=1
step 100 exact_new.txt new/bin/test_exactness --gtest_brief=1; grep -E "FAILED|PASSED|Failure|copies  \]" $OUT/exact_new.txt | head -30
new/bin/vecaccel info | grep -i -E "device|coop|matrix|integer"
step 40 fewlong.txt env VECACCEL_KNN_TRACE=1 new/bin/bench_knn --points fewlong.txt --repeat 3; grep -E "^N=|screen,|pass over" $OUT/fewlong.txt | cut -c1-200 | tail -12
step 40 fewlong_old.txt bin/bench_knn --points fewlong.txt --repeat 3; grep -E "^N=" $OUT/fewlong_old.txt
step 40 fewlong_torch.txt python3 -u torch_knn.py --points fewlong.txt --repeat 3 --modes fp32,tf32; tail -4 $OUT/fewlong_torch.txt
G="4096,2000000,384;1000,1000000,960;4096,1000000,128;32,100000,1024;64,200000,4096;16,1000000,128"
step 70 gemm_new.txt new/bin/bench_gemm --repeat 10 --shapes "$G"; grep -E "TFLOP|TOPS" $OUT/gemm_new.txt | cut -c1-110
step 40 gemm_torch.txt python3 -u torch_gemm.py --repeat 10 --shapes "$G"; tail -8 $OUT/gemm_torch.txt
step 60 u8.txt env VECACCEL_KNN_TRACE=1 new/bin/vecaccel bench --type uint8 --n 1000000 --dim 128 --queries 10000 -k 10 --repeat 3 --quiet; grep -E "screen,|search |throughput" $OUT/u8.txt | cut -c1-200 | tail -5
step 40 u8_torch.txt python3 -u torch_knn.py --points u8.txt --bytes uint8 --repeat 3 --modes fp32,tf32; tail -2 $OUT/u8_torch.txt
S="--n 1000000 --dim 128 --threads 1,16 --queries 1 --k 10 --seconds 2"
step 30 serving.txt new/bin/bench_serving $S; tail -5 $OUT/serving.txt
step 30 serving8.txt env VECACCEL_COALESCE_MAX_QUERIES=8 new/bin/bench_serving $S; tail -5 $OUT/serving8.txt
step 30 serving16c.txt env VECACCEL_KNN_SCREEN=float16-copies new/bin/bench_serving $S; tail -5 $OUT/serving16c.txt
step 25 serving_torch.txt python3 -u torch_serving.py $S; tail -3 $OUT/serving_torch.txt
step 30 serve.txt env VECACCEL_KNN_TRACE=1 new/bin/bench_knn --points serve.txt --repeat 5; grep -E "^N=|screen,|pass over" $OUT/serve.txt | cut -c1-200 | tail -12
step 40 slow_new.txt env VECACCEL_KNN_TRACE=1 new/bin/bench_knn --points slow.txt --repeat 3; grep -E "^N=|screen," $OUT/slow_new.txt | cut -c1-200 | tail -6
step 40 slow_old.txt bin/bench_knn --points slow.txt --repeat 3; grep -E "^N=" $OUT/slow_old.txt
step 40 fm.txt env VECACCEL_KNN_TRACE=1 new/bin/bench_knn --fmnist /tmp/fm --repeat 5; tail -2 $OUT/fm.txt; grep "uncertified" $OUT/fm.txt | cut -c1-200 | tail -1
step 40 fm_torch.txt python3 -u torch_knn.py --fmnist /tmp/fm --repeat 5 --modes fp32,tf32; tail -3 $OUT/fm_torch.txt
step 40 k10k.txt env VECACCEL_KNN_TRACE=1 new/bin/bench_knn --points k10k.txt --repeat 2; grep -E "^N=|screen,|pass over" $OUT/k10k.txt | cut -c1-200
step 40 k10k_phases.txt new/bin/bench_knn --points k10k.txt --phases; grep -E "row select|sort|re-rank|distances" $OUT/k10k_phases.txt | cut -c1-100
step 60 context.txt new/bin/bench_context --benchmark_filter='BM_RawSmallOps|BM_SmallOpsQueues|BM_PairedDispatch' --benchmark_repetitions=3 --benchmark_report_aggregates_only=true; grep -E "median" $OUT/context.txt | head -30
step 50 bigk.txt env VECACCEL_KNN_TRACE=1 new/bin/bench_knn --points bigk.txt --repeat 2; grep -E "^N=|screen,|pass over" $OUT/bigk.txt | cut -c1-220 | tail -10
step 90 points_new.txt new/bin/bench_knn --points points.txt --repeat 3; grep -E "^N=" $OUT/points_new.txt
step 50 points_torch.txt python3 -u torch_knn.py --points points.txt --repeat 3 --modes fp32,tf32; tail -12 $OUT/points_torch.txt
F="--n 1000000 --dim 128 --queries 1000 --k 10 --big-k 10000 --graph-n 0 --repeat 3"
step 60 feat.txt new/bin/bench_features $F; tail -5 $OUT/feat.txt
step 40 feat_torch.txt python3 -u torch_features.py $F; tail -5 $OUT/feat_torch.txt
step 30 stats.txt new/bin/kernel_stats; grep -E "coop" $OUT/stats.txt | cut -c1-200 | head -20
date -u
