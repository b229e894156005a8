#!/bin/bash
# Issue 11 item 4: CPU time of a cold add, where the virtio disk's interrupts go, and cold adds
# kept off some CPUs (taskset), against dd alone. 40M x 96 float32 (15.36 GB).
B=out/s8/disk2
D=/tmp/disk; mkdir -p $D
date -u
evict() { sync; dd if=$D/base.fbin iflag=nocache count=0 status=none; }
timeout 10 $B/bench_stream write $D/q.fbin float32:100:96 2
timeout 100 $B/bench_stream write $D/base.fbin float32:40000000:96 1
sync; echo 3 > /proc/sys/vm/drop_caches
grep -i -E "virtio|nvme|CPU0" /proc/interrupts | cut -c1-200 | head -20
for d in /sys/block/*; do echo "$d $(cat $d/queue/read_ahead_kb 2>/dev/null) $(cat $d/queue/nr_requests 2>/dev/null) $(cat $d/queue/scheduler 2>/dev/null)"; done
search() { $B/vecaccel search --base $1 --query $D/q.fbin -k 10 --json --quiet | grep -o '"add_ms": [0-9.]*'; }
ddread() { dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1; }
TIMEFORMAT="real %R user %U sys %S"
search $D/q.fbin
evict; echo "## dd alone"; time ddread
evict; echo "## cold add, vmstat"; vmstat 1 > /tmp/vm.txt & V=$!; time search $D/base.fbin; kill $V; cat /tmp/vm.txt
evict; echo "## dd alone, vmstat"; vmstat 1 > /tmp/vm.txt & V=$!; time ddread; kill $V; cat /tmp/vm.txt
for cpus in 2-15 0-13 4-15 0-7; do
  evict; echo "## cold add on CPUs $cpus"; time taskset -c $cpus $B/vecaccel search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet | grep -o '"add_ms": [0-9.]*'
done
evict; echo "## cold add"; time search $D/base.fbin
evict; echo "## dd alone"; time ddread
grep -i -E "virtio|nvme" /proc/interrupts | cut -c1-200 | head -20
date -u
