#!/usr/bin/env python3
"""The kNN sweep's points (issue: "a sweep, not four points"): a deterministic sample of
d x k x Q x N x metric, every value of each axis present, each point within the memory of one
GPU and of the host that generates it. Prints lines of 'n dim queries k metric' for
`bench_knn --points` and `torch_knn.py --points`.

  bench/sweep_points.py [--count 66] [--max-elements 2.6e9] > points.txt
"""
import argparse
import itertools
import random

DIMS = [32, 64, 96, 128, 200, 256, 384, 512, 768, 960, 1024, 1536]
KS = [1, 10, 100, 1000]
QUERIES = [1, 32, 1000, 10000]
BASES = [100_000, 1_000_000, 10_000_000]
METRICS = ["l2", "inner_product", "cosine"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=66)
    p.add_argument("--max-elements", type=float, default=2.6e9,
                   help="largest n x dim (10 GB of float32 at 2.6e9)")
    p.add_argument("--seed", type=int, default=2026)
    a = p.parse_args()
    grid = [pt for pt in itertools.product(BASES, DIMS, QUERIES, KS, METRICS)
            if pt[0] * pt[1] <= a.max_elements and pt[3] <= pt[0]]
    rng = random.Random(a.seed)
    rng.shuffle(grid)
    chosen = []
    # Every value of every axis at least once, then the rest at random.
    for axis, values in enumerate((BASES, DIMS, QUERIES, KS, METRICS)):
        for v in values:
            if not any(pt[axis] == v for pt in chosen):
                chosen.append(next(pt for pt in grid if pt[axis] == v and pt not in chosen))
    for pt in grid:
        if len(chosen) >= a.count:
            break
        if pt not in chosen:
            chosen.append(pt)
    # Grouped by base so a run generates and uploads each base once.
    chosen.sort(key=lambda pt: (pt[0], pt[1], pt[4], pt[2], pt[3]))
    for n, dim, q, k, metric in chosen:
        print(n, dim, q, k, metric)


if __name__ == "__main__":
    main()
