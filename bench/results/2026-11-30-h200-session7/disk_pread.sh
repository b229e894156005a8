#!/bin/bash
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
