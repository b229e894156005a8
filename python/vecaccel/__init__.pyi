# Type stubs for the vecaccel package (the extension module vecaccel._vecaccel).
import os
from typing import Any, List, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str

_Path = Union[str, os.PathLike[str]]
_Results = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]
_RangeResults = tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.int64]]

class Error(RuntimeError):
    """A failure reported by the library; str() is '<code>: <message>'."""

    code: Optional[str]
    """The Errc name: 'invalid_argument', 'timeout', 'cancelled', 'io_error', ..."""

def devices() -> list[dict[str, Any]]:
    """Every Vulkan device visible to this process (index, name, type, driver, ...)."""

def info() -> dict[str, Any]:
    """version, devices, validation (layer active), validation_messages (count) and hdf5
    (whether HDF5 files can be read)."""

class Context:
    """A GPU compute context: one device, its queue, buffer pool and residency set."""

    def __init__(self, device: Optional[int] = None, validation: bool = False) -> None:
        """device: index into devices(), None for the best. validation: require the layer."""
    @property
    def device(self) -> dict[str, Any]:
        """The device's description, as in devices()."""
    def stats(self) -> dict[str, Union[int, float]]:
        """operations, completed, timeouts, cancellations, encode_seconds."""

class FlatIndex:
    """Exact kNN over vectors kept on the GPU, like faiss.IndexFlatL2 / IndexFlatIP."""

    def __init__(
        self,
        dim: int,
        metric: str = "l2",
        context: Optional[Context] = None,
        element_type: str = "float32",
    ) -> None:
        """metric: 'l2' (squared Euclidean), 'ip' / 'inner_product', 'cosine', 'l1' (sum of
        |q - x|) or 'linf' (largest |q - x|), in any case.

        dim: a positive integer (TypeError / ValueError naming dim and the value otherwise).
        element_type: 'float32', or 'uint8' / 'int8' to keep one byte per element on the GPU
        (add() then takes integer arrays whose values fit; queries stay float)."""
    def add(self, x: npt.ArrayLike) -> None:
        """Appends the rows of x, shape (n, dim), numbered ntotal, ntotal + 1, ..."""
    def add_with_ids(self, x: npt.ArrayLike, ids: npt.ArrayLike) -> None:
        """Appends the rows of x, shape (n, dim), labelled by integer ids, shape (n,)."""
    def remove_ids(self, ids: npt.ArrayLike) -> int:
        """Removes the rows labelled by ids (1-D integers; absent labels are ignored).

        Returns how many rows went; the others keep their labels, and add() numbers on as if
        nothing had been removed."""
    def reconstruct(self, rows: Union[int, npt.ArrayLike]) -> npt.NDArray[np.float32]:
        """The stored vectors at positions rows (insertion order; removals close up): an int
        gives shape (dim,), 1-D integers (n, dim). uint8/int8 rows come back widened; cosine
        rows scaled by a power of two (no cosine changes)."""
    def stats(self) -> dict[str, int]:
        """Counts over this index's searches (search, range_search and knn(index, ...)):
        searches, queries, second_pass_queries (queries re-screened over more candidates after
        a failed certificate) and direct_pass_queries."""
    @property
    def coalescing_window(self) -> float:
        """Seconds a search of few queries may wait for concurrent searches from other threads
        to share one scan of the base (default 0.0005; 0 turns this off; at most 3600). A search
        alone never waits; each caller gets its own results, timeout and errors."""
    @coalescing_window.setter
    def coalescing_window(self, seconds: float) -> None: ...
    @property
    def device_bytes(self) -> int:
        """Bytes of GPU memory the index's rows take (rows, norms, float16 copy)."""
    @property
    def element_type(self) -> str:
        """'float32', 'uint8' or 'int8'."""
    def search(
        self,
        queries: npt.ArrayLike,
        k: int,
        timeout: Optional[float] = None,
        filter: Optional[npt.ArrayLike] = None,
    ) -> _Results:
        """(D, I) of shape (nq, k), best first, ties by label, padded with label -1.

        timeout: seconds the whole search may take (vecaccel.Error 'timeout' naming the limit);
        None, the default, sets no limit. filter: a 1-D integer array of allowed labels, or a
        1-D bool array indexed by label (True = allowed; labels past its end are not); the
        search is exact over the allowed rows (fewer than k: padded with -1)."""
    def range_search(
        self,
        queries: npt.ArrayLike,
        radius: float,
        max_results: int = 100_000_000,
        timeout: Optional[float] = None,
        filter: Optional[npt.ArrayLike] = None,
    ) -> _RangeResults:
        """Every row within radius of each query: (lims, D, I) as vecaccel.range_search."""
    @property
    def ntotal(self) -> int:
        """Number of vectors in the index."""
    def __len__(self) -> int: ...
    @property
    def dim(self) -> int:
        """Vector dimension."""
    @property
    def d(self) -> int:
        """Vector dimension (FAISS's name)."""
    @property
    def is_trained(self) -> bool:
        """Always True: an exact flat index needs no training (FAISS's flag)."""
    @property
    def metric(self) -> str:
        """'l2', 'inner_product', 'cosine', 'l1' or 'linf'."""
    @property
    def context(self) -> Context:
        """The context the index lives on."""
    def reset(self) -> None:
        """Removes every vector."""
    def save(self, path: _Path) -> None:
        """Writes the index (versioned, checksummed, replaced atomically)."""
    @staticmethod
    def load(path: _Path, context: Optional[Context] = None) -> FlatIndex:
        """Reads an index written by save()."""

