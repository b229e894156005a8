#!/bin/bash
# The device calls of this session, each as it ran (one machine per call): `bash calls.sh NAME`
# runs call NAME. README.md or BENCHMARKS.md says which output each call wrote.
case "${1:-}" in
call2_gpu)
# Session 8, one call on nvidia-h200-x2: main at the session's start (214ca22), release build.
# (1) the 2-GPU ratio at 50M x 96 float32 after the merge over queries (1477d12), ingestion;
# (2) the focus points, Fashion-MNIST and half the sweep, ours then the PyTorch peer, after the
# loop-turn dispatch changes (246bec2, 772122a, 9679140), which were not measured on a GPU.
B=out/s8/main
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv
nproc; date -u
run() { local t=$1 f=$2; shift 2; echo "## $*"; timeout $t "$@" 2>&1 | tee -a $OUT/$f; }
run 150 scale.jsonl $B/bench_scale --devices 0,1 --repeat 3 float32:50000000:96
run 30 ingest.jsonl $B/bench_ingest add 7500000 128 3
mkdir -p /tmp/fm && for f in $B/fm/*.gz; do gunzip -c $f > /tmp/fm/$(basename $f .gz); done
run 60 ours_focus.txt $B/bench_knn --points $B/focus.txt --repeat 3 --bandwidth-gbs 4800 --json $OUT/ours_focus.json
run 40 ours_fm.txt $B/bench_knn --fmnist /tmp/fm --repeat 3 --bandwidth-gbs 4800 --json $OUT/ours_fm.json
run 70 peer_focus.txt python3 $B/torch_knn.py --points $B/focus.txt --repeat 3 --json $OUT/peer_focus.json
run 30 peer_fm.txt python3 $B/torch_knn.py --fmnist /tmp/fm --repeat 3 --json $OUT/peer_fm.json
run 70 ours_sweep.txt $B/bench_knn --points $B/half.txt --repeat 3 --bandwidth-gbs 4800 --json $OUT/ours_sweep.json
run 60 peer_sweep.txt python3 $B/torch_knn.py --points $B/half.txt --repeat 3 --json $OUT/peer_sweep.json
date -u
;;
call3_ab)
# Session 8: points that ran 5-23% slower (GPU ms) than session 5: bench_knn of session 5
# (4232b1e, "old") against main (214ca22) alternately, same machine; then the points the
# first call's timeouts cut, ours and the PyTorch peer.
A=out/s8/ab; M=out/s8/main
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
run() { local t=$1 f=$2; shift 2; echo "## $*"; timeout $t "$@" 2>&1 | tee -a $OUT/$f; }
for r in 1 2; do
  run 60 ab.txt $A/bench_knn_old --points $A/ab.txt --repeat 5 --json $OUT/ab_old$r.json
  run 60 ab.txt $M/bench_knn --points $A/ab.txt --repeat 5 --json $OUT/ab_new$r.json
done
mkdir -p /tmp/fm && for f in $M/fm/*.gz; do gunzip -c $f > /tmp/fm/$(basename $f .gz); done
run 30 ab.txt $A/bench_knn_old --fmnist /tmp/fm --repeat 5 --json $OUT/fm_old.json
run 30 ab.txt $M/bench_knn --fmnist /tmp/fm --repeat 5 --json $OUT/fm_new.json
run 100 rest.txt $M/bench_knn --points $A/rest.txt --repeat 3 --bandwidth-gbs 4800 --json $OUT/ours_rest.json
run 60 rest.txt python3 $M/torch_knn.py --points $A/rest.txt --repeat 3 --json $OUT/peer_rest.json
date -u
;;
call4_disk_load)
# Issue 11 item 4: is the cold add's gap to dd the machine's load rather than the read pattern?
# Per round: dd alone; cold add (main, 214ca22); dd beside 16 busy CPU loops (no I/O, no
# PCIe); dd beside two back-to-back loops of cached adds of another base (the upload's own
# load: staging on every core, PCIe, GPU copies). Two rounds. 40M x 96 float32 (15.36 GB).
B=out/s8/disk2
D=/tmp/disk; mkdir -p $D
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; nproc; date -u
evict() { sync; dd if=$D/base.fbin iflag=nocache count=0 status=none; }
timeout 10 $B/bench_stream write $D/q.fbin float32:100:96 2
timeout 100 $B/bench_stream write $D/base.fbin float32:40000000:96 1
timeout 60 $B/bench_stream write /dev/shm/hot.fbin float32:20000000:96 3
sync; echo 3 > /proc/sys/vm/drop_caches
search() { $B/vecaccel search --base $1 --query $D/q.fbin -k 10 --json --quiet | grep -o '"add_ms": [0-9.]*'; }
echo "## warm-up"; search /dev/shm/hot.fbin
ddread() { dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1; }
for round in 1 2; do
  evict; echo "## round $round: dd alone"; ddread
  evict; echo "## round $round: cold add"; search $D/base.fbin
  evict; echo "## round $round: dd beside 16 busy loops"
  pids=(); for i in $(seq 16); do (while :; do :; done) & pids+=($!); done
  sleep 0.5; ddread; kill ${pids[@]}; wait ${pids[@]} 2>/dev/null
  evict; echo "## round $round: dd beside cached adds"
  rm -f /tmp/stop
  for l in 1 2; do (while [ ! -e /tmp/stop ]; do search /dev/shm/hot.fbin; done > /tmp/load$l.txt) & done
  sleep 1.5; ddread; touch /tmp/stop; wait
  echo "cached adds during it: $(cat /tmp/load1.txt /tmp/load2.txt | tr '\n' ' ')"
  evict; echo "## round $round: cold add again"; search $D/base.fbin
done
date -u
;;
call5_disk_cpus)
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
;;
call6_disk_pread)
# Issue 11 item 4: the virtio disk's interrupts all land on CPU 15. Cold adds with large
# sequential preads (branch disk-pread, one slice ahead) and fewer staging threads, kept off
# CPU 15 (taskset), against dd alone and main. 40M x 96 float32 (15.36 GB).
B=out/s8/disk2
D=/tmp/disk; mkdir -p $D
date -u
evict() { sync; dd if=$D/base.fbin iflag=nocache count=0 status=none; }
timeout 10 $B/bench_stream write $D/q.fbin float32:100:96 2
timeout 100 $B/bench_stream write $D/base.fbin float32:40000000:96 1
sync; echo 3 > /proc/sys/vm/drop_caches
ddread() { dd if=$D/base.fbin of=/dev/null bs=64M 2>&1 | tail -1; }
TIMEFORMAT="real %R user %U sys %S"
cold() {  # label cpus threads binary
  evict; echo "## $1"
  time VECACCEL_EXPERIMENT_STAGING_THREADS=$3 taskset -c $2 $B/$4 search --base $D/base.fbin --query $D/q.fbin -k 10 --json --quiet | grep -o '"add_ms": [0-9.]*'
}
$B/vecaccel search --base $D/q.fbin --query $D/q.fbin -k 10 --json --quiet > /dev/null
for round in 1 2; do
  evict; echo "## dd alone"; time ddread
  cold "main" 0-15 16 vecaccel
  cold "pread 16 threads, all CPUs" 0-15 16 vecaccel_pread_cap
  cold "pread 8 threads, CPUs 0-14" 0-14 8 vecaccel_pread_cap
  cold "pread 4 threads, CPUs 0-14" 0-14 4 vecaccel_pread_cap
  cold "read-around 8 threads, CPUs 0-14" 0-14 8 vecaccel_cap
done
evict; echo "## dd alone"; time ddread
grep -E "^ *31:" /proc/interrupts | cut -c1-200
date -u
;;
call7_disk_stacks)
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
;;
*)
  echo "usage: bash calls.sh {call2_gpu|call3_ab|call4_disk_load|call5_disk_cpus|call6_disk_pread|call7_disk_stacks}" >&2
  exit 2
  ;;
esac
