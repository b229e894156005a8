#!/usr/bin/env python3
"""PyTorch peer for bench_knn: exact kNN as `addmm(|x|^2, q, X.T, alpha=-2)` + `topk`, fp32
and tf32.

Same configurations as bench_knn (PERFORMANCE.md). Data lives on the GPU before timing (as a
user of PyTorch would have it); queries go in batches only where the score matrix would not
fit the GPU's memory; each timing is the median of CUDA-event-timed runs after a
second of warm-up. The result of the fp32 run is checked against a float64 reference on a sample of
queries. Prints a table; --json FILE writes the figures.
"""
import argparse
import json
import statistics
import time

import torch


def knn_batch(q, x, xn, k, metric):
    if metric == "cosine":
        q = q / q.norm(dim=1, keepdim=True).clamp(min=1e-30)
        x = x / x.norm(dim=1, keepdim=True).clamp(min=1e-30)  # (a user would normalise once)
    if metric in ("l1", "linf"):
        d = torch.cdist(q, x, p=1.0 if metric == "l1" else float("inf"))
        return torch.topk(d, k, dim=1, largest=False)
    if metric == "l2":
        # |x|^2 - 2 q.x in one GEMM with the norms as its bias; |q|^2 is constant per row and
        # does not change the order, so it is added to the k results only.
        d = torch.addmm(xn[None, :], q, x.T, beta=1.0, alpha=-2.0)
        vals, idx = torch.topk(d, k, dim=1, largest=False)
        return vals + (q * q).sum(1, keepdim=True), idx
    vals, idx = torch.topk(q @ x.T, k, dim=1, largest=True)
    return vals, idx


def query_batch(n):
    """Queries per GEMM: the Q x N score matrix (4 bytes a pair, plus room for topk) within
    the free memory, as a user would split them (10,000 x 1M takes 40 GB)."""
    free, _ = torch.cuda.mem_get_info()
    return max(1, int(free * 0.7) // (4 * n))


def knn(q, x, xn, k, metric, batch):
    if q.shape[0] <= batch:
        return knn_batch(q, x, xn, k, metric)
    parts = [knn_batch(q[i:i + batch], x, xn, k, metric) for i in range(0, q.shape[0], batch)]
    return torch.cat([v for v, _ in parts]), torch.cat([i for _, i in parts])


WARM_UP_SECONDS = 1.0  # as bench_knn --warm-up: the GPU's clock rises only under sustained load


def warm_up(fn, seconds=WARM_UP_SECONDS):
    """Untimed back-to-back runs of fn for `seconds` (at least one)."""
    end = time.perf_counter() + seconds
    while True:
        fn()
        torch.cuda.synchronize()
        if time.perf_counter() >= end:
            return


def time_ms(fn, repeat):
    warm_up(fn)
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def exact_fraction(q, x, idx, k, metric, samples=8):
    """Share of sampled queries whose ids are the float64 brute force's, in its order (ties by
    index)."""
    good = 0
    rows = list(range(0, q.shape[0], max(1, q.shape[0] // samples)))[:samples]
    xd = x.double()
    for r in rows:
        qd = q[r].double()
        if metric == "l2":
            key = ((xd - qd) ** 2).sum(1)
        elif metric == "cosine":
            key = -(xd @ qd) / (xd.norm(dim=1) * qd.norm()).clamp(min=1e-300)
        elif metric == "l1":
            key = (xd - qd).abs().sum(1)
        elif metric == "linf":
            key = (xd - qd).abs().amax(1)
        else:
            key = -(xd @ qd)
        want = torch.sort(key, stable=True).indices[:k]
        good += int(bool((idx[r].to(want.device) == want).all()))
    return good / len(rows)


def idx_images(path):
    """A decompressed IDX image file as a float32 (rows, pixels) tensor."""
    with open(path, "rb") as f:
        data = f.read()
    rows = int.from_bytes(data[4:8], "big")
    dim = int.from_bytes(data[8:12], "big") * int.from_bytes(data[12:16], "big")
    return torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).reshape(rows, dim).float()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json")
    p.add_argument("--points", help="lines of 'n dim queries k metric' (bench/sweep_points.py)")
    p.add_argument("--fmnist", help="directory with the decompressed Fashion-MNIST IDX files")
    p.add_argument("--modes", default="fp32,tf32,bf16")
    p.add_argument("--bytes", choices=["uint8", "int8"],
                   help="uniform byte values (as vecaccel bench --type), held as float32")
    a = p.parse_args()
    modes = a.modes.split(",")
    configs = ([(20000, 128, 1, 10, "l2"), (20000, 128, 256, 10, "l2"), (20000, 128, 64, 100, "ip")]
               if a.quick else
               [(1000000, 128, 1, 10, "l2"), (1000000, 128, 1024, 10, "l2"),
                (1000000, 128, 10000, 10, "l2"), (1000000, 768, 1024, 100, "l2")])
    if a.points:
        with open(a.points) as f:
            configs = [(int(n), int(d), int(q), int(k), m) for n, d, q, k, m in
                       (line.split() for line in f if line.strip())]
    if a.fmnist:
        configs = [(60000, 784, 10000, 100, "l2")]
    dev = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print(f"{'config':34s} " + " ".join(f"{m + ' ms':>10s}" for m in modes) + f" {'exact(fp32)':>12s}")
    out = []
    gen = torch.Generator(device=dev).manual_seed(0)
    for n, dim, nq, k, metric in configs:
        if a.fmnist:
            x, q = (idx_images(f"{a.fmnist}/{name}-images-idx3-ubyte").to(dev)
                    for name in ("train", "t10k"))
        elif a.bytes:
            low, high = (0, 256) if a.bytes == "uint8" else (-128, 128)
            x = torch.randint(low, high, (n, dim), device=dev, generator=gen).float()
            q = torch.randint(low, high, (nq, dim), device=dev, generator=gen).float()
        else:
            x = torch.rand(n, dim, device=dev, generator=gen) * 2 - 1
            q = torch.rand(nq, dim, device=dev, generator=gen) * 2 - 1
        xn = (x * x).sum(1)
        batch = query_batch(n)
        row = {"n": n, "dim": dim, "queries": nq, "k": k, "metric": metric,
               "query_batch": min(batch, nq)}
        for mode in modes:
            torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
            if mode == "bf16":
                qb, xb, xnb = q.bfloat16(), x.bfloat16(), xn.bfloat16()
                row[mode + "_ms"] = time_ms(lambda: knn(qb, xb, xnb, k, metric, batch), a.repeat)
                del qb, xb, xnb
            else:
                row[mode + "_ms"] = time_ms(lambda: knn(q, x, xn, k, metric, batch), a.repeat)
        torch.backends.cuda.matmul.allow_tf32 = False
        _, idx = knn(q, x, xn, k, metric, batch)
        row["fp32_exact"] = exact_fraction(q, x, idx, k, metric)
        out.append(row)
        name = f"N={n} d={dim} Q={nq} k={k} {metric}"
        print(f"{name:34s} " + " ".join(f"{row[m + '_ms']:10.3f}" for m in modes) +
              f" {row['fp32_exact']:12.2f}", flush=True)
        del x, q, xn
        torch.cuda.empty_cache()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
