#!/bin/bash
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
