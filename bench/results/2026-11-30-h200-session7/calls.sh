#!/bin/bash
# The device calls of this session, each as it ran (one machine per call): `bash calls.sh NAME`
# runs call NAME. README.md or BENCHMARKS.md says which output each call wrote.
case "${1:-}" in
disk_evict)
# Issue 11 item 4: the base file alone evicted from the page cache (driver files stay cached,
# as after any first run), rounds of dd / default read-around / + touching threads.
B=out/s7
D=/tmp/disk; mkdir -p $D
echo "ra $(cat /sys/block/vda/queue/read_ahead_kb) KiB"
evict() { sync; dd if=$D/base.fbin iflag=nocache count=0 status=none; fincore -b $D/base.fbin | tail -1; }
timeout 10 $B/bench_stream write $D/q.fbin float32:100:96 2
timeout 10 $B/bench_stream write $D/small.fbin float32:1000:96 2
timeout 150 $B/bench_stream write $D/base.fbin float32:80000000:96 1
sync; echo 3 > /proc/sys/vm/drop_caches
echo "## warm-up"; $B/vecaccel_touch search --base $D/small.fbin --query $D/q.fbin -k 10 --json --quiet
for round in 1 2; do
  evict; echo "## round $round dd"; dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1
  for v in vecaccel_normal vecaccel_touch; do
    evict; echo "## round $round $v cold"; timeout 100 $B/$v search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
  done
done
echo "## vecaccel_touch cached"; timeout 100 $B/vecaccel_touch search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
;;
disk_normal)
# Issue 11 item 4 (file-to-GPU at disk speed): main (mapping advised MADV_SEQUENTIAL) against
# the default read-around (vecaccel_normal), cold and cached, beside dd, float32 and uint8.
B=out/s7
D=/tmp/disk; mkdir -p $D
echo "ra $(cat /sys/block/vda/queue/read_ahead_kb) KiB"
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
timeout 10 $B/bench_stream write $D/q.fbin float32:100:96 2
timeout 10 $B/bench_stream write $D/q.u8bin uint8:100:128 2
timeout 150 $B/bench_stream write $D/base.fbin float32:80000000:96 1
drop; dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1
for v in vecaccel_main vecaccel_normal vecaccel_main vecaccel_normal; do
  drop
  echo "## float $v cold"; timeout 100 $B/$v search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
done
echo "## float vecaccel_normal cached"; timeout 100 $B/vecaccel_normal search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
rm $D/base.fbin
timeout 150 $B/bench_stream write $D/base.u8bin uint8:240000000:128 1
drop; dd if=$D/base.u8bin of=/dev/null bs=64M 2>&1 | tail -1
for v in vecaccel_normal vecaccel_main; do
  drop
  echo "## uint8 $v cold"; timeout 100 $B/$v search --base $D/base.u8bin --query $D/q.u8bin -k 10 --json --quiet
done
;;
disk_pread)
# Issue 11 item 4: the base file alone evicted; dd / default read-around (vecaccel_normal) /
# cold slices read with pread one slice ahead (vecaccel_pread), same output bytes.
B=out/s7
D=/tmp/disk; mkdir -p $D
evict() { sync; dd if=$D/base.fbin iflag=nocache count=0 status=none; }
timeout 10 $B/bench_stream write $D/q.fbin float32:100:96 2
timeout 10 $B/bench_stream write $D/small.fbin float32:1000:96 2
timeout 150 $B/bench_stream write $D/base.fbin float32:80000000:96 1
sync; echo 3 > /proc/sys/vm/drop_caches
echo "## warm-up"; $B/vecaccel_pread search --base $D/small.fbin --query $D/q.fbin -k 10 --json --quiet
evict; echo "## dd"; dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1
for v in vecaccel_pread vecaccel_normal vecaccel_pread; do
  evict; echo "## $v cold"; timeout 100 $B/$v search --base $D/base.fbin --query $D/q.fbin -k 10 --output $D/$v.ibin --json --quiet
