#!/bin/bash
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
