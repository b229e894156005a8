#!/usr/bin/env python3
"""Ratios of a bench_knn run against the PyTorch peer's run of the same points.

  bench/compare_sweep.py ours.json peer.json [--markdown]

Prints one line per point (ours ms, each peer mode's ms, peer/ours: above 1 means we are
faster), then the geometric mean per peer mode over all points and over Q >= 1000, the
number of points at least as fast as tf32, and the worst point against tf32.
"""
import argparse
import json
import math


def key(p):
    return (p["n"], p["dim"], p["queries"], p["k"], p["metric"])


def geomean(values):
    values = [v for v in values if v and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("peer")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    ours = {key(p): p for p in json.load(open(args.ours))}
    peer = {key(p): p for p in json.load(open(args.peer))}
    modes = [m for m in ("fp32", "tf32", "bf16") if any(f"{m}_ms" in p for p in peer.values())]
    rows = []
    for k, o in ours.items():
        if k not in peer:
            continue
        ratios = {m: peer[k].get(f"{m}_ms", float("nan")) / o["median_ms"] for m in modes}
        rows.append((k, o, peer[k], ratios))
    sep = " | " if args.markdown else "  "
    header = ["N", "d", "Q", "k", "metric", "ours ms", "2nd"] + [f"{m} ms" for m in modes] + [
        f"{m}/ours" for m in modes]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
    else:
        print(sep.join(header))
    for k, o, p, ratios in rows:
        cells = [str(k[0]), str(k[1]), str(k[2]), str(k[3]), k[4], f"{o['median_ms']:.3f}",
                 str(o.get("second_pass_queries", 0))]
        cells += [f"{p.get(m + '_ms', float('nan')):.3f}" for m in modes]
        cells += [f"{ratios[m]:.2f}" for m in modes]
        print(("| " + " | ".join(cells) + " |") if args.markdown else sep.join(cells))
    print()
    for m in modes:
        allr = [r[m] for _, _, _, r in rows]
        big = [r[m] for k, _, _, r in rows if k[2] >= 1000]
        print(f"{m}: geomean peer/ours {geomean(allr):.2f} over {len(allr)} points, "
              f"{geomean(big):.2f} over {len(big)} points with Q >= 1000")
    if "tf32" in modes:
        ahead = sum(1 for _, _, _, r in rows if r["tf32"] >= 1.0)
        worst = min(rows, key=lambda row: row[3]["tf32"])
        print(f"at least as fast as tf32 at {ahead} of {len(rows)} points; worst: {worst[0]} "
              f"at {worst[3]['tf32']:.2f}x")
    exact = [o.get("sample_exact", 1.0) for _, o, _, _ in rows]
    print(f"ours exact at {sum(1 for e in exact if e == 1.0)} of {len(exact)} points")


if __name__ == "__main__":
    main()
