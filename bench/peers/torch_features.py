#!/usr/bin/env python3
"""PyTorch peer for bench_features (issue 22): the same work, the way a PyTorch user does it.

Over an N x d base (uniform in [-1, 1), fp32, held on the GPU), Q queries, l2:
  - unfiltered: addmm(|x|^2, q, X.T, alpha=-2) + topk, in query batches;
  - allow-list of 1% of the ids: index_select of the allowed rows, then the same (gather included);
  - bitset allowing 50%: the distances of disallowed rows set to +inf (masked_fill), then topk;
  - k = --big-k: the same with topk(k);
  - kNN graph of the first --graph-n rows: batches of rows against all of them, topk(k + 1), the
    row itself dropped.
Times are the median of --repeat (cuda synchronize around each), queries already on the GPU and
results left there (ours are end to end from host memory: say so beside a ratio). Prints
bench_features' table.

    python3 bench/peers/torch_features.py --n 1000000 --dim 128 --queries 1000 --k 10 \
        --big-k 10000 --graph-n 1000000 --graph-k 10 [--repeat 5] [--graph-repeat 1]
"""
import argparse
import time

import torch

from torch_knn import warm_up  # a second of untimed runs, as bench_features


def median_ms(repeat, work):
    warm_up(work)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


def knn(x, xn, q, k, mask=None, batch=1024):
    """The k smallest l2 distances of each query, in query batches (bounded memory)."""
    out_d, out_i = [], []
    for s in range(0, q.shape[0], batch):
        qb = q[s:s + batch]
        d = torch.addmm(xn[None, :], qb, x.T, beta=1.0, alpha=-2.0)
        if mask is not None:
            d.masked_fill_(~mask[None, :], float("inf"))
        v, i = torch.topk(d, k, dim=1, largest=False)
        out_d.append(v + (qb * qb).sum(1, keepdim=True))
        out_i.append(i)
    return torch.cat(out_d), torch.cat(out_i)


def graph(x, xn, k, batch):
    """Each row's k nearest other rows (itself dropped by position)."""
    out = []
    rows = torch.arange(x.shape[0], device=x.device)
    for s in range(0, x.shape[0], batch):
        qb = x[s:s + batch]
        d = torch.addmm(xn[None, :], qb, x.T, beta=1.0, alpha=-2.0)
        d[torch.arange(qb.shape[0], device=x.device), rows[s:s + batch]] = float("inf")
        _, i = torch.topk(d, k, dim=1, largest=False)
        out.append(i)
    return torch.cat(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--big-k", type=int, default=10_000)
    ap.add_argument("--graph-n", type=int, default=1_000_000)
    ap.add_argument("--graph-k", type=int, default=10)
    ap.add_argument("--graph-batch", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--graph-repeat", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    dev = torch.device("cuda")
    g = torch.Generator().manual_seed(args.seed)
    x = (torch.rand(args.n, args.dim, generator=g) * 2 - 1).to(dev)
    q = (torch.rand(args.queries, args.dim, generator=g) * 2 - 1).to(dev)
    xn = (x * x).sum(1)
    allowed = torch.randperm(args.n, generator=g)[: max(1, args.n // 100)].to(dev)
    half = (torch.rand(args.n, generator=g) < 0.5).to(dev)
    print(f"peer torch fp32 on {torch.cuda.get_device_name()}: {args.n} x {args.dim} l2, "
          f"Q = {args.queries}, median of {args.repeat} (ratio: to the first row of its group)")

    def row(what, ms, base_ms):
        print(f"{what:<44} {ms:10.3f} ms {ms / base_ms:8.3f}x")

    plain = median_ms(args.repeat, lambda: knn(x, xn, q, args.k))
    row("unfiltered", plain, plain)

    def gathered():
        xs = x.index_select(0, allowed)
        _, i = knn(xs, xn.index_select(0, allowed), q, min(args.k, xs.shape[0]))
        return allowed[i]

    row("allow-list of 1% of the ids", median_ms(args.repeat, gathered), plain)
    row("bitset allowing 50% of the ids",
        median_ms(args.repeat, lambda: knn(x, xn, q, args.k, mask=half)), plain)
    big_k = min(args.big_k, args.n)
    row(f"k = {big_k}", median_ms(args.repeat, lambda: knn(x, xn, q, big_k, batch=256)), plain)
    if args.graph_n > 0:
        rows = min(args.graph_n, args.n)
        xg, xgn = x[:rows], xn[:rows]
        self_ms = median_ms(args.graph_repeat,
                            lambda: knn(xg, xgn, xg, args.graph_k + 1, batch=args.graph_batch))
        row(f"search of the rows with k + 1 = {args.graph_k + 1}", self_ms, self_ms)
        row(f"knn_graph {rows} rows, k = {args.graph_k}",
            median_ms(args.graph_repeat, lambda: graph(xg, xgn, args.graph_k, args.graph_batch)),
            self_ms)


if __name__ == "__main__":
    main()
