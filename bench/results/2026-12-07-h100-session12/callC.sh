#!/bin/bash
# Session 12 call C: issue 22's feature timings and issue 23's serving figures, each beside its
# PyTorch peer; bench_context raw Vulkan against the Context.
bash "$(dirname "$0")/prep.sh" > /dev/null
cd /tmp/s12
step() { local t=$1 f=$2; shift 2; echo "## $f: $*"; timeout $t "$@" > $OUT/$f 2>&1; echo "rc=$?"; }
F="--n 1000000 --dim 128 --queries 1000 --k 10 --big-k 10000 --graph-n 1000000 --graph-k 10 --repeat 3"
step 110 feat.txt bin/bench_features $F --check 3; tail -12 $OUT/feat.txt
step 100 feat_torch.txt python3 -u torch_features.py $F; tail -12 $OUT/feat_torch.txt
S="--n 1000000 --dim 128 --threads 1,16 --queries 1 --k 10 --seconds 3"
step 50 serving.txt bin/bench_serving $S; tail -12 $OUT/serving.txt
step 40 serving_torch.txt python3 -u torch_serving.py $S; tail -8 $OUT/serving_torch.txt
date -u
