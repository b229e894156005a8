#!/bin/bash
# The device calls of this session, each as it ran (one machine per call): `bash calls.sh NAME`
# runs call NAME. README.md or BENCHMARKS.md says which output each call wrote.
case "${1:-}" in
big)
# Issue 11 item 7: a base larger than the GPU's memory, streamed from host memory by
# `vecaccel search` (automatic), checked against float64, with the PyTorch peer in the same call.
B=out/s6
L=$OUT/log.txt
exec > >(tee -a $L) 2>&1
date -u
nvidia-smi --query-gpu=index,name,driver_version,memory.total,memory.used --format=csv
nproc; free -g; df -h /tmp /dev/shm | cat
D=/mnt/big
mkdir -p $D
if mount -t tmpfs -o size=180g tmpfs $D; then
  ROWS=400000000   # 400M x 96 float32 = 153.6 GB > the H200's 143.7 GB
else
  echo "PLAN B: no tmpfs; base on disk, GPU memory held by another process"
  D=/tmp/big; mkdir -p $D
  setsid python3 -c "
import torch, time
x = [torch.empty(100 * 2**30, dtype=torch.uint8, device=f'cuda:{i}') for i in range(torch.cuda.device_count())]
open('/tmp/held', 'w').close(); time.sleep(1200)" &
  while [ ! -e /tmp/held ]; do sleep 1; done
  nvidia-smi --query-gpu=index,memory.used --format=csv
  ROWS=200000000   # 76.8 GB > the ~43 GB left free
fi
df -h $D | cat
timeout 15 $B/bench_stream write $D/q.fbin float32:10000:96 2 | tee -a $OUT/big.jsonl
timeout 150 $B/bench_stream write $D/base.fbin float32:$ROWS:96 1 | tee -a $OUT/big.jsonl
free -g
T=""; [ -x /usr/bin/time ] && T="/usr/bin/time -v"
SECONDS=0
$T timeout 200 $B/vecaccel search --base $D/base.fbin --query $D/q.fbin -k 100 \
  --output $D/gt.ibin --json --quiet > $OUT/ours.json 2> $OUT/ours_time.txt
echo "ours wall ${SECONDS}s"; cat $OUT/ours.json; grep -E "Elapsed|Maximum resident|Exit status" $OUT/ours_time.txt
timeout 70 $B/bench_stream check $D/base.fbin $D/q.fbin $D/gt.ibin 16 | tee -a $OUT/big.jsonl
cd bench/peers && timeout 150 python3 torch_stream.py --base $D/base.fbin --query $D/q.fbin -k 100 \
  --gt $D/gt.ibin --modes fp32,tf32 | tee -a $OUT/peer.jsonl
date -u
;;
disk)
# Issue 11 item 4: file-to-GPU at disk speed. A 30.7 GB .fbin on the machine's disk, page cache
# dropped before each cold read: the disk's own sequential read (dd), then vecaccel search's add
# from the mapped file (FlatIndex::add of a MappedVectors), cold and then warm.
B=out/s6
D=/tmp/disk; mkdir -p $D
date -u; df -h /tmp | cat; grep " / " /proc/mounts
drop() { sync; echo 3 > /proc/sys/vm/drop_caches && echo "caches dropped"; free -g | head -2; }
timeout 10 $B/bench_stream write $D/q.fbin float32:100:96 2
timeout 150 $B/bench_stream write $D/base.fbin float32:80000000:96 1
drop
SECONDS=0; dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1; echo "dd ${SECONDS}s"
drop
for v in vecaccel_before vecaccel; do
  drop
  echo "## $v cold"; timeout 120 $B/$v search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
  echo "## $v warm"; timeout 120 $B/$v search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
done
drop
echo "## vecaccel cold again"; timeout 120 $B/vecaccel search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
date -u
;;
scale)
# scale5: re-measure ingestion and the issue 11 benchmark with branch scale5's final build.
# Expected runtime ~160 s (the first call's equivalent took 133 s with two more programs).
# Run with: run(kind nvidia-h200-x2, carry [".gl", "out/scale5"], timeout_s 240,
#   command "for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; bash out/scale5/run.sh")
B=out/s6
nvidia-smi --query-gpu=index,name,driver_version,pcie.link.gen.current,pcie.link.width.current --format=csv
date -u
run() { local t=$1; shift; echo "## $*"; timeout $t "$@" 2>&1 | tee -a $OUT/scale6.jsonl; }
run 30 $B/bench_ingest add 7500000 128 3                 # float32 add GB/s (target >= 10)
run 30 $B/bench_ingest add 30000000 128 2 uint8          # uint8 add GB/s
run 25 $B/bench_ingest phases 7500000 128 float32 host   # where the time goes (default staging)
run 25 $B/bench_ingest phases 30000000 128 uint8 host    # uint8: 11.4 GB/s against float's 19: why
run 70 $B/bench_scale --devices 0,1 float32:50000000:96  # 19.2 GB: 1 vs 2 GPUs, equal hashes
run 90 $B/bench_scale --devices 0,1 uint8:100000000:128  # 12.8 GB: 1 vs 2 GPUs, equal hashes
if [ -e /mnt/big/gt.ibin ]; then
  cd bench/peers && timeout 120 python3 torch_stream.py --base /mnt/big/base.fbin --query /mnt/big/q.fbin \
    -k 100 --gt /mnt/big/gt.ibin --modes tf32 2>&1 | tee -a $OUT/peer.jsonl
fi
;;
scale2)
# The 2-GPU speedup with repeated searches (median of 3), and a BIGANN-sized base (1B x 128
# uint8, 128 GB) that fills both H200s' halves: one GPU holds it whole too (1 byte an element).
B=out/s6
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv
date -u
run() { local t=$1; shift; echo "## $*"; timeout $t "$@" 2>&1 | tee -a $OUT/scale7.jsonl; }
run 100 $B/bench_scale --devices 0,1 --repeat 3 float32:50000000:96
run 440 $B/bench_scale --devices 0,1 uint8:1000000000:128
free -g
date -u
;;
*)
  echo "usage: bash calls.sh {big|disk|scale|scale2}" >&2
  exit 2
  ;;
esac
