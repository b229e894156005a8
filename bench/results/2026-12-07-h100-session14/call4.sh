#!/bin/bash
# Session 14 call 4: the measured-copy-error fix on the GPU first, then serving three ways, GEMM and uint8.
D=$(cd "$(dirname "$0")/.." && pwd)
python3 -c "import tarfile; tarfile.open('$D/s14/bin.tar.xz').extractall('/tmp/s14')"
cp $D/s14/torch_*.py $D/s14/u8.txt /tmp/s14/
cd /tmp/s14; cat bin/COMMIT; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
R=$OUT/r; mkdir -p $R
step() { local t=$1 f=$2; shift 2; if (( SECONDS + t > ${GUARD:-420} )); then echo "## $f skipped at ${SECONDS}s"; return; fi
  echo "## $f: $* (at ${SECONDS}s)"; timeout $t "$@" > $R/$f 2>&1; echo "rc=$?"; }
export VECACCEL_INTEGER_SCREEN=1
step 100 exact.txt bin/test_exactness --gtest_brief=1; grep -E "FAILED|PASSED|Failure" $R/exact.txt | sort | uniq -c | head -12
S="--n 1000000 --dim 128 --threads 1,16 --queries 1 --k 10 --seconds 2"
step 30 serving.txt bin/bench_serving $S; tail -5 $R/serving.txt
step 30 serving16c.txt env VECACCEL_KNN_SCREEN=float16-copies bin/bench_serving $S; tail -5 $R/serving16c.txt
step 30 serving8.txt env VECACCEL_COALESCE_MAX_QUERIES=8 bin/bench_serving $S; tail -5 $R/serving8.txt
step 25 serving_torch.txt python3 -u torch_serving.py $S; tail -3 $R/serving_torch.txt
G="4096,2000000,384;1000,1000000,960;4096,1000000,128;32,100000,1024;16,1000000,128"
step 60 gemm.txt bin/bench_gemm --repeat 10 --shapes "$G"; grep -E "TFLOP|TOPS" $R/gemm.txt | cut -c1-112
step 40 gemm_torch.txt python3 -u torch_gemm.py --repeat 10 --shapes "$G"; tail -6 $R/gemm_torch.txt
step 50 u8.txt env VECACCEL_KNN_TRACE=1 bin/vecaccel bench --type uint8 --n 1000000 --dim 128 --queries 10000 -k 10 --repeat 3 --quiet; grep -E "screen,|search |throughput|ms" $R/u8.txt | cut -c1-200 | tail -4
step 40 u8_torch.txt python3 -u torch_knn.py --points u8.txt --bytes uint8 --repeat 3 --modes fp32,tf32; tail -2 $R/u8_torch.txt
tar -C $OUT -czf $OUT/results.tgz r && rm -rf $R
date -u
