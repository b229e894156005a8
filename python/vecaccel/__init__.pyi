# Type stubs for the vecaccel package (the extension module vecaccel._vecaccel).
import os
from typing import Any, List, Optional, Union

import numpy as np
import numpy.typing as npt

__version__: str

_Path = Union[str, os.PathLike[str]]
_Results = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]

class Error(RuntimeError):
    """A failure reported by the library; str() is '<code>: <message>'."""

    code: Optional[str]
    """The Errc name: 'invalid_argument', 'timeout', 'cancelled', 'io_error', ..."""

def devices() -> list[dict[str, Any]]:
    """Every Vulkan device visible to this process (index, name, type, driver, ...)."""

def info() -> dict[str, Any]:
    """version, devices, validation (layer active) and validation_messages (count)."""

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

    def __init__(self, dim: int, metric: str = "l2", context: Optional[Context] = None) -> None:
        """metric: 'l2' (squared Euclidean), 'ip' / 'inner_product', 'cosine', 'l1' (sum of
        |q - x|) or 'linf' (largest |q - x|), in any case.

        dim: a positive integer (TypeError / ValueError naming dim and the value otherwise)."""
    def add(self, x: npt.ArrayLike) -> None:
        """Appends the rows of x, shape (n, dim), numbered ntotal, ntotal + 1, ..."""
    def add_with_ids(self, x: npt.ArrayLike, ids: npt.ArrayLike) -> None:
        """Appends the rows of x, shape (n, dim), labelled by integer ids, shape (n,)."""
    def remove_ids(self, ids: npt.ArrayLike) -> int:
        """Removes the rows labelled by ids (1-D integers; absent labels are ignored).

        Returns how many rows went; the others keep their labels, and add() numbers on as if
        nothing had been removed."""
    def search(self, queries: npt.ArrayLike, k: int, timeout: Optional[float] = None) -> _Results:
        """(D, I) of shape (nq, k), best first, ties by label, padded with label -1.

        timeout: seconds the whole search may take (vecaccel.Error 'timeout' naming the limit);
        None, the default, sets no limit."""
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
    devices: Optional[List[int]] = None,
    memory_budget: Optional[int] = None,
) -> _Results:
    """Exact kNN of queries (nq, d) against base; labels are base row numbers.

    base: an array (n, d); a FlatIndex (searched on its own context, with its labels); or the
    path of a vector file, memory-mapped and streamed through the GPU in passes when it exceeds
    the memory budget. devices: indices into devices(), the same one twice allowed: the base is
    split over them and their top k merged exactly (not with context). memory_budget: bytes each
    device may use (None: VECACCEL_MEMORY_BUDGET, else its free memory); a base over it is
    streamed. timeout: seconds, as FlatIndex.search (None: no limit)."""

def read_vectors(path: _Path) -> npt.NDArray[np.float32]:
    """(n, d) float32 from .fvecs, .bvecs, .ivecs or .npy."""

def write_vectors(path: _Path, array: npt.ArrayLike) -> None:
    """(n, d) as float32 to .fvecs, .fbin or .npy (by the extension), atomically."""

def read_ids(path: _Path) -> npt.NDArray[np.int32]:
    """(n, k) int32 from .ivecs or .npy."""

def write_ids(path: _Path, array: npt.ArrayLike) -> None:
    """(n, k) as int32 to .ivecs or .npy, atomically; values outside int32 are refused."""
