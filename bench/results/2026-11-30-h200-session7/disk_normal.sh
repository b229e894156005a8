#!/bin/bash
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
