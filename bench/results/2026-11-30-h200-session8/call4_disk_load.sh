#!/bin/bash
# Issue 11 item 4: is the cold add's gap to dd the machine's load rather than the read pattern?
# Per round: dd alone; cold add (main, 214ca22); dd beside 16 busy CPU loops (no I/O, no
# PCIe); dd beside two back-to-back loops of cached adds of another base (the upload's own
# load: staging on every core, PCIe, GPU copies). Two rounds. 40M x 96 float32 (15.36 GB).
B=out/s8/disk2
D=/tmp/disk; mkdir -p $D
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; nproc; date -u
evict() { sync; dd if=$D/base.fbin iflag=nocache count=0 status=none; }
timeout 10 $B/bench_stream write $D/q.fbin float32:100:96 2
timeout 100 $B/bench_stream write $D/base.fbin float32:40000000:96 1
timeout 60 $B/bench_stream write /dev/shm/hot.fbin float32:20000000:96 3
sync; echo 3 > /proc/sys/vm/drop_caches
search() { $B/vecaccel search --base $1 --query $D/q.fbin -k 10 --json --quiet | grep -o '"add_ms": [0-9.]*'; }
echo "## warm-up"; search /dev/shm/hot.fbin
ddread() { dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1; }
for round in 1 2; do
  evict; echo "## round $round: dd alone"; ddread
  evict; echo "## round $round: cold add"; search $D/base.fbin
  evict; echo "## round $round: dd beside 16 busy loops"
  pids=(); for i in $(seq 16); do (while :; do :; done) & pids+=($!); done
  sleep 0.5; ddread; kill ${pids[@]}; wait ${pids[@]} 2>/dev/null
  evict; echo "## round $round: dd beside cached adds"
  rm -f /tmp/stop
  for l in 1 2; do (while [ ! -e /tmp/stop ]; do search /dev/shm/hot.fbin; done > /tmp/load$l.txt) & done
  sleep 1.5; ddread; touch /tmp/stop; wait
  echo "cached adds during it: $(cat /tmp/load1.txt /tmp/load2.txt | tr '\n' ' ')"
  evict; echo "## round $round: cold add again"; search $D/base.fbin
done
date -u
