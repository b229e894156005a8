#!/bin/bash
# Issue 11 item 4: file-to-GPU at disk speed. A 30.7 GB .fbin on the machine's disk, page cache
# dropped before each cold read: the disk's own sequential read (dd), then vecaccel search's add
# from the mapped file (FlatIndex::add of a MappedVectors), cold and then warm.
B=out/s6
D=/tmp/disk; mkdir -p $D
date -u; df -h /tmp | cat; grep " / " /proc/mounts
drop() { sync; echo 3 > /proc/sys/vm/drop_caches && echo "caches dropped"; free -g | head -2; }
timeout 10 $B/bench_stream write $D/q.fbin float32:100:96 2
timeout 150 $B/bench_stream write $D/base.fbin float32:80000000:96 1
drop
SECONDS=0; dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1; echo "dd ${SECONDS}s"
drop
for v in vecaccel_before vecaccel; do
  drop
  echo "## $v cold"; timeout 120 $B/$v search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
  echo "## $v warm"; timeout 120 $B/$v search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
done
drop
echo "## vecaccel cold again"; timeout 120 $B/vecaccel search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet
date -u
