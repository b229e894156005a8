#!/bin/bash
# Session 12, one call in priority order: exactness on the GPU (float16-copies, default),
# GEMM against torch fp16, Fashion-MNIST three ways, the issue-21 shapes three ways.
bash "$(dirname "$0")/prep.sh"
cd /tmp/s12
step() { local t=$1 f=$2; shift 2; echo "## $f: $*"; timeout $t "$@" > $OUT/$f 2>&1; echo "rc=$?"; }
step 90 exact16.txt env VECACCEL_KNN_SCREEN=float16-copies bin/test_exactness --gtest_brief=1; grep -E "FAILED|PASSED|Failure|Which|Expected" $OUT/exact16.txt | head -12
step 90 exact.txt bin/test_exactness --gtest_brief=1; grep -E "FAILED|PASSED|Failure" $OUT/exact.txt | head -6
step 90 gemm.txt bin/bench_gemm --repeat 10; tail -14 $OUT/gemm.txt
step 60 gemm_torch.txt python3 -u torch_gemm.py --repeat 10; tail -10 $OUT/gemm_torch.txt
export VECACCEL_KNN_TRACE=1
step 40 fm.txt bin/bench_knn --fmnist /tmp/fm --repeat 5; tail -2 $OUT/fm.txt; grep "uncertified" $OUT/fm.txt | tail -1
step 40 fm16.txt env VECACCEL_KNN_SCREEN=float16-copies bin/bench_knn --fmnist /tmp/fm --repeat 5; tail -2 $OUT/fm16.txt; grep "uncertified" $OUT/fm16.txt | tail -1
unset VECACCEL_KNN_TRACE
step 40 fm_torch.txt python3 -u torch_knn.py --fmnist /tmp/fm --repeat 5 --modes fp32,tf32; tail -3 $OUT/fm_torch.txt
step 100 knn.txt bin/bench_knn --points points.txt --repeat 2; tail -15 $OUT/knn.txt
step 100 knn16.txt env VECACCEL_KNN_SCREEN=float16-copies bin/bench_knn --points points.txt --repeat 2; tail -15 $OUT/knn16.txt
step 100 knn_torch.txt python3 -u torch_knn.py --points points.txt --repeat 2 --modes fp32,tf32; tail -15 $OUT/knn_torch.txt
date -u