done
evict; echo "## dd"; dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1
echo "## vecaccel_pread cached"; timeout 100 $B/vecaccel_pread search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
cmp $D/vecaccel_pread.ibin $D/vecaccel_normal.ibin && echo "## outputs identical"
;;
disk_readahead)
# Issue 11 item 4 (file-to-GPU at disk speed): main against branch disk-readahead (MADV_WILLNEED
# in 1 MiB pieces for the 3 slices ahead), cold and cached, with the disk's own rate, in one call.
B=out/s7
D=/tmp/disk; mkdir -p $D
echo "ra $(cat /sys/block/vda/queue/read_ahead_kb) KiB, max_sectors $(cat /sys/block/vda/queue/max_sectors_kb) KiB"
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
timeout 10 $B/bench_stream write $D/q.fbin float32:100:96 2
timeout 150 $B/bench_stream write $D/base.fbin float32:80000000:96 1
drop; dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1
for v in vecaccel_main vecaccel_readahead vecaccel_main vecaccel_readahead; do
  drop
  echo "## $v cold"; timeout 100 $B/$v search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
done
echo "## vecaccel_readahead cached"; timeout 100 $B/vecaccel_readahead search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
;;
disk_rounds_touch)
# Issue 11 item 4: rounds of dd / default read-around / read-around + 8 threads touching 2 slices ahead, cold,
# on one 30.72 GB .fbin, so that the disk's drift shows in every round.
B=out/s7
D=/tmp/disk; mkdir -p $D
echo "ra $(cat /sys/block/vda/queue/read_ahead_kb) KiB"
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
timeout 10 $B/bench_stream write $D/q.fbin float32:100:96 2
timeout 150 $B/bench_stream write $D/base.fbin float32:80000000:96 1
for round in 1 2 3; do
  drop; echo "## round $round dd"; dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1
  for v in vecaccel_normal vecaccel_touch; do
    drop; echo "## round $round $v cold"; timeout 100 $B/$v search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
  done
done

echo "## vecaccel_touch cached"; timeout 100 $B/vecaccel_touch search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
;;
disk_rounds_willneed)
# Issue 11 item 4: rounds of dd / default read-around / read-around + WILLNEED ahead, cold,
# on one 30.72 GB .fbin, so that the disk's drift shows in every round.
B=out/s7
D=/tmp/disk; mkdir -p $D
echo "ra $(cat /sys/block/vda/queue/read_ahead_kb) KiB"
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
timeout 10 $B/bench_stream write $D/q.fbin float32:100:96 2
timeout 150 $B/bench_stream write $D/base.fbin float32:80000000:96 1
for round in 1 2 3; do
  drop; echo "## round $round dd"; dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1
  for v in vecaccel_normal vecaccel_normal_ra; do
    drop; echo "## round $round $v cold"; timeout 100 $B/$v search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
  done
done

echo "## vecaccel_normal_ra cached"; timeout 100 $B/vecaccel_normal_ra search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
;;
diskprobe)
# Cold-file read strategies on the GPU VM's disk (issue 11 item 4), 10 GB of a 15.4 GB file each.
B=out/s7
D=/tmp/disk; mkdir -p $D
echo "ra $(cat /sys/block/vda/queue/read_ahead_kb) KiB, max_sectors $(cat /sys/block/vda/queue/max_sectors_kb) KiB, nr_requests $(cat /sys/block/vda/queue/nr_requests), sched $(cat /sys/block/vda/queue/scheduler), mq $(ls /sys/block/vda/mq | wc -l)"
df -T /tmp | tail -1
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
timeout 150 $B/bench_stream write $D/base.fbin float32:40000000:96 1
drop; echo "dd buffered"; dd if=$D/base.fbin of=/dev/null bs=64M count=160 2>&1 | tail -1
drop; echo "dd direct"; dd if=$D/base.fbin of=/dev/null bs=64M count=160 iflag=direct 2>&1 | tail -1
for m in "fault 16 64" "faultnorm 16 64" "pread 1 8" "pread 4 16" "pread 8 4" "direct 1 64" "direct 4 16" "direct 8 8" "direct 16 4" "direct 8 16" "reader 16 8" "fault 16 64"; do
  drop; timeout 60 $B/diskprobe $D/base.fbin $m 10
done
;;
next_disk_threads)
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
;;
*)
  echo "usage: bash calls.sh {disk_evict|disk_normal|disk_pread|disk_readahead|disk_rounds_touch|disk_rounds_willneed|diskprobe|next_disk_threads}" >&2
  exit 2
  ;;
esac
