#!/bin/bash
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
