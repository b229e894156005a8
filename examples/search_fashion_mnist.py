#!/usr/bin/python3
"""Exact kNN over Fashion-MNIST with vecaccel, checked against a float64 NumPy reference.

The 60,000 training images (784 pixels each) are the base, test images the queries. Reports the
search time, recall@k against float64 brute force (ties counted as hits), and, as a use of the
result, the accuracy of a k-nearest-neighbour vote on the class labels.

    PYTHONPATH=build/python examples/search_fashion_mnist.py [--queries 1000] [-k 10]

Data: Debian's dataset-fashion-mnist (scripts/bootstrap.sh installs it), or --data DIR holding
the four *-idx?-ubyte.gz files.
"""

import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np

import vecaccel

DEBIAN_DATA = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path):
    """An IDX file (the MNIST format): big-endian header, then uint8 values."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = np.frombuffer(data, dtype=">u4", count=dims, offset=4)
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def reference_kth(base, queries, k):
    """Per query, the float64 squared distance of its k-th nearest base image. Pixels are
    integers, so the expanded form is exact in float64."""
    base = base.astype(np.float64)
    base_norms = (base**2).sum(1)
    kth = np.empty(len(queries))
    for start in range(0, len(queries), 250):
        q = queries[start : start + 250].astype(np.float64)
        d = (q**2).sum(1)[:, None] + base_norms[None, :] - 2 * q @ base.T
        kth[start : start + 250] = np.partition(d, k - 1, axis=1)[:, k - 1]
    return kth


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEBIAN_DATA)
    parser.add_argument("--queries", type=int, default=1000, help="test images searched (<= 10000)")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds the search may take (lavapipe is slow; the default is 30)")
    args = parser.parse_args()
    if not (args.data / "train-images-idx3-ubyte.gz").exists():
        sys.exit(f"no Fashion-MNIST in {args.data} (apt-get install dataset-fashion-mnist)")

    base = read_idx(args.data / "train-images-idx3-ubyte.gz").reshape(60000, -1)
    labels = read_idx(args.data / "train-labels-idx1-ubyte.gz")
    queries = read_idx(args.data / "t10k-images-idx3-ubyte.gz").reshape(10000, -1)[: args.queries]
    query_labels = read_idx(args.data / "t10k-labels-idx1-ubyte.gz")[: args.queries]

    index = vecaccel.FlatIndex(base.shape[1], "l2")
    print(f"device: {index.context.device['name']}")
    start = time.perf_counter()
    index.add(base)  # uint8 -> float32, converted once
    print(f"added {index.ntotal} x {index.dim} in {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    D, I = index.search(queries, args.k, timeout=args.timeout)
    took = time.perf_counter() - start
    print(f"searched {len(queries)} queries, k = {args.k}, in {took:.3f} s "
          f"({len(queries) / took:.0f} queries/s)")

    # A returned image is a hit when float64 puts it no farther than the k-th nearest.
    kth = reference_kth(base, queries, args.k)
    returned = ((queries[:, None, :].astype(np.float64) - base[I].astype(np.float64)) ** 2).sum(-1)
    recall = (returned <= kth[:, None]).mean()
    votes = np.array([np.bincount(labels[row], minlength=10).argmax() for row in I])
    print(f"recall@{args.k} against float64: {recall:.4f}")
    print(f"{args.k}-NN vote accuracy on the class labels: {(votes == query_labels).mean():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
