"""vecaccel: exact GPU vector search (Vulkan compute; runs on lavapipe without a GPU).

A FAISS-shaped API over NumPy::

    import numpy as np, vecaccel
    index = vecaccel.FlatIndex(128)            # metric="l2" (squared), "ip" or "cosine"
    index.add(base)                            # (n, 128) array-like; float32 C order: no copy
    D, I = index.search(queries, k=10)         # float32 / int64, shape (nq, 10), -1 padded
    D, I = index.search(queries, 10, filter=allowed_ids)   # or a bool array indexed by id
    lims, D, I = index.range_search(queries, radius=4.0)    # FAISS-shaped range search

Library failures raise vecaccel.Error (``.code`` is the error name); wrong shapes and dtypes
raise ValueError naming the expected shape. The GIL is released while the GPU works, and
Ctrl-C stops a running search.
"""

from ._vecaccel import (
    Context,
    Error,
    FlatIndex,
    __version__,
    devices,
    info,
    knn_graph,
    read_ids,
    read_vectors,
    write_ids,
    write_vectors,
)

from ._vecaccel import _search

_MAX_RANGE_RESULTS = 100_000_000


def knn(base, queries, k, metric="l2", context=None, timeout=None, devices=None,
        memory_budget=None, filter=None):
    return _search(base, queries, k, metric, context, timeout, devices, memory_budget, filter,
                   None, 0)


knn.__doc__ = _search.__doc__.split("\n", 1)[-1].strip() + (
    "\n\nfilter: a 1-D integer array of allowed labels, or a 1-D bool array indexed by label "
    "(True = allowed); the search is exact over the allowed rows.")


def range_search(base, queries, radius, metric="l2", context=None, timeout=None, devices=None,
                 memory_budget=None, filter=None, max_results=_MAX_RANGE_RESULTS):
    """Every row of base within radius of each query: (lims, D, I) as FAISS's range_search.

    lims: int64 (nq + 1,); query q's results are D[lims[q]:lims[q+1]] (float32) and
    I[lims[q]:lims[q+1]] (int64), best first, ties by label. l2, l1 and linf keep distances
    below radius, 'ip' and 'cosine' similarities above it, decided on the exact float64 value
    (a kept D may round to radius itself). base, metric, context, timeout, devices,
    memory_budget and filter as knn(). More than max_results results in all: vecaccel.Error
    'invalid_argument' naming the count, nothing returned."""
    return _search(base, queries, 1, metric, context, timeout, devices, memory_budget, filter,
                   float(radius), max_results)


def _index_range_search(self, queries, radius, max_results=_MAX_RANGE_RESULTS, timeout=None,
                        filter=None):
    """Every indexed row within radius of each query: (lims, D, I) as vecaccel.range_search."""
    return range_search(self, queries, radius, self.metric, timeout=timeout, filter=filter,
                        max_results=max_results)


FlatIndex.range_search = _index_range_search

__all__ = [
    "Context",
    "Error",
    "FlatIndex",
    "__version__",
    "devices",
    "info",
    "knn",
    "knn_graph",
    "range_search",
    "read_ids",
    "read_vectors",
    "write_ids",
    "write_vectors",
]
