#!/bin/bash
# Session 17 call 2: GEMM, the context's dispatch figures, Fashion-MNIST, filters and k = 10,000
# (bench_features), each beside its torch peer.
D=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /tmp/s17 && python3 -c "import tarfile; tarfile.open('$D/s17/bin.tar.xz').extractall('/tmp/s17')"
mkdir -p /tmp/fm && for f in $D/s17/*.gz; do gunzip -c $f > /tmp/fm/$(basename $f .gz); done
cp $D/s17/torch_*.py $D/s17/*.txt /tmp/s17/
cd /tmp/s17; cat bin/COMMIT; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/s17/bin/lib:$LD_LIBRARY_PATH
R=$OUT/r; mkdir -p $R
step() { local t=$1 f=$2; shift 2; if (( SECONDS + t > ${GUARD:-560} )); then echo "## $f skipped at ${SECONDS}s"; return; fi
  echo "## $f: $* (at ${SECONDS}s)"; timeout $t "$@" > $R/$f 2>&1; echo "rc=$?"; }
step 40 fm.txt env VECACCEL_KNN_TRACE=1 bin/bench_knn --fmnist /tmp/fm --repeat 5; tail -2 $R/fm.txt; grep "uncertified" $R/fm.txt | cut -c1-200 | tail -1
step 40 fm_torch.txt python3 -u torch_knn.py --fmnist /tmp/fm --repeat 5 --modes fp32,tf32; tail -3 $R/fm_torch.txt
F="--n 1000000 --dim 128 --queries 1000 --k 10 --big-k 10000 --graph-n 0 --repeat 3"
step 90 feat.txt bin/bench_features $F --check 3; tail -8 $R/feat.txt
step 90 feat_nospares.txt env VECACCEL_EXP_NO_SPARES=1 bin/bench_features $F; tail -8 $R/feat_nospares.txt
step 60 feat_torch.txt python3 -u torch_features.py $F; tail -8 $R/feat_torch.txt
G="4096,2000000,384;1000,1000000,960;4096,1000000,128;32,100000,1024;16,1000000,128"
step 70 gemm.txt bin/bench_gemm --repeat 10 --shapes "$G"; grep -E "TFLOP|TOPS" $R/gemm.txt | cut -c1-112
step 40 gemm_torch.txt python3 -u torch_gemm.py --repeat 10 --shapes "$G"; tail -6 $R/gemm_torch.txt
step 60 context.txt bin/bench_context --benchmark_filter='BM_RawSmallOps|BM_SmallOpsQueues|BM_PairedDispatch' --benchmark_repetitions=3 --benchmark_report_aggregates_only=true; grep -E "median" $R/context.txt | head -30
tar -C $OUT -czf $OUT/results.tgz r && rm -rf $R
date -u
