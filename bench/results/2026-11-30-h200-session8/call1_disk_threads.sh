#!/bin/bash
# Issue 11 item 4, next experiment: does staging on every core slow a cold file's reads?
# (1) dd alone against dd while cached adds of another base run; (2) cold adds with the
# staging crew capped at 16 (default on the VM) down to 2 threads, read-around (vecaccel_cap)
# and pread one slice ahead (vecaccel_pread_cap). The base file alone is evicted each time.
# run(kind nvidia-h200, carry [".gl", "out/s8"], timeout 560,
#   "for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; bash out/s8/disk_threads.sh > $OUT/disk.txt 2>&1; grep -o '^##.*\|\"add_ms\": [0-9.]*\|.*copied.*' $OUT/disk.txt")
B=out/s8
D=/tmp/disk; mkdir -p $D
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
evict() { sync; dd if=$D/base.fbin iflag=nocache count=0 status=none; }
timeout 10 $B/bench_stream write $D/q.fbin float32:100:96 2
timeout 150 $B/bench_stream write $D/base.fbin float32:80000000:96 1
timeout 100 $B/bench_stream write /dev/shm/hot.fbin float32:30000000:96 3
sync; echo 3 > /proc/sys/vm/drop_caches
echo "## warm-up"; $B/vecaccel_cap search --base /dev/shm/hot.fbin --query $D/q.fbin -k 10 --json --quiet
evict; echo "## dd alone"; dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1
evict; echo "## dd beside cached adds"
( for i in 1 2 3 4 5 6 7 8; do $B/vecaccel_cap search --base /dev/shm/hot.fbin --query $D/q.fbin -k 10 --json --quiet | grep -o '"add_ms": [0-9.]*'; done ) &
sleep 1; dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1; wait
run() {  # binary threads
  evict; echo "## $1 threads $2 cold"
  VECACCEL_EXPERIMENT_STAGING_THREADS=$2 timeout 100 $B/$1 search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
}
for t in 16 12 8 4; do run vecaccel_cap $t; done
evict; echo "## dd alone"; dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1
for t in 16 14 12 8 4 2; do run vecaccel_pread_cap $t; done
evict; echo "## dd alone"; dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1
