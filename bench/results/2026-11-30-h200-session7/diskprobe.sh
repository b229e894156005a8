#!/bin/bash
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
