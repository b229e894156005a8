#!/bin/bash
# Issue 11 item 4: where the cold add's 25-30 s of kernel time (16 staging threads; 5 s with 4)
# goes: /proc/vmstat deltas and samples of every thread's kernel stack (top 4 frames, every
# ~20 ms), for main cold, pread variant with 16 threads cold, and main with the file cached.
B=out/s8/disk2
D=/tmp/disk; mkdir -p $D
date -u
evict() { sync; dd if=$D/base.fbin iflag=nocache count=0 status=none; }
timeout 10 $B/bench_stream write $D/q.fbin float32:100:96 2
timeout 100 $B/bench_stream write $D/base.fbin float32:40000000:96 1
sync; echo 3 > /proc/sys/vm/drop_caches
$B/vecaccel search --base $D/q.fbin --query $D/q.fbin -k 10 --json --quiet > /dev/null
vmkeys='^(pgfault|pgmajfault|pgactivate|thp_fault_alloc|numa_hint_faults|pgsteal_kswapd|tlb_remote|nr_tlb)'
profile() {  # label binary threads
  echo "## $1"
  grep -E "$vmkeys" /proc/vmstat > /tmp/vm0
  VECACCEL_EXPERIMENT_STAGING_THREADS=$3 $B/$2 search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet > /tmp/out.json &
  pid=$!; : > /tmp/stacks
  while kill -0 $pid 2>/dev/null; do
    for t in /proc/$pid/task/*; do head -4 $t/stack 2>/dev/null | awk '{print $2}' | paste -sd' ' >> /tmp/stacks; done
    sleep 0.02
  done
  wait $pid; grep -o '"add_ms": [0-9.]*' /tmp/out.json
  grep -E "$vmkeys" /proc/vmstat > /tmp/vm1; paste /tmp/vm0 /tmp/vm1 | awk '{print $1, $4-$2}'
  echo "samples: $(wc -l < /tmp/stacks)"; sort /tmp/stacks | uniq -c | sort -rn | head -14
}
evict; profile "main cold" vecaccel 16
evict; profile "pread 16 threads cold" vecaccel_pread_cap 16
profile "main cached" vecaccel 16
evict; echo "## dd alone"; dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1
date -u
