"""The float64 NumPy brute force every search is checked against."""

import numpy as np


def scores(base, queries, metric):
    """The nq x n matrix of float64 metric values (squared l2, inner product, cosine, l1, linf)."""
    base = np.asarray(base, dtype=np.float64)
    queries = np.asarray(queries, dtype=np.float64)
    if metric == "l2":
        return ((queries[:, None, :] - base[None, :, :]) ** 2).sum(-1)
    if metric in ("l1", "linf"):
        differences = np.abs(queries[:, None, :] - base[None, :, :])
        return differences.sum(-1) if metric == "l1" else differences.max(-1)
    s = queries @ base.T
    if metric == "cosine":
        s /= np.linalg.norm(queries, axis=1)[:, None] * np.linalg.norm(base, axis=1)[None, :]
    return s


def reference_knn(base, queries, k, metric, labels=None):
    """(D, I) best first, ties by label, padded with -1 and the worst value like FAISS."""
    s = scores(base, queries, metric)
    labels = np.arange(len(s[0]) if len(s) else len(base)) if labels is None else np.asarray(labels)
    smaller = metric in ("l2", "l1", "linf")
    key = s if smaller else -s
    D = np.full((len(s), k), np.inf if smaller else -np.inf)
    I = np.full((len(s), k), -1, dtype=np.int64)
    for row in range(len(s)):
        order = np.lexsort((labels, key[row]))[:k]
        D[row, : len(order)] = s[row, order]
        I[row, : len(order)] = labels[order]
    return D, I


def reference_graph(x, k, metric):
    """(D, I) of the self-kNN graph: each row's k best *other* rows (itself left out by position,
    duplicates kept), ties by row, padded with -1 and the worst value."""
    x = np.asarray(x)
    n = len(x)
    smaller = metric in ("l2", "l1", "linf")
    D = np.full((n, k), np.inf if smaller else -np.inf)
    I = np.full((n, k), -1, dtype=np.int64)
    for row in range(n):
        others = np.delete(np.arange(n), row)
        d, i = reference_knn(x[others], x[row : row + 1], k, metric, labels=others)
        D[row], I[row] = d[0], i[0]
    return D, I
