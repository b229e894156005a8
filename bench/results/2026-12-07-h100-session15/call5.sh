#!/bin/bash
# Session 15 call 5: ties from the compacted keys — exactness and the two large-k points beside torch.
D=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /tmp/s15 && python3 -c "import tarfile; tarfile.open('$D/s15/bin.tar.xz').extractall('/tmp/s15')"
cp $D/s15/torch_knn.py $D/s15/bigk5.txt /tmp/s15/
cd /tmp/s15; cat bin/COMMIT; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
R=$OUT/r; mkdir -p $R
bin/test_large_k --gtest_brief=1 > $R/large_k.txt 2>&1; grep -E "FAILED|PASSED|Failure" $R/large_k.txt | sort | uniq -c
env VECACCEL_PROFILE_DISPATCHES=1 bin/bench_knn --points bigk5.txt --repeat 1 > $R/prof.txt 2>&1; grep "vecaccel gpu" $R/prof.txt | awk 'NR%4==0' | cut -c1-300
bin/bench_knn --points bigk5.txt --repeat 5 > $R/bigk.txt 2>&1; grep -E "^N=" $R/bigk.txt
python3 -u torch_knn.py --points bigk5.txt --repeat 5 --modes fp32,tf32 > $R/torch.txt 2>&1; tail -2 $R/torch.txt
tar -C $OUT -czf $OUT/results.tgz r && rm -rf $R; date -u
