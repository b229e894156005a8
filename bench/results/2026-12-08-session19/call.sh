#!/bin/bash
# Session 19's prepared call (no device was lent in session 19): session 18's call 2 (the
# acceptance shapes with the GPU's clock warmed, nvidia-smi sampling the clock throughout), then
# serving with the coalescer's regroup grace off and on, and the policy alone on the GPU host's
# cores (bench_coalescer). Pack with scripts/gpu_pack.sh out/s19/bin.tar.xz; copy call.sh, the
# points files mid/few/bigk.txt of ../2026-12-08-h100-session18/, bench/peers/torch_*.py and the
# Fashion-MNIST *-ubyte.gz into out/s19; carry .gl and out/s19; run: GUARD=560 bash out/s19/call.sh
D=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /tmp/s19 && python3 -c "import tarfile; tarfile.open('$D/s19/bin.tar.xz').extractall('/tmp/s19')"
mkdir -p /tmp/fm && for f in $D/s19/*-ubyte.gz; do gunzip -c $f > /tmp/fm/$(basename $f .gz); done
cp $D/s19/torch_*.py $D/s19/*.txt /tmp/s19/
cd /tmp/s19; cat bin/COMMIT; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/s19/bin/lib:$LD_LIBRARY_PATH
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,utilization.gpu,memory.used --format=csv -lms 250 > $R/smi.csv 2>&1 &
SMI=$!
step() { local t=$1 f=$2; shift 2; if (( SECONDS + t > ${GUARD:-400} )); then echo "## $f skipped at ${SECONDS}s"; return; fi
  echo "## $f (at ${SECONDS}s, $(date -u +%T))"; timeout $t "$@" > $R/$f 2>&1; echo "rc=$? (${SECONDS}s)"; }
step 45 mid.txt bin/bench_knn --points mid.txt --repeat 5; grep -E "^N=" $R/mid.txt
step 30 mid_torch.txt python3 -u torch_knn.py --points mid.txt --repeat 5 --modes fp32,tf32; tail -3 $R/mid_torch.txt
step 40 few.txt bin/bench_knn --points few.txt --repeat 5; grep -E "^N=" $R/few.txt
step 30 few_torch.txt python3 -u torch_knn.py --points few.txt --repeat 5 --modes fp32,tf32; tail -5 $R/few_torch.txt
step 40 bigk.txt bin/bench_knn --points bigk.txt --repeat 5; grep -E "^N=" $R/bigk.txt
step 30 bigk_torch.txt python3 -u torch_knn.py --points bigk.txt --repeat 5 --modes fp32,tf32; tail -3 $R/bigk_torch.txt
G="4096,2000000,384;1000,1000000,960;4096,1000000,128"
step 50 gemm.txt bin/bench_gemm --repeat 10 --shapes "$G"; grep -E "TFLOP|TOPS" $R/gemm.txt | cut -c1-112
step 30 gemm_torch.txt python3 -u torch_gemm.py --repeat 10 --shapes "$G"; tail -4 $R/gemm_torch.txt
step 30 fm.txt bin/bench_knn --fmnist /tmp/fm --repeat 5; tail -1 $R/fm.txt
step 25 fm_torch.txt python3 -u torch_knn.py --fmnist /tmp/fm --repeat 5 --modes fp32,tf32; tail -1 $R/fm_torch.txt
F="--n 1000000 --dim 128 --queries 1000 --k 10 --big-k 10000 --graph-n 0 --repeat 3"
step 60 feat.txt bin/bench_features $F --check 3; tail -7 $R/feat.txt
step 50 feat_torch.txt python3 -u torch_features.py $F; tail -7 $R/feat_torch.txt
S="--n 1000000 --dim 128 --threads 1,16 --queries 1 --k 10 --seconds 3"
for g in 0 100; do
  step 30 serving_regroup$g.txt env VECACCEL_COALESCE_REGROUP_US=$g bin/bench_serving $S; tail -4 $R/serving_regroup$g.txt
done
step 30 serving16.txt env VECACCEL_COALESCE_MAX_QUERIES=16 bin/bench_serving $S; tail -4 $R/serving16.txt
step 30 serving_torch.txt python3 -u torch_serving.py $S; tail -4 $R/serving_torch.txt
step 60 coalescer.txt bin/bench_coalescer --threads 1,2,4,8,16 --regroup-us 0,50,100,200 --seconds 1; cat $R/coalescer.txt
step 40 context.txt bin/bench_context --benchmark_filter='BM_RawSmallOps|BM_SmallOpsQueues|BM_PairedDispatch' --benchmark_repetitions=3 --benchmark_report_aggregates_only=true; tail -12 $R/context.txt
kill $SMI
tar -C $OUT -czf $OUT/results.tgz r && rm -rf $R
date -u
