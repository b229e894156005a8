#!/usr/bin/env python3
"""PyTorch peer for bench_serving (issue 23): the same calls served the naive way.

T threads each make calls of Q queries (k neighbours, l2) over an N x d base held on the GPU,
back to back for a few seconds; the server runs them one at a time on one CUDA stream (a lock
around `addmm(|x|^2, q, X.T, alpha=-2)` + `topk` + synchronize), which is what a simple
PyTorch service does. Base and queries are uniform in [-1, 1), fp32, as bench_serving's (the
same distribution, not the same values: a scan's cost does not depend on them). Reports aggregate queries/s and the p50/p99 latency of a
call, in bench_serving's table (coalescing "n/a"); --json prints one JSON object instead.

    python3 bench/peers/torch_serving.py --n 1000000 --dim 128 --threads 1,16 --queries 1 \
        --k 10 --seconds 5 [--json]
"""
import argparse
import json
import threading
import time

import torch


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[int(p * (len(values) - 1))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--threads", default="1,16")
    ap.add_argument("--queries", type=int, default=1)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warm-up", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    dev = torch.device("cuda")
    g = torch.Generator().manual_seed(args.seed)
    base = torch.rand(args.n, args.dim, generator=g) * 2 - 1
    pool = torch.rand(4096 * args.queries, args.dim, generator=g) * 2 - 1
    x = base.to(dev)
    xn = (x * x).sum(1)
    pool = pool.to(dev)
    pool_calls = pool.shape[0] // args.queries
    stream = torch.cuda.Stream()
    lock = threading.Lock()

    def search(q):
        with lock, torch.cuda.stream(stream):
            d = torch.addmm(xn[None, :], q, x.T, beta=1.0, alpha=-2.0)
            vals, idx = torch.topk(d, args.k, dim=1, largest=False)
            vals = vals + (q * q).sum(1, keepdim=True)
            stream.synchronize()
            return vals.cpu(), idx.cpu()

    def serve(threads, seconds):
        latencies = [[] for _ in range(threads)]
        end = time.perf_counter() + seconds

        def worker(t):
            call = t
            while time.perf_counter() < end:
                i = call % pool_calls
                q = pool[i * args.queries:(i + 1) * args.queries]
                before = time.perf_counter()
                search(q)
                latencies[t].append((time.perf_counter() - before) * 1e3)
                call += threads

        start = time.perf_counter()
        workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall = time.perf_counter() - start
        all_ms = [v for l in latencies for v in l]
        return {"threads": threads, "coalescing": None, "calls": len(all_ms),
                "qps": len(all_ms) * args.queries / wall, "p50_ms": percentile(all_ms, 0.5),
                "p99_ms": percentile(all_ms, 0.99)}

    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        serve(threads, args.warm_up)
        rows.append(serve(threads, args.seconds))
    name = torch.cuda.get_device_name(dev)
    if args.json:
        print(json.dumps({"peer": "torch", "device": name, "n": args.n, "dim": args.dim,
                          "queries_per_call": args.queries, "k": args.k, "rows": rows}))
        return
    print(f"peer torch on {name}: {args.n} x {args.dim} l2, {args.queries} queries a call, "
          f"k = {args.k}, served serially on one stream")
    print(f"{'threads':>8} {'coalescing':>11} {'calls':>9} {'queries/s':>14} {'p50 ms':>9} "
          f"{'p99 ms':>9} {'exact':>8}")
    for r in rows:
        print(f"{r['threads']:>8} {'n/a':>11} {r['calls']:>9} {r['qps']:>14.1f} "
              f"{r['p50_ms']:>9.3f} {r['p99_ms']:>9.3f} {'n/a':>8}")


if __name__ == "__main__":
    main()
