#!/usr/bin/python3
"""FlatIndex.search from Python against the same call from C++ (bench_flat_search).

Both sides search the same .npy files with the same library build; rounds alternate between
the C++ program and this process so that machine load falls on both alike. Reports the median
and the minimum of each side's wall time and process CPU time, and the Python overhead in
percent. (On lavapipe the device is the process's own threads: CPU time measures the work and
is less disturbed than wall time by other load on the machine.)

    PYTHONPATH=build/python bench/python_search.py --cpp build/bench/bench_flat_search \
        [--n 20000 --dim 128 --queries 1000 -k 10 --rounds 5 --repeats 5] [--json out.json]
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import vecaccel


def cpp_times(program, base, queries, k, repeats):
    out = subprocess.run([program, base, queries, str(k), str(repeats)], check=True,
                         capture_output=True, text=True).stdout
    figures = json.loads(out)
    return list(zip(figures["ms"], figures["cpu_ms"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpp", required=True, help="path of bench_flat_search")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="searches per round and side")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    base = rng.uniform(-1, 1, (args.n, args.dim)).astype(np.float32)
    queries = rng.uniform(-1, 1, (args.queries, args.dim)).astype(np.float32)
    index = vecaccel.FlatIndex(args.dim, "l2")
    index.add(base)
    index.search(queries, args.k)  # warm-up, as the C++ side does

    py, cpp = [], []
    with tempfile.TemporaryDirectory() as tmp:
        base_path, query_path = str(Path(tmp, "base.npy")), str(Path(tmp, "queries.npy"))
        np.save(base_path, base)
        np.save(query_path, queries)
        for _ in range(args.rounds):
            cpp += cpp_times(args.cpp, base_path, query_path, args.k, args.repeats)
            for _ in range(args.repeats):
                cpu_start, start = time.process_time(), time.perf_counter()
                index.search(queries, args.k)
                py.append(((time.perf_counter() - start) * 1e3, (time.process_time() - cpu_start) * 1e3))

    result = {"device": index.context.device["name"], "n": args.n, "dim": args.dim,
              "queries": args.queries, "k": args.k}
    print(f"{result['device']}: N={args.n} d={args.dim} Q={args.queries} k={args.k}, "
          f"{len(py)} searches a side")
    for column, what in enumerate(["wall", "cpu"]):
        ours = {side: [t[column] for t in times] for side, times in (("python", py), ("cpp", cpp))}
        stats = {side: {"median": statistics.median(v), "min": min(v), "all": v} for side, v in ours.items()}
        overhead = {s: 100 * (stats["python"][s] / stats["cpp"][s] - 1) for s in ("median", "min")}
        result[what] = {**stats, "python_overhead_pct": overhead}
        print(f"  {what:4} C++ median {stats['cpp']['median']:9.2f} ms, min {stats['cpp']['min']:9.2f} ms | "
              f"Python median {stats['python']['median']:9.2f} ms, min {stats['python']['min']:9.2f} ms | "
              f"overhead {overhead['median']:+.1f}% (median), {overhead['min']:+.1f}% (min)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
