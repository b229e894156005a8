#!/usr/bin/env python3
"""PyTorch peer for bench_gemm: `a @ b.T` on the GPU, TFLOP/s of 2·M·N·K.

fp16 (fp16 results, cuBLAS's tensor cores) and tf32 (fp32 results). Operands are uniform in [-1, 1) on the
GPU before timing; products whose result would not fit the free memory go in column slices as
bench_gemm's do. Median of --repeat CUDA-event-timed runs after a warm-up.
"""
import argparse
import json

import torch

from torch_knn import time_ms  # the same CUDA-event median as the kNN peer


def product(a, b):
    """a @ b.T in column slices small enough for the free memory; returns a closure."""
    free, _ = torch.cuda.mem_get_info()
    per_column = a.shape[0] * a.element_size()
    slice_columns = max(256, int(free * 0.5) // per_column)
    slices = [b[c:c + slice_columns] for c in range(0, b.shape[0], slice_columns)]
    out = torch.empty((a.shape[0], min(slice_columns, b.shape[0])), dtype=a.dtype, device="cuda")

    def run():
        for s in slices:
            torch.mm(a, s.T, out=out[:, :s.shape[0]])
    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shapes", default="4096,4096,4096;4096,2000000,384;1000,1000000,960;"
                        "4096,1000000,128;10000,60000,784")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = []
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}")
    for item in args.shapes.split(";"):
        m, n, k = (int(v) for v in item.split(","))
        flop = 2.0 * m * n * k
        for name, dtype, tf32 in (("fp16", torch.float16, False), ("tf32", torch.float32, True)):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            a = torch.rand((m, k), device="cuda", dtype=dtype) * 2 - 1
            b = torch.rand((n, k), device="cuda", dtype=dtype) * 2 - 1
            ms = time_ms(product(a, b), args.repeat)
            print(f"{m:6d} x {n:8d} x {k:5d}  torch {name:5s} {ms:9.3f} ms "
                  f"{flop / ms / 1e9:8.1f} TFLOP/s")
            rows.append({"m": m, "n": n, "k": k, "peer": name, "ms": ms,
                         "tflops": flop / ms / 1e9})
            del a, b
            torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
