#!/bin/bash
# Session 15 call 1: the wide epilogue's exactness, then per-dispatch GPU profiles of the slow shapes,
# their timings and the PyTorch peer on the same points, Fashion-MNIST.
D=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /tmp/s15 && python3 -c "import tarfile; tarfile.open('$D/s15/bin.tar.xz').extractall('/tmp/s15')"
mkdir -p /tmp/fm && for f in $D/s15/*.gz; do gunzip -c $f > /tmp/fm/$(basename $f .gz); done
cp $D/s15/torch_*.py $D/s15/*.txt /tmp/s15/
cd /tmp/s15; cat bin/COMMIT; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__)"; cat /sys/kernel/mm/transparent_hugepage/enabled
export LD_LIBRARY_PATH=/tmp/s15/bin/lib:$LD_LIBRARY_PATH
R=$OUT/r; mkdir -p $R
step() { local t=$1 f=$2; shift 2; if (( SECONDS + t > ${GUARD:-540} )); then echo "## $f skipped at ${SECONDS}s"; return; fi
  echo "## $f: $* (at ${SECONDS}s)"; timeout $t "$@" > $R/$f 2>&1; echo "rc=$?"; }
step 120 exact.txt bin/test_exactness --gtest_brief=1; grep -E "FAILED|PASSED|Failure" $R/exact.txt | sort | uniq -c | head -12
step 100 prof.txt env VECACCEL_PROFILE_DISPATCHES=1 VECACCEL_KNN_TRACE=1 bin/bench_knn --points prof.txt --repeat 1
grep -E "^N=|vecaccel gpu" $R/prof.txt | cut -c1-400 | head -60
step 100 times.txt env VECACCEL_KNN_TRACE=1 bin/bench_knn --points prof.txt --repeat 3; grep -E "^N=|pass over" $R/times.txt | cut -c1-250
step 90 torch.txt python3 -u torch_knn.py --points prof.txt --repeat 3 --modes fp32,tf32; tail -14 $R/torch.txt
step 40 fm.txt env VECACCEL_KNN_TRACE=1 bin/bench_knn --fmnist /tmp/fm --repeat 5; tail -2 $R/fm.txt; grep "uncertified" $R/fm.txt | cut -c1-200 | tail -1
step 40 fm_prof.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --fmnist /tmp/fm --repeat 1; grep "vecaccel gpu" $R/fm_prof.txt | cut -c1-400 | tail -3
step 40 fm_torch.txt python3 -u torch_knn.py --fmnist /tmp/fm --repeat 5 --modes fp32,tf32; tail -3 $R/fm_torch.txt
tar -C $OUT -czf $OUT/results.tgz r && rm -rf $R
date -u
