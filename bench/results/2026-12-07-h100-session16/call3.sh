#!/bin/bash
# Session 16 call 3 (last of the budget): GPU exactness of the streaming screen and row kernels,
# few-query timings beside torch.
D=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /tmp/s16 && python3 -c "import tarfile; tarfile.open('$D/s16/bin.tar.xz').extractall('/tmp/s16')"
cp $D/s16/torch_*.py $D/s16/*.txt /tmp/s16/
cd /tmp/s16; cat bin/COMMIT; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
R=$OUT/r; mkdir -p $R
step() { local t=$1 f=$2; shift 2; if (( SECONDS + t > ${GUARD:-150} )); then echo "## $f skipped at ${SECONDS}s"; return; fi
  echo "## $f: $* (at ${SECONDS}s)"; timeout $t "$@" > $R/$f 2>&1; echo "rc=$?"; }
step 25 few.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points few.txt --repeat 5; grep -E "^N=" $R/few.txt; grep "vecaccel gpu" $R/few.txt | awk 'NR%6==0' | cut -c1-250
step 20 few_torch.txt python3 -u torch_knn.py --points few.txt --repeat 5 --modes fp32,tf32; tail -4 $R/few_torch.txt
step 90 exact.txt bin/test_exactness --gtest_brief=1; grep -E "FAILED|PASSED|Failure" $R/exact.txt | sort | uniq -c | head
step 20 scan.txt bin/bench_knn --points scan3.txt --repeat 3; grep -E "^N=" $R/scan.txt
tar -C $OUT -czf $OUT/results.tgz r && rm -rf $R
date -u
