"""vecaccel: exact GPU vector search (Vulkan compute; runs on lavapipe without a GPU).

A FAISS-shaped API over NumPy::

    import numpy as np, vecaccel
    index = vecaccel.FlatIndex(128)            # metric="l2" (squared), "ip" or "cosine"
    index.add(base)                            # (n, 128) array-like; float32 C order: no copy
    D, I = index.search(queries, k=10)         # float32 / int64, shape (nq, 10), -1 padded

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
    knn,
    knn_graph,
    read_ids,
    read_vectors,
    write_ids,
    write_vectors,
)

__all__ = [
    "Context",
    "Error",
    "FlatIndex",
    "__version__",
    "devices",
    "info",
    "knn",
    "knn_graph",
    "read_ids",
    "read_vectors",
    "write_ids",
    "write_vectors",
]
