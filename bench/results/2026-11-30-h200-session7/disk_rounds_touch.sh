#!/bin/bash
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
