#!/bin/bash
# Session 16 call 1: large k after 443337f/b0f749b beside torch; the 10M scan with pageable
# device-local memory off; few-query profile.
D=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /tmp/s16 && python3 -c "import tarfile; tarfile.open('$D/s16/bin.tar.xz').extractall('/tmp/s16')"
cp $D/s16/torch_*.py $D/s16/*.txt /tmp/s16/
cd /tmp/s16; cat bin/COMMIT; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
R=$OUT/r; mkdir -p $R
step() { local t=$1 f=$2; shift 2; if (( SECONDS + t > ${GUARD:-420} )); then echo "## $f skipped at ${SECONDS}s"; return; fi
  echo "## $f: $* (at ${SECONDS}s)"; timeout $t "$@" > $R/$f 2>&1; echo "rc=$?"; }
export VECACCEL_PROFILE_DISPATCHES=1
step 50 scan.txt bin/bench_knn --points scan3.txt --repeat 3; grep -E "^N=" $R/scan.txt; grep "vecaccel gpu" $R/scan.txt | cut -c1-220
step 50 scan_np.txt env VECACCEL_EXP_NO_PAGEABLE=1 bin/bench_knn --points scan3.txt --repeat 3; grep -E "^N=" $R/scan_np.txt; grep "vecaccel gpu" $R/scan_np.txt | cut -c1-220
unset VECACCEL_PROFILE_DISPATCHES
step 40 scan_torch.txt python3 -u torch_knn.py --points scan3.txt --repeat 5 --modes fp32; tail -4 $R/scan_torch.txt
step 60 large_k.txt bin/test_large_k --gtest_brief=1; grep -E "FAILED|PASSED|Failure" $R/large_k.txt | sort | uniq -c | head
step 60 bigk.txt env VECACCEL_KNN_TRACE=1 bin/bench_knn --points bigk.txt --repeat 5; grep -E "^N=" $R/bigk.txt
step 40 bigk_prof.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points bigk.txt --repeat 1; grep -E "vecaccel gpu" $R/bigk_prof.txt | cut -c1-300 | awk 'NR%4==0'
step 50 bigk_torch.txt python3 -u torch_knn.py --points bigk.txt --repeat 5 --modes fp32,tf32; tail -4 $R/bigk_torch.txt
step 40 few.txt env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points few.txt --repeat 3; grep -E "^N=" $R/few.txt; grep "vecaccel gpu" $R/few.txt | awk 'NR%4==0' | cut -c1-250
step 40 few_torch.txt python3 -u torch_knn.py --points few.txt --repeat 5 --modes fp32,tf32; tail -4 $R/few_torch.txt
tar -C $OUT -czf $OUT/results.tgz r && rm -rf $R
date -u
