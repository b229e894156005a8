#!/bin/bash
# Session 19's prepared addition to session 18's call 2 (no device was lent in session 19), in
# the same layout. Pack with scripts/gpu_pack.sh out/s18/bin.tar.xz; copy ../2026-12-08-h100-
# session18/call2.sh and mid/few/bigk.txt, this call.sh, bench/peers/torch_*.py and the
# Fashion-MNIST *-ubyte.gz into out/s18; carry .gl and out/s18; run as two device calls (each
# under the 600 s a call may take), the .deb unpacking first in each:
#   GUARD=560 bash out/s18/call2.sh        then        GUARD=560 bash out/s18/call.sh
# Serving with the coalescer's regroup grace off and on (and batches of 16), the policy alone on
# the GPU host's cores (bench_coalescer), and bench_context's raw-versus-Context rows.
D=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x /tmp/s18/bin/bench_serving ]; then  # a fresh machine: unpack as call2.sh does
  mkdir -p /tmp/s18 && python3 -c "import tarfile; tarfile.open('$D/s18/bin.tar.xz').extractall('/tmp/s18')"
  cp $D/s18/torch_*.py /tmp/s18/
fi
cd /tmp/s18; cat bin/COMMIT; export LD_LIBRARY_PATH=/tmp/s18/bin/lib:$LD_LIBRARY_PATH
R=$OUT/r19; mkdir -p $R
step() { local t=$1 f=$2; shift 2; if (( SECONDS + t > ${GUARD:-400} )); then echo "## $f skipped at ${SECONDS}s"; return; fi
  echo "## $f (at ${SECONDS}s, $(date -u +%T))"; timeout $t "$@" > $R/$f 2>&1; echo "rc=$? (${SECONDS}s)"; }
S="--n 1000000 --dim 128 --threads 1,16 --queries 1 --k 10 --seconds 3"
for g in 0 100; do
  step 30 serving_regroup$g.txt env VECACCEL_COALESCE_REGROUP_US=$g bin/bench_serving $S; tail -4 $R/serving_regroup$g.txt
done
step 30 serving16.txt env VECACCEL_COALESCE_MAX_QUERIES=16 bin/bench_serving $S; tail -4 $R/serving16.txt
step 30 serving_torch.txt python3 -u torch_serving.py $S; tail -4 $R/serving_torch.txt
step 60 coalescer.txt bin/bench_coalescer --threads 1,2,4,8,16 --regroup-us 0,50,100,200 --seconds 1; cat $R/coalescer.txt
step 40 context.txt bin/bench_context --benchmark_filter='BM_RawSmallOps|BM_SmallOpsQueues|BM_PairedDispatch' \
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true; tail -12 $R/context.txt
tar -C $OUT -czf $OUT/results19.tgz r19 && rm -rf $R