def knn(
    base: Union[npt.ArrayLike, FlatIndex, _Path],
    queries: npt.ArrayLike,
    k: int,
    metric: str = "l2",
    context: Optional[Context] = None,
    timeout: Optional[float] = None,
    devices: Optional[Sequence[int]] = None,
    memory_budget: Optional[int] = None,
    filter: Optional[npt.ArrayLike] = None,
) -> _Results:
    """Exact kNN of queries (nq, d) against base; labels are base row numbers.

    base: an array (n, d); a FlatIndex (searched on its own context, with its labels); or the
    path of a vector file, memory-mapped and streamed through the GPU in passes when it exceeds
    the memory budget. devices: indices into devices(), the same one twice allowed: the base is
    split over them and their top k merged exactly (not with context). memory_budget: bytes each
    device may use (None: VECACCEL_MEMORY_BUDGET, else its free memory); a base over it is
    streamed. timeout: seconds, as FlatIndex.search (None: no limit). filter: as
    FlatIndex.search."""

def range_search(
    base: Union[npt.ArrayLike, FlatIndex, _Path],
    queries: npt.ArrayLike,
    radius: float,
    metric: str = "l2",
    context: Optional[Context] = None,
    timeout: Optional[float] = None,
    devices: Optional[Sequence[int]] = None,
    memory_budget: Optional[int] = None,
    filter: Optional[npt.ArrayLike] = None,
    max_results: int = 100_000_000,
) -> _RangeResults:
    """(lims, D, I) as FAISS's range_search: lims int64 (nq + 1,), D float32, I int64; query q's
    results are [lims[q], lims[q+1]), best first, ties by label. l2, l1, linf keep distance <
    radius; ip and cosine similarity > radius, decided on the exact float64 value. More than
    max_results results: vecaccel.Error 'invalid_argument' naming the count."""

def knn_graph(
    x: Union[npt.ArrayLike, _Path],
    k: int,
    metric: str = "l2",
    context: Optional[Context] = None,
    timeout: Optional[float] = None,
    devices: Optional[Sequence[int]] = None,
    memory_budget: Optional[int] = None,
) -> _Results:
    """The exact self-kNN graph: (D, I) of shape (n, k), each row's k nearest *other* rows.

    A row is left out of its own list by position (exact duplicates elsewhere are kept), ties
    by the smaller row, padded with -1 and the worst distance where x has fewer than k other
    rows. x: an array (n, d) or a vector file's path (streamed when over the memory budget).
    devices, context, memory_budget and timeout as knn."""

def read_vectors(
    path: _Path,
) -> Union[npt.NDArray[np.float32], npt.NDArray[np.uint8], npt.NDArray[np.int8]]:
    """(n, d) from any file the CLI reads, C order: float32 from .fvecs, .fbin, .npy ('<f4'),
    .bvecs, .u8bin, .i8bin and .ivecs (converted exactly), or an ann-benchmarks HDF5 dataset:
    'f.hdf5' (its `train`) or 'f.hdf5:name' (where no file of the whole name exists). An .npy
    of uint8 ('|u1') or int8 ('|i1') keeps its dtype, as numpy.load does (read from a pipe:
    float32). .ibin holds ground truth: read_ids."""

def write_vectors(path: _Path, array: npt.ArrayLike) -> None:
    """(n, d) as float32, by the extension: .fvecs, .fbin (int32 n, int32 d, then the rows) or
    .npy ('<f4', shape (n, d)); atomically (the old file stays on any failure)."""

def read_ids(path: _Path) -> npt.NDArray[np.int32]:
    """(n, k) int32 from .ivecs or .npy, or an HDF5 dataset ('f.hdf5': its `neighbors`)."""

def write_ids(path: _Path, array: npt.ArrayLike) -> None:
    """(n, k) as int32 to .ivecs or .npy, atomically; values outside int32 are refused."""
