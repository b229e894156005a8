#!/bin/bash
# Issue 11 item 4: the virtio disk's interrupts all land on CPU 15. Cold adds with large
# sequential preads (branch disk-pread, one slice ahead) and fewer staging threads, kept off
# CPU 15 (taskset), against dd alone and main. 40M x 96 float32 (15.36 GB).
B=out/s8/disk2
D=/tmp/disk; mkdir -p $D
date -u
evict() { sync; dd if=$D/base.fbin iflag=nocache count=0 status=none; }
timeout 10 $B/bench_stream write $D/q.fbin float32:100:96 2
timeout 100 $B/bench_stream write $D/base.fbin float32:40000000:96 1
sync; echo 3 > /proc/sys/vm/drop_caches
ddread() { dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1; }
TIMEFORMAT="real %R user %U sys %S"
cold() {  # label cpus threads binary
  evict; echo "## $1"
  time VECACCEL_EXPERIMENT_STAGING_THREADS=$3 taskset -c $2 $B/$4 search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet | grep -o '"add_ms": [0-9.]*'
}
$B/vecaccel search --base $D/q.fbin --query $D/q.fbin -k 10 --json --quiet > /dev/null
for round in 1 2; do
  evict; echo "## dd alone"; time ddread
  cold "main" 0-15 16 vecaccel
  cold "pread 16 threads, all CPUs" 0-15 16 vecaccel_pread_cap
  cold "pread 8 threads, CPUs 0-14" 0-14 8 vecaccel_pread_cap
  cold "pread 4 threads, CPUs 0-14" 0-14 4 vecaccel_pread_cap
  cold "read-around 8 threads, CPUs 0-14" 0-14 8 vecaccel_cap
done
evict; echo "## dd alone"; time ddread
grep -E "^ *31:" /proc/interrupts | cut -c1-200
date -u
