#!/bin/bash
# Session 18 call 2: the acceptance shapes with the GPU's clock warmed (a second of untimed runs
# before each timed point, ours and the peers'), nvidia-smi sampling the clock throughout.
D=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /tmp/s18 && python3 -c "import tarfile; tarfile.open('$D/s18/bin.tar.xz').extractall('/tmp/s18')"
mkdir -p /tmp/fm && for f in $D/s18/*-ubyte.gz; do gunzip -c $f > /tmp/fm/$(basename $f .gz); done
cp $D/s18/torch_*.py $D/s18/*.txt /tmp/s18/
cd /tmp/s18; cat bin/COMMIT; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/s18/bin/lib:$LD_LIBRARY_PATH
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
kill $SMI
tar -C $OUT -czf $OUT/results.tgz r && rm -rf $R
date -u
