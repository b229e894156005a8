#!/bin/bash
# Session 12 call D: where the regressed points spend their time (trace, phases).
bash "$(dirname "$0")/prep.sh" > /dev/null
cp "$(dirname "$0")/regress.txt" /tmp/s12/
cd /tmp/s12
step() { local t=$1 f=$2; shift 2; echo "## $f: $*"; timeout $t "$@" > $OUT/$f 2>&1; echo "rc=$?"; }
step 60 trace.txt env VECACCEL_KNN_TRACE=1 bin/bench_knn --points regress.txt --repeat 1; grep -E "screen,|^N=" $OUT/trace.txt | tail -16
step 60 phases.txt bin/bench_knn --points regress.txt --phases; tail -40 $OUT/phases.txt
date -u
