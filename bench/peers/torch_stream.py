#!/usr/bin/env python3
"""PyTorch peer for a base streamed from host memory (issue 11 item 7, bench/stream.cpp).

What a PyTorch user writes for a base larger than the GPU: the .fbin file mapped with numpy
and cut into chunks; reader threads copy each chunk into one of three pinned buffers while the
GPU searches the one before (upload non_blocking, then torch_knn.py's addmm + topk, queries
batched to the free memory), and the running top k is merged on the GPU. fp32 and tf32: the
|x|^2 - 2 q.x expansion in float32 is not exact, so the result is compared with the exact
ground truth that `vecaccel search` wrote (--gt): the share of ids equal, position by position.
Prints one JSON line per mode.
"""
import argparse
import json
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from torch_knn import knn, query_batch


def fbin(path):
    rows, dim = np.fromfile(path, dtype=np.int32, count=2)
    return np.memmap(path, dtype=np.float32, mode="r", offset=8, shape=(int(rows), int(dim)))


def reader(base, chunk_rows, free, ready, copiers):
    """Fills free pinned buffers with the base's chunks, in order, on several threads."""
    for start in range(0, base.shape[0], chunk_rows):
        buf, done = free.get()
        done.synchronize()  # the GPU's upload from this buffer has finished
        n = min(chunk_rows, base.shape[0] - start)
        dst = buf.numpy()
        step = -(-n // 8)
        list(copiers.map(lambda s: np.copyto(dst[s:min(s + step, n)],
                                             base[start + s:start + min(s + step, n)]),
                         range(0, n, step)))
        ready.put((buf, start, n))
    ready.put(None)


def search(base, q, k, chunk_rows):
    dev = q.device
    dim = base.shape[1]
    free, ready = queue.Queue(), queue.Queue()
    for _ in range(3):
        ev = torch.cuda.Event()
        ev.record()
        free.put((torch.empty((chunk_rows, dim), dtype=torch.float32, pin_memory=True), ev))
    best_v = torch.full((q.shape[0], k), float("inf"), device=dev)
    best_i = torch.full((q.shape[0], k), -1, dtype=torch.int64, device=dev)
    batch = None
    with ThreadPoolExecutor(8) as copiers:
        thread = threading.Thread(target=reader, args=(base, chunk_rows, free, ready, copiers))
        thread.start()
        while (item := ready.get()) is not None:
            buf, start, n = item
            x = buf[:n].to(dev, non_blocking=True)
            done = torch.cuda.Event()
            done.record()
            free.put((buf, done))
            xn = (x * x).sum(1)
            batch = batch or query_batch(chunk_rows)
            v, i = knn(q, x, xn, min(k, n), "l2", batch)
            v, pos = torch.topk(torch.cat([best_v, v], 1), k, dim=1, largest=False)
            best_i = torch.gather(torch.cat([best_i, i + start], 1), 1, pos)
            best_v = v
            del x, xn
        thread.join()
    torch.cuda.synchronize()
    return best_v, best_i


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--query", required=True)
    p.add_argument("-k", type=int, default=100)
    p.add_argument("--gt", help="exact ids (.ibin from vecaccel search --output)")
    p.add_argument("--modes", default="fp32,tf32")
    p.add_argument("--chunk-rows", type=int, default=1 << 22)
    a = p.parse_args()
    base = fbin(a.base)
    q = torch.from_numpy(np.array(fbin(a.query))).cuda()
    truth = None
    if a.gt:
        n, k = np.fromfile(a.gt, dtype=np.int32, count=2)
        truth = torch.from_numpy(np.fromfile(a.gt, dtype=np.int32, count=n * k, offset=8)
                                 .reshape(n, k).astype(np.int64))
    for mode in a.modes.split(","):
        torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
        start = time.perf_counter()
        _, ids = search(base, q, a.k, a.chunk_rows)
        seconds = time.perf_counter() - start
        row = {"peer": "torch", "mode": mode, "device": torch.cuda.get_device_name(0),
               "torch": torch.__version__, "rows": base.shape[0], "dim": base.shape[1],
               "queries": q.shape[0], "k": a.k, "seconds": round(seconds, 3),
               "s_per_billion_rows": round(seconds * 1e9 / base.shape[0], 1)}
        if truth is not None:
            row["ids_equal_to_exact"] = float((ids.cpu() == truth).double().mean())
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
